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

__all__ = ["DeviceChosen", "RunController", "RunProgress", "RunningTrial"]


@dataclass(frozen=True)
class DeviceChosen:
    """The first report of a run from the app: the device the trials will train on."""

    name: str


@dataclass
class RunningTrial:
    """A trial in flight, as its reports tell it."""

    number: int
    step: int = 0
    total_steps: int = 0
    training_s: float = 0.0  # the trial's own training time at ``step``
    tasks_per_s: float = 0.0
    host: str = ""
    device: str = ""
    retry_of: int | None = None

    def fraction(self) -> float:
        """How much of its training is done (0 before its first step)."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def left_s(self) -> float | None:
        """Its training time still to come, from its own pace (None before a step)."""
        if self.step <= 0 or not self.total_steps or self.training_s <= 0:
            return None
        return max(0.0, self.training_s * (self.total_steps - self.step) / self.step)


@dataclass
class RunProgress:
    """What the status bar shows about the run (plain numbers, updated from reports).

    Several trials may be in flight at once (``running``, by trial number): their reports
    interleave. Progress and the ETA count finished trials plus the finished fraction of each
    running one, over the run's wall-clock time: that is the study's throughput whether its
    trials run one at a time or in parallel."""

    study: str = ""
    study_id: int | None = None
    db_path: str = ""
    device: str = ""
    where: str = ""  # where the trials run, from StudyStarted ("in process", "Ray, 1 node, ...")
    parallel: int = 1
    planned_trials: int | None = None
    timeout_s: float | None = None
    finished_before: int = 0  # trials the study had when this run began (resume)
    finished: int = 0  # trials finished in this run
    retried: int = 0  # of those, lost trials run again (they do not use up the budget)
    running: dict[int, RunningTrial] = field(default_factory=dict)
    last_tasks_per_s: float = 0.0
    launching_paused: bool = False  # a parallel run starts no new trial; those running go on
    best_value: float | None = None
    best_number: int | None = None
    started_at: float | None = None  # time.monotonic()
    ended_at: float | None = None
    paused_at: float | None = None
    paused_s: float = 0.0
    end_reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    # -- the running trials ------------------------------------------------------------------
    def newest(self) -> RunningTrial | None:
        """The running trial that started last."""
        return self.running[max(self.running)] if self.running else None

    @property
    def step(self) -> int:
        """The step of the newest running trial (0 when none runs): in a serial run, the
        running trial's."""
        newest = self.newest()
        return newest.step if newest is not None else 0

    @property
    def total_steps(self) -> int:
        newest = self.newest()
        return newest.total_steps if newest is not None else 0

    @property
    def tasks_per_s(self) -> float:
        """Meta-training throughput of every running trial together (the last known figure
        while a new trial has not reported yet)."""
        now = sum(t.tasks_per_s for t in self.running.values())
        return now if now > 0 else self.last_tasks_per_s

    def devices(self) -> list[str]:
        """The devices the running trials train on, each once."""
        return list(dict.fromkeys(t.device for t in self.running.values() if t.device))

    def hosts(self) -> list[str]:
        return list(dict.fromkeys(t.host for t in self.running.values() if t.host))

    # -- time --------------------------------------------------------------------------------
    def elapsed_s(self, now: float | None = None) -> float:
        """Training time of this run so far (time spent paused does not count)."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at or self.paused_at or (now if now is not None else time.monotonic())
        return max(0.0, end - self.started_at - self.paused_s)

    def counted(self) -> int:
        """Trials of this run that used up the budget."""
        return self.finished - self.retried

    def trials_done(self) -> float:
        """Trials finished in this run, plus the finished fraction of each running one."""
        return self.counted() + sum(t.fraction() for t in self.running.values())

    def trials_per_hour(self, now: float | None = None) -> float | None:
        """The run's throughput so far (None until it has done a little)."""
        elapsed = self.elapsed_s(now)
        done = self.trials_done()
        if elapsed <= 0 or done <= 0.05:
            return None
        return 3600.0 * done / elapsed

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, from the throughput so far and the budget (None: unknown). The last
        trials cannot end before the slowest running one does, however many run at once."""
        estimates: list[float] = []
        if self.timeout_s is not None:
            estimates.append(max(0.0, self.timeout_s - self.elapsed_s(now)))
        rate = self.trials_per_hour(now)
        if self.planned_trials is not None and rate:
            remaining = max(0.0, self.planned_trials - self.finished_before - self.trials_done())
            eta = 3600.0 * remaining / rate
            slowest = [s for s in (t.left_s() for t in self.running.values()) if s is not None]
            estimates.append(max([eta, *slowest]))
        return min(estimates) if estimates else None


class RunController(QObject):
    """One study run at a time. Signals: ``running_changed(bool)``, ``paused_changed(bool)``,
    ``study_started(object)`` (the ``StudyStarted`` report), ``trial_ended(object)``,
    ``failed(str, str)`` (message, traceback of an unexpected error), ``finished()``.

    Pausing a run whose trials train in this process suspends the worker thread's generator:
    the training stops at its next report. A run on Ray is paused differently: its driver
    (the generator) must go on taking the reports of the trials in flight, or every worker
    would stall behind it, so it only stops launching new trials
    (``StudyRunner.pause_launching``) and the running ones finish."""

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
        self._suspended = False  # the worker's generator is held (a run in process)
        self._next: StudyRunner | None = None  # runs once the current run has stopped

    # -- state ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """True from :meth:`start` until the worker thread has ended and been cleaned up."""
        return self._worker is not None

    @property
    def paused(self) -> bool:
        """Paused: the training held (in process), or no new trial launched (on Ray)."""
        if self._worker is None:
            return False
        return self.progress.launching_paused if self.on_ray else self._worker.paused

    @property
    def on_ray(self) -> bool:
        """Whether the run's trials train on Ray workers (several at once, or on a cluster)."""
        runner = self._runner
        return runner is not None and runner.execution is not None and runner.execution.distributed

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def db_path(self) -> Path | None:
        return None if self._runner is None else self._runner.db_path

    def can_prune(self) -> bool:
        """Whether Prune can act now: a held in-process run prunes nothing until it resumes;
        a run on Ray whose launching is paused prunes while trials still run."""
        if self._worker is None or self._stopping:
            return False
        if self.on_ray:
            return not self.progress.launching_paused or bool(self.progress.running)
        return not self._worker.paused

    # -- control -------------------------------------------------------------------------------
    def start(
        self, spec: ExperimentSpec, db_path: str | Path, experiment_path: Path | None = None
    ) -> None:
        """Run the study of ``spec`` in a new worker thread, recording it in ``db_path``;
        ``experiment_path``: the file ``spec`` is (recorded in the study's provenance)."""
        if self._worker is not None:
            raise RuntimeError("a study is already running")
        from metagui.core.runner import StudyRunner

        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        runner = StudyRunner(spec, db_path, collect_garbage=False, experiment_path=experiment_path)
        self.start_runner(runner)

    def start_runner(self, runner: StudyRunner) -> None:
        """Run ``runner``'s study in a new worker thread (:meth:`start` builds the runner)."""
        if self._worker is not None:
            raise RuntimeError("a study is already running")
        self._runner = runner
        self._stopping = False
        self._suspended = False
        self.progress = RunProgress(
            study=runner.study_name,
            db_path=str(runner.db_path),
            parallel=runner.parallel,
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

    def continue_with(self, runner: StudyRunner) -> None:
        """Run ``runner`` (a study resumed with an edited search space) now, or, while a
        (paused) run goes on, as soon as that run has stopped: it is stopped here, its
        running trials recorded as interrupted, as Stop does."""
        if self._worker is None:
            self.start_runner(runner)
            return
        self._next = runner
        self._stopping = True
        self._worker.stop()

    @property
    def continuing(self) -> bool:
        """Whether a run waits for the current one to stop (:meth:`continue_with`)."""
        return self._next is not None

    def pause(self) -> None:
        if self._worker is None or self._stopping or self.paused:
            return
        if self.on_ray and self._runner is not None:
            self._runner.pause_launching(True)
            self.progress.launching_paused = True
            self._sync_clock()
            self.paused_changed.emit(True)
        else:
            self._worker.pause()

    def resume(self) -> None:
        if self._worker is None or not self.paused:
            return
        if self.on_ray and self._runner is not None:
            self._runner.pause_launching(False)
            self.progress.launching_paused = False
            self._sync_clock()
            self.paused_changed.emit(False)
        else:
            self._worker.resume()

    def stop(self) -> None:
        """Ask the run to stop at the next yield; the running trials are recorded as
        interrupted (FAILED) and the study as stopped. :attr:`finished` follows. A run
        waiting to continue the study (:meth:`continue_with`) does not start."""
        self._next = None
        if self._worker is not None:
            self._stopping = True
            self._worker.stop()

    def prune(self, number: int | None = None) -> None:
        """End running trial ``number`` now as PRUNED (by hand); None: every running trial
        (in a serial run, the running one). The study goes on."""
        if self._runner is not None and self._worker is not None:
            self._runner.request_prune(number)

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
            TrialPlaced,
            TrialStarted,
            TrialStep,
        )

        p = self.progress
        if isinstance(report, TrialStep):
            trial = p.running.get(report.number)
            if trial is None:  # a step of a trial that already ended here: nothing to show
                return
            r = report.report
            trial.step, trial.total_steps, trial.training_s = r.step, r.total_steps, r.elapsed_s
            if r.tasks_per_s > 0:
                trial.tasks_per_s = r.tasks_per_s
                p.last_tasks_per_s = p.tasks_per_s
        elif isinstance(report, TrialPlaced):
            trial = p.running.get(report.number)
            if trial is not None:
                trial.host, trial.device = report.host, report.device
        elif isinstance(report, TrialStarted):
            p.running[report.number] = RunningTrial(report.number, retry_of=report.retry_of)
            if report.retry_of is not None:
                p.retried += 1  # the lost trial's end did not use up the budget
            self._sync_clock()
        elif isinstance(report, TrialEnded):
            p.finished += 1
            p.running.pop(report.number, None)
            p.best_value, p.best_number = report.best_value, report.best_number
            self._sync_clock()
            self.trial_ended.emit(report)
        elif isinstance(report, DeviceChosen):
            p.device = report.name
        elif isinstance(report, StudyStarted):
            p.study, p.study_id, p.db_path = report.study, report.study_id, report.db_path
            p.planned_trials, p.timeout_s = report.planned_trials, report.timeout_s
            p.finished_before = report.finished_trials
            p.parallel, p.where = report.parallel, report.where
            self.study_started.emit(report)
        elif isinstance(report, StudyEnded):
            p.end_reason, p.counts = report.reason, dict(report.counts)
            p.best_value, p.best_number = report.best_value, report.best_number
            p.running.clear()

    def _sync_clock(self) -> None:
        """Stop the run's clock while nothing trains: the generator is held, or launching is
        paused and the last running trial has ended; start it again when training goes on."""
        p = self.progress
        idle = self._suspended or (p.launching_paused and not p.running)
        if idle and p.paused_at is None and p.ended_at is None:
            p.paused_at = time.monotonic()
        elif not idle and p.paused_at is not None:
            p.paused_s += time.monotonic() - p.paused_at
            p.paused_at = None

    @Slot(bool)
    def _on_paused(self, paused: bool) -> None:
        self._suspended = paused
        self._sync_clock()
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
        was_paused = self._suspended or p.launching_paused
        self._suspended = False
        p.launching_paused = False
        self._sync_clock()
        if was_paused:
            self.paused_changed.emit(False)
        p.ended_at = time.monotonic()
        p.running.clear()
        if not p.end_reason:
            p.end_reason = "stopped"
        self._stopping = False
        self.running_changed.emit(False)
        self.finished.emit()
        runner, self._next = self._next, None
        if runner is not None:
            self.start_runner(runner)


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
