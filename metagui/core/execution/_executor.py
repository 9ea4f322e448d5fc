"""The executor interface between the study driver and the workers, and its serial,
in-process implementation (one trial at a time, in the driver's own thread: what a study
without an ``execution`` section runs, exactly as before there were executors)."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from metagui.core.errors import MetaguiError
from metagui.core.execution._events import Failed, Finished, TrialEvent, TrialJob
from metagui.core.execution._trial import train_trial

if TYPE_CHECKING:
    from metagui.core.experiment import ExecutionSpec

__all__ = ["Executor", "SerialExecutor", "make_executor"]


class Executor(Protocol):
    """Runs the trials the driver submits and hands back their events.

    The driver submits at most :attr:`capacity` trials at once, takes their events with
    :meth:`events` (each trial's in order; :class:`~metagui.core.execution.Placed` first,
    :class:`~metagui.core.execution.Finished` or :class:`~metagui.core.execution.Failed`
    last), and may :meth:`cancel` a trial, after which none of its events arrive."""

    capacity: int
    where: str
    """Where the trials run, in words (``in process``; ``Ray, 2 nodes, 16 CPUs``)."""

    def submit(self, job: TrialJob) -> None: ...

    def events(self, timeout_s: float) -> list[TrialEvent]:
        """The events that arrived, waiting up to ``timeout_s`` for the first; a
        :class:`Reported` ``Tick`` at least that often while trials run in process."""
        ...

    def cancel(self, number: int) -> None: ...

    def close(self) -> None:
        """Stop every trial and let go of the workers."""
        ...


class SerialExecutor:
    """One trial at a time, trained in the calling thread: :meth:`events` advances it by one
    report (the engine yields at least every ~100 ms), so the driver stays responsive."""

    capacity = 1
    where = "in process"

    def __init__(self, *, collect_garbage: bool = True) -> None:
        self._collect_garbage = collect_garbage
        self._number: int | None = None
        self._trial: Generator[TrialEvent, None, None] | None = None

    def submit(self, job: TrialJob) -> None:
        if self._trial is not None:
            raise RuntimeError("the serial executor runs one trial at a time")
        self._number = job.number
        self._trial = train_trial(job, collect_garbage=self._collect_garbage)

    def events(self, timeout_s: float) -> list[TrialEvent]:
        if self._trial is None:
            return []
        event = next(self._trial)
        if isinstance(event, Finished | Failed):
            # The trial's last event: closing it releases its memory now, before it is recorded.
            self._trial.close()
            self._trial = None
        return [event]

    def cancel(self, number: int) -> None:
        if self._trial is not None and number == self._number:
            self._trial.close()
            self._trial = None

    def close(self) -> None:
        if self._trial is not None:
            self._trial.close()
            self._trial = None


def make_executor(execution: ExecutionSpec | None, *, collect_garbage: bool = True) -> Executor:
    """The executor for a study's ``execution`` section: serial without one (or with one
    trial at a time on this machine), Ray otherwise. Ray is imported only then; a cluster that
    cannot run the study raises :class:`~metagui.core.errors.MetaguiError` here, before any
    trial is recorded."""
    if execution is None or not execution.distributed:
        return SerialExecutor(collect_garbage=collect_garbage)
    if execution.address not in ("local", "auto"):
        _token_mode()  # read by Ray when it is imported: before that
    try:
        from metagui.core.execution._ray import RayExecutor
    except ImportError as exc:
        raise MetaguiError(
            f"execution: parallel trials run on Ray, which cannot be imported here ({exc}); "
            "install it with: pip install 'ray>=2.40'"
        ) from exc
    return RayExecutor(execution)


def _token_mode() -> None:
    """Ask Ray for token authentication when a token is at hand and the user did not say
    otherwise: a cluster started with ``ray start --head`` (Ray 2.5x and later) refuses
    drivers without it, after 20 s of retries."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_TOKEN" in os.environ or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
