"""Starting, pausing, stopping and following one study run from the window.

A :class:`RunController` owns the :class:`~metagui.qt._worker.StudyWorker` of the run and keeps
a :class:`RunProgress` that the status bar reads on its own timer: reports (many per second)
only update plain numbers here, they never touch a widget.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from metagui.qt._worker import StudyWorker

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.runner import StudyRunner

__all__ = ["DeviceChosen", "RunController", "RunProgress"]


@dataclass(frozen=True)
class DeviceChosen:
    """The first report of a run from the app: the device the trials will train on."""

    name: str


@dataclass
class RunProgress:
    """What the status bar shows about the run (plain numbers, updated from reports)."""

    study: str = ""
    study_id: int | None = None
    db_path: str = ""
    device: str = ""
    planned_trials: int | None = None
    timeout_s: float | None = None
    finished_before: int = 0  # trials the study had when this run began (resume)
    finished: int = 0  # trials finished in this run
    trial_number: int | None = None
    step: int = 0
    total_steps: int = 0
    tasks_per_s: float = 0.0
    best_value: float | None = None
    best_number: int | None = None
    started_at: float | None = None  # time.monotonic()
    ended_at: float | None = None
    paused_at: float | None = None
    paused_s: float = 0.0
    end_reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def elapsed_s(self, now: float | None = None) -> float:
        """Training time of this run so far (time spent paused does not count)."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at or self.paused_at or (now if now is not None else time.monotonic())
        return max(0.0, end - self.started_at - self.paused_s)

    def trials_done(self) -> float:
        """Trials finished in this run, plus the finished fraction of the running one."""
        fraction = self.step / self.total_steps if self.total_steps else 0.0
        return self.finished + (fraction if self.trial_number is not None else 0.0)

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, from the time per trial so far and the budget (None: unknown)."""
        elapsed = self.elapsed_s(now)
        estimates: list[float] = []
        if self.timeout_s is not None:
            estimates.append(max(0.0, self.timeout_s - elapsed))
        done = self.trials_done()
        if self.planned_trials is not None and done > 0.05:
            remaining = self.planned_trials - self.finished_before - done
            estimates.append(max(0.0, remaining * elapsed / done))
        return min(estimates) if estimates else None


class RunController(QObject):
    """One study run at a time. Signals: ``running_changed(bool)``, ``paused_changed(bool)``,
    ``study_started(object)`` (the ``StudyStarted`` report), ``trial_ended(object)``,
    ``failed(str, str)`` (message, traceback of an unexpected error), ``finished()``."""

    running_changed = Signal(bool)
    paused_changed = Signal(bool)
    study_started = Signal(object)
    trial_ended = Signal(object)
    failed = Signal(str, str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.progress = RunProgress()
        self._worker: StudyWorker | None = None
        self._runner: StudyRunner | None = None
        self._stopping = False

    # -- state ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """True from :meth:`start` until the worker thread has ended and been cleaned up."""
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self._worker is not None and self._worker.paused

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def db_path(self) -> Path | None:
        return None if self._runner is None else self._runner.db_path

    # -- control -------------------------------------------------------------------------------
    def start(self, spec: ExperimentSpec, db_path: str | Path) -> None:
        """Run the study of ``spec`` in a new worker thread, recording it in ``db_path``."""
        if self._worker is not None:
            raise RuntimeError("a study is already running")
        from metagui.core.runner import StudyRunner

        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        runner = StudyRunner(spec, db_path, collect_garbage=False)
        self._runner = runner
        self._stopping = False
        self.progress = RunProgress(
            study=runner.study_name,
            db_path=str(db_path),
            planned_trials=runner.trials_budget,
            timeout_s=runner.timeout_s,
            started_at=time.monotonic(),
        )
        worker = StudyWorker(lambda: _with_device(runner), self)
        worker.report.connect(self._on_report)
        worker.failed.connect(self._on_failed)
        worker.paused_changed.connect(self._on_paused)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()
        self.running_changed.emit(True)

    def pause(self) -> None:
        if self._worker is not None and not self._worker.paused and not self._stopping:
            self._worker.pause()

    def resume(self) -> None:
        if self._worker is not None and self._worker.paused:
            self._worker.resume()

    def stop(self) -> None:
        """Ask the run to stop at the next yield; the running trial is recorded as
        interrupted (FAILED) and the study as stopped. :attr:`finished` follows."""
        if self._worker is not None:
            self._stopping = True
            self._worker.stop()

    def prune(self) -> None:
        """End the running trial now as PRUNED (by hand); the study goes on."""
        if self._runner is not None and self._worker is not None:
            self._runner.request_prune()

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Stop and block until the worker thread has ended (closing the app); the database
        is closed cleanly by then. Returns False if the thread did not end in time."""
        worker = self._worker
        if worker is None:
            return True
        self.stop()
        ended = worker.wait(timeout_ms)
        if ended:
            self._on_finished()
        return ended

    # -- reports (GUI thread) ------------------------------------------------------------------
    @Slot(object)
    def _on_report(self, report: Any) -> None:
        from metagui.core.runner import (
            StudyEnded,
            StudyStarted,
            TrialEnded,
            TrialStarted,
            TrialStep,
        )

        p = self.progress
        if isinstance(report, TrialStep):
            r = report.report
            p.trial_number, p.step, p.total_steps = report.number, r.step, r.total_steps
            if r.tasks_per_s > 0:
                p.tasks_per_s = r.tasks_per_s
        elif isinstance(report, TrialStarted):
            p.trial_number, p.step, p.total_steps = report.number, 0, 0
        elif isinstance(report, TrialEnded):
            p.finished += 1
            p.trial_number, p.step, p.total_steps = None, 0, 0
            p.best_value, p.best_number = report.best_value, report.best_number
            self.trial_ended.emit(report)
        elif isinstance(report, DeviceChosen):
            p.device = report.name
        elif isinstance(report, StudyStarted):
            p.study, p.study_id, p.db_path = report.study, report.study_id, report.db_path
            p.planned_trials, p.timeout_s = report.planned_trials, report.timeout_s
            p.finished_before = report.finished_trials
            self.study_started.emit(report)
        elif isinstance(report, StudyEnded):
            p.end_reason, p.counts = report.reason, dict(report.counts)
            p.best_value, p.best_number = report.best_value, report.best_number

    @Slot(bool)
    def _on_paused(self, paused: bool) -> None:
        p = self.progress
        if paused and p.paused_at is None:
            p.paused_at = time.monotonic()
        elif not paused and p.paused_at is not None:
            p.paused_s += time.monotonic() - p.paused_at
            p.paused_at = None
        self.paused_changed.emit(paused)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self.failed.emit(message, details)

    @Slot()
    def _on_finished(self) -> None:
        worker = self._worker
        if worker is None:  # already cleaned up (stop_and_wait, then the queued signal)
            return
        worker.wait()
        self._worker = None
        worker.deleteLater()
        p = self.progress
        if p.paused_at is not None:
            self._on_paused(False)
        p.ended_at = time.monotonic()
        if not p.end_reason:
            p.end_reason = "stopped"
        self._stopping = False
        self.running_changed.emit(False)
        self.finished.emit()


def _with_device(runner: StudyRunner) -> Generator[Any, None, None]:
    """The runner's reports, after a :class:`DeviceChosen` (found here, in the worker thread,
    because it imports torch: the window never waits for that)."""
    yield DeviceChosen(_device_name(runner.device or runner.spec.device))
    yield from runner.run()


def _device_name(name: str) -> str:
    from metagui.core.device import describe_device, resolve_device
    from metagui.core.errors import MetaguiError

    try:
        return describe_device(resolve_device(name))
    except MetaguiError:
        return name
