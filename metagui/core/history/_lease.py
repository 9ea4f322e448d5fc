"""A study's lease: which process runs it. ``metagui run``, ``--resume``, the app and the Ray
driver all take it before they touch a study's trials, so that two runners never run (or
mark as crashed the trials of) the same study. A lease is stale when its process is gone
(checked by pid on the same host) or, for a process on another host, when it has not
renewed it for ``STALE_AFTER_S``; a stale lease is taken over, and the caller says so."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "Holder", "Lease", "pid_alive"]

HEARTBEAT_S = 5.0
"""How often a runner renews its lease."""
STALE_AFTER_S = 120.0
"""A lease of a process on another host not renewed for this long is stale."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as stored."""

    pid: int
    host: str
    since: float
    heartbeat: float

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.since).strftime("%Y-%m-%d %H:%M:%S")
        return f"PID {self.pid} on {self.host} since {started}"

    def stale(self, now: float | None = None) -> str | None:
        """Why this lease is stale (its process is gone), or None while it may be alive."""
        now = time.time() if now is None else now
        if self.host == socket.gethostname() and os.name != "nt":  # on Windows, kill(pid, 0)
            # would end the process: there the heartbeat decides, as for other hosts
            if not pid_alive(self.pid):
                return f"PID {self.pid} on {self.host} is gone"
            return None
        silent = now - self.heartbeat
        if silent > STALE_AFTER_S:
            return f"PID {self.pid} on {self.host} has not been heard of for {silent:.0f} s"
        return None


@dataclass(frozen=True)
class Lease:
    """This process's claim on a study; ``took_over`` says whose stale lease it replaced."""

    study_id: int
    token: str
    took_over: str | None = None

    @staticmethod
    def token_for_this_process() -> str:
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
