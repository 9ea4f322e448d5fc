"""Where a study was made, recorded when it is created: the versions of metagui, Python, torch
and CUDA, the devices, the host, and the experiment file (its path, content hash and, when it
lies in a git repository, the commit and whether the work tree had changes).

Capturing never fails a run: what cannot be found out (no torch, no CUDA, no git, a file that
is not in a repository, a git that hangs) is recorded as None.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import metagui

__all__ = ["GIT_TIMEOUT_S", "capture_provenance", "describe_provenance", "git_state"]

GIT_TIMEOUT_S = 3.0
"""The longest a ``git`` call may take (a network file system, a huge work tree): after
that the commit is recorded as unknown rather than holding up the run."""


def capture_provenance(
    experiment_path: str | os.PathLike[str] | None = None, device: str | None = None
) -> dict[str, Any]:
    """The provenance of a study made now in this process, as a JSON-ready mapping.

    ``experiment_path``: the experiment file the study runs, if it came from one. ``device``:
    the device setting the study trains on here (``auto``, ``cpu``, ``cuda:1``...), described
    by name; None where its trials train elsewhere (on a Ray cluster)."""
    record: dict[str, Any] = {
        "metagui": metagui.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
    record.update(_torch(device))
    record["experiment"] = None if experiment_path is None else _experiment(Path(experiment_path))
    return record


def _torch(device: str | None) -> dict[str, Any]:
    """torch's and CUDA's versions, the device named ``device`` and the visible GPUs."""
    found: dict[str, Any] = {"torch": None, "cuda": None, "device": None, "gpus": []}
    try:
        import torch
    except ImportError:
        return found
    found["torch"] = str(torch.__version__)
    found["cuda"] = getattr(torch.version, "cuda", None)
    # A broken driver makes these raise rather than answer: then they are unknown.
    try:
        if torch.cuda.is_available():
            found["gpus"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
    except Exception:  # any failure of the driver means "unknown"
        found["gpus"] = None
    if device is not None:
        from metagui.core.device import describe_device, resolve_device

        try:
            found["device"] = describe_device(resolve_device(device))
        except Exception:  # a device that cannot be described stays unknown
            found["device"] = None
    return found


def _experiment(path: Path) -> dict[str, Any]:
    """The experiment file's absolute path, its SHA-256 and its repository's state."""
    absolute = path.resolve()
    try:
        digest: str | None = hashlib.sha256(absolute.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"path": str(absolute), "sha256": digest, "git": git_state(absolute.parent)}


def git_state(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The git repository holding ``folder``: its root, the commit checked out and whether
    tracked files have changes (``dirty``; files git does not track, such as a history kept
    in the work tree, do not count); None where there is no git, no repository or no commit,
    or git did not answer within :data:`GIT_TIMEOUT_S`."""
    head = _git(folder, "rev-parse", "--show-toplevel", "HEAD")
    if head is None:
        return None
    lines = head.splitlines()
    if len(lines) != 2:
        return None
    root, commit = lines
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"root": root, "commit": commit, "dirty": None if status is None else bool(status)}


def _git(folder: str | os.PathLike[str], *args: str) -> str | None:
    """The output of ``git -C folder args...``, or None if it failed in any way."""
    # No index lock taken by `status` (another git may be working there), no prompt.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", "-C", os.fspath(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def describe_provenance(record: dict[str, Any]) -> list[str]:
    """A provenance record in words, a line each: versions, where, the experiment file."""
    torch = record.get("torch")
    cuda = record.get("cuda")
    versions = [f"metagui {record.get('metagui')}", f"Python {record.get('python')}"]
    versions.append(f"torch {torch}" + (f" (CUDA {cuda})" if cuda else "") if torch else "no torch")
    lines = [", ".join(versions)]
    where = f"on {record.get('host')}"
    if record.get("device"):
        where += f", device {record['device']}"
    gpus = record.get("gpus")
    if gpus:
        where += f", GPUs: {', '.join(gpus)}"
    lines.append(where)
    experiment = record.get("experiment")
    if isinstance(experiment, dict):
        digest = experiment.get("sha256")
        text = f"experiment {experiment.get('path')}"
        if digest:
            text += f" (sha256 {digest[:12]})"
        git = experiment.get("git")
        if isinstance(git, dict):
            dirty = git.get("dirty")
            state = " with uncommitted changes" if dirty else " (clean)" if dirty is False else ""
            text += f", git {str(git.get('commit'))[:12]}{state}"
        else:
            text += ", not in a git repository"
        lines.append(text)
    else:
        lines.append("no experiment file (set up in the app, or from code)")
    return lines
