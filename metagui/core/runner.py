"""The study driver: a generator over trials that asks the strategy, hands each trial to an
executor (in process, one at a time; or on Ray, several at once), records every report in the
history, asks the pruner, and tells the strategy. It yields the engine's reports (wrapped
with the trial number) and trial-level reports, and can be stopped, paused and resumed
between yields.

The driver is the only writer of the history and the only user of the strategy: workers
only train (``metagui.core.execution``).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from metagui.core.errors import MetaguiError
from metagui.core.reports import StepReport, Tick

if TYPE_CHECKING:
    from collections.abc import Sequence

    from metagui.core.execution import Executor, TrialEvent
    from metagui.core.experience import ExperiencePruner, PoolStudy
    from metagui.core.experiment import ExecutionSpec, ExperimentSpec
    from metagui.core.history import HistoryWriter, Lease, Objective, StudyRow, TrialRow
    from metagui.core.kept_checkpoints import KeptCheckpoints
    from metagui.core.space_edit import SpaceEdit
    from metagui.core.strategies import PastTrial, PriorTrial, Proposal, Strategy

__all__ = [
    "StudyEnded",
    "StudyRunner",
    "StudyStarted",
    "TrialEnded",
    "TrialPlaced",
    "TrialStarted",
    "TrialStep",
    "task_kind",
    "trial_seed",
]

EndState = Literal["COMPLETE", "PRUNED", "FAILED"]
EndReason = Literal["budget", "timeout", "exhausted", "stopped"]


@dataclass(frozen=True)
class StudyStarted:
    study: str
    study_id: int
    db_path: str
    resumed: bool
    direction: str
    planned_trials: int | None
    finished_trials: int
    failed_on_resume: int
    timeout_s: float | None
    parallel: int = 1
    """Trials that run at once."""
    where: str = "in process"
    """Where they run, in words (``in process``; ``Ray, 2 nodes, 16 CPUs``)."""
    notes: tuple[str, ...] = ()
    """What opening the study found and set right, in words (a stale lease taken over,
    interrupted trials to run again, leftovers of an interrupted checkpoint write)."""
    objectives: tuple[Objective, ...] = ()
    """A two-objective study's objectives (``direction`` is the first's); empty for one."""
    front: tuple[int, ...] = ()
    """A two-objective study's Pareto front so far: its trial numbers, ascending."""

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def on_ray(self) -> bool:
        """Whether the trials run on Ray (several at once, or on a cluster)."""
        return self.where != "in process"


@dataclass(frozen=True)
class TrialStarted:
    number: int
    trial_id: int
    params: dict[str, Any]
    seed: int
    retry_of: int | None = None
    """The number of the trial whose lost worker this one runs again."""


@dataclass(frozen=True)
class TrialPlaced:
    """A trial's worker began training it: on ``host`` (process ``pid``), on ``device``."""

    number: int
    trial_id: int
    host: str
    device: str
    pid: int


@dataclass(frozen=True)
class TrialStep:
    """An engine report of a running trial."""

    number: int
    trial_id: int
    report: StepReport


@dataclass(frozen=True)
class TrialEnded:
    number: int
    trial_id: int
    state: EndState
    value: float | None
    test_value: float | None
    error: str | None
    pruned_at_step: int | None
    pruned_reason: str | None
    duration_s: float
    best_number: int | None
    best_value: float | None
    """The best trial so far and its value; None in a two-objective study (see ``front``)."""
    values: tuple[float, ...] | None = None
    """A two-objective study's complete trial: its value per objective (``value`` the first)."""
    front: tuple[int, ...] = ()
    """A two-objective study's Pareto front after this trial: trial numbers, ascending."""


@dataclass(frozen=True)
class StudyEnded:
    study: str
    reason: EndReason
    best_number: int | None
    best_value: float | None
    """None in a two-objective study, whose result is its ``front``."""
    counts: dict[str, int]
    front: tuple[int, ...] = ()
    """A two-objective study's Pareto front: its trial numbers, ascending."""


RunnerReport = (
    StudyStarted | TrialStarted | TrialPlaced | TrialStep | TrialEnded | StudyEnded | Tick
)

_INTERRUPTED = "interrupted: the run stopped while this trial was training"
_CRASHED = "interrupted: the process ended while this trial was running"
_WAIT_S = 0.1  # longest wait for a worker's events: the driver yields at least this often


def task_kind(spec: ExperimentSpec) -> str:
    """``regression`` or ``classification``, from the task-set family."""
    return "regression" if spec.taskset.family == "sinusoid" else "classification"


def trial_seed(study_seed: int, number: int) -> int:
    """Each trial's own training seed, recorded with it so that it can be re-run exactly;
    trial 0 uses the study's seed, so an exported single-trial experiment re-runs itself."""
    return (study_seed + number) % (2**62)


@dataclass
class _Running:
    """The driver's record of a trial in flight."""

    proposal: Proposal
    trial_id: int
    began: float
    last_step: int | None = None
    last_value: float | None = None


@dataclass
class _Study:
    """One run of a study, as the driver keeps it: where it writes, where its trials train,
    what proposes them, the trials in flight and the running totals."""

    writer: HistoryWriter
    executor: Executor
    strategy: Strategy
    study_id: int
    finished: int
    counts: dict[str, int]
    best_number: int | None
    best_value: float | None
    next_number: int
    in_flight: dict[int, _Running] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    points: dict[int, tuple[float, ...]] = field(default_factory=dict)
    """A two-objective study's trials that count (complete, not excluded): their values."""
    front: tuple[int, ...] = ()


def _check_overrides(
    study: str | None, device: str | None, trials: int | None, timeout_s: float | None
) -> None:
    """Refuse, before any study is made, run settings given beside the spec (the command
    line's --study, --device, --trials and --timeout) that could never run."""
    from metagui.core.device import device_name_problem
    from metagui.core.experiment import check_study_name

    if study is not None:
        try:
            check_study_name(study)
        except ValueError as exc:
            raise MetaguiError(f"study: {exc}") from None
    if device is not None and (problem := device_name_problem(device)):
        raise MetaguiError(f"device: {problem}")
    if trials is not None and trials < 1:
        raise MetaguiError(f"trials: {trials} is not a number of trials (1 or more)")
    if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
        raise MetaguiError(f"timeout: {timeout_s} is not a time in seconds (more than 0)")


class StudyRunner:
    """Run (or resume) the study of ``spec`` in the history at ``db_path``.

    ``study`` names the study (default: the experiment's name; a new study whose name is
    taken gets ``-2``, ``-3``... appended). With ``resume``, the named study continues: its
    trials left RUNNING by a crash are marked failed, the strategy is rebuilt from the
    recorded trials, and the run goes on until the (possibly raised) budget is met. ``spec``
    may differ from the study's stored experiment in its search space, strategy, pruner and
    budget (:mod:`metagui.core.space_edit`: trials outside an edited space are marked and no
    longer steer the search); a change of what a trial means is refused before anything is
    written.

    ``parallel`` and ``address`` override the experiment's ``execution`` section: more than
    one trial at once, or a Ray cluster's address, runs the trials on Ray.
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        db_path: str | Path,
        *,
        study: str | None = None,
        resume: bool = False,
        device: str | None = None,
        trials: int | None = None,
        timeout_s: float | None = None,
        parallel: int | None = None,
        address: str | None = None,
        force: bool = False,
        collect_garbage: bool = True,
        experiment_path: str | Path | None = None,
    ) -> None:
        """``collect_garbage=False`` leaves cyclic garbage collection to the caller: a GUI
        must collect in its own thread, because a collection frees toolkit objects left in
        cycles, and freeing them from the study thread can deadlock against the GUI thread.
        ``force`` takes the study's lease even from a process that seems to run it.
        ``experiment_path``: the file ``spec`` was loaded from, if any, recorded (path,
        content hash, git commit) in a new study's provenance."""
        _check_overrides(study, device, trials, timeout_s)
        self.spec = spec
        self.db_path = Path(db_path)
        self.study_name = study or spec.name
        self.resume = resume
        self.device = device
        self.trials_budget = trials if trials is not None else spec.budget.trials
        self.timeout_s = timeout_s if timeout_s is not None else spec.budget.timeout_s
        self.direction = spec.objective.resolved_direction(task_kind(spec))
        self.objectives = spec.objective.objectives(task_kind(spec))
        self.execution = _execution(spec.execution, parallel, address)
        if device not in (None, "auto", "cpu") and (
            self.execution is None or not self.execution.distributed
        ):
            from metagui.core.device import resolve_device

            resolve_device(device)  # the device must be on this machine, before any study
        self.force = force
        self.experiment_path = None if experiment_path is None else Path(experiment_path)
        self._prune_requests: set[int | None] = set()
        self._lock = threading.Lock()
        self._launching_paused = False
        self._collect_garbage = collect_garbage
        self._unsent: list[TrialEvent] = []  # events of trials that never reached a worker
        # Lost trials whose settings are enqueued to run again: (number, params).
        self._retries: list[tuple[int, dict[str, Any]]] = []
        # Enqueued settings that came from earlier studies: (where from, settings).
        self._seeds: list[tuple[str, dict[str, Any]]] = []
        self._edit: SpaceEdit | None = None  # how a resume changes the study's experiment

    @property
    def parallel(self) -> int:
        """How many trials run at once."""
        return 1 if self.execution is None else self.execution.parallel

    def _better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value > than if self.direction == "maximize" else value < than

    @property
    def multi_objective(self) -> bool:
        """Whether the study scores its trials by two objectives (``objective.second``)."""
        return len(self.objectives) > 1

    def _scored(self, outcome: dict[str, Any], measures: dict[str, float]) -> dict[str, Any]:
        """A complete trial's outcome with its values (the metric, then the second
        objective's measure); a measure missing or not a finite number fails the trial, as
        a diverged metric does: it cannot be ranked."""
        from metagui.core.objectives import objective_label

        if outcome["state"] != "COMPLETE":
            return outcome
        second = self.objectives[1].name
        measure = measures.get(second, math.nan)
        if not math.isfinite(measure):
            error = f"NotMeasured: the trial's {objective_label(second)} is {measure}"
            return {"state": "FAILED", "error": error}
        return {**outcome, "values": (outcome["value"], float(measure))}

    def _points(self, past: list[TrialRow]) -> dict[int, tuple[float, ...]]:
        """A two-objective study's trials that count (complete, not excluded, with a value
        per objective) by number; empty for one objective."""
        if not self.multi_objective:
            return {}
        return {
            t.number: t.values
            for t in past
            if t.state == "COMPLETE"
            and not t.excluded
            and t.values is not None
            and len(t.values) == len(self.objectives)
        }

    def _front(self, points: dict[int, tuple[float, ...]]) -> tuple[int, ...]:
        """The numbers of the trials of ``points`` on the Pareto front, ascending."""
        from metagui.core.pareto import pareto_front

        if not points:
            return ()
        numbers = sorted(points)
        directions = [o.direction for o in self.objectives]
        on_front = pareto_front([points[n] for n in numbers], directions)
        return tuple(numbers[i] for i in on_front)

    def request_prune(self, number: int | None = None) -> None:
        """Prune running trial ``number`` (``None``: every running trial) at the next yield:
        a user's decision, recorded as such. Safe to call from another thread."""
        with self._lock:
            self._prune_requests.add(number)

    def pause_launching(self, paused: bool) -> None:
        """Start no new trial while ``paused``; the trials in flight go on. Safe to call
        from another thread. (To pause the training itself, stop iterating the generator.)"""
        self._launching_paused = paused

    @property
    def launching_paused(self) -> bool:
        return self._launching_paused

    # -- the generator -----------------------------------------------------------------------
    def run(self, executor: Executor | None = None) -> Generator[RunnerReport, None, None]:
        """The study, trial by trial. ``executor``: where the trials train (default: the one
        the execution section asks for; the runner closes it at the end either way)."""
        from metagui.core.execution import make_executor
        from metagui.core.history import HistoryWriter

        # Before the history is opened for writing: a refused edit of a resumed study, or a
        # cluster that cannot run the study, changes nothing.
        self._edit = self._check_edit() if self.resume else None
        if executor is None:
            executor = make_executor(self.execution, collect_garbage=self._collect_garbage)
        try:
            writer = HistoryWriter(self.db_path)
            try:
                yield from self._run(writer, executor)
            except BaseException:
                # The error on its way out says what went wrong; a close that fails on the same
                # storage (a full disk) must not replace it.
                with contextlib.suppress(MetaguiError):
                    writer.close()
                raise
            writer.close()
        finally:
            executor.close()

    def _run(
        self, writer: HistoryWriter, executor: Executor
    ) -> Generator[RunnerReport, None, None]:
        study_id, failed_on_resume, lease, notes = self._open_study(writer)
        try:
            yield from self._run_leased(writer, executor, study_id, failed_on_resume, lease, notes)
        finally:
            # A lease the history cannot give back (a full disk) goes stale with this process.
            with contextlib.suppress(MetaguiError):
                writer.release_lease(lease)

    def _run_leased(
        self,
        writer: HistoryWriter,
        executor: Executor,
        study_id: int,
        failed_on_resume: int,
        lease: Lease,
        notes: list[str],
    ) -> Generator[RunnerReport, None, None]:
        started, study = self._start(writer, executor, study_id, failed_on_resume, notes)
        yield started
        reason = yield from self._loop(study, lease)
        yield StudyEnded(
            self.study_name,
            reason,
            study.best_number,
            study.best_value,
            study.counts,
            study.front,
        )

    def _start(
        self,
        writer: HistoryWriter,
        executor: Executor,
        study_id: int,
        failed_on_resume: int,
        notes: list[str],
    ) -> tuple[StudyStarted, _Study]:
        """The study as the history holds it: its strategy rebuilt, interrupted trials queued
        to run again, what it has done so far counted."""
        from metagui.core.history import HistoryReader

        reader = HistoryReader(self.db_path)
        try:
            past = reader.trials(study_id)
            strategy = self._strategy(past, reader, executor.capacity, writer, study_id, notes)
        finally:
            reader.close()
        # Trials that are not results do not use up the budget: a lost trial that ran again,
        # and a trial interrupted by a stop or by the end of its process (its settings run
        # again now, unless that happened already).
        from metagui.core.space_edit import counted_trials, was_interrupted

        retried = {t.retry_of for t in past if t.retry_of is not None}
        interrupted = [t for t in past if was_interrupted(t)]
        for t in interrupted:
            if t.number not in retried and not t.outside_space:
                strategy.retry(t.params)
                self._retries.append((t.number, dict(t.params)))
        if self._retries:
            again = ", ".join(str(n) for n, _ in self._retries)
            notes.append(f"interrupted trial(s) {again} run again")
        finished = counted_trials(past)
        best_number, best_value = self._best(past)
        points = self._points(past)
        front = self._front(points)
        started = StudyStarted(
            self.study_name,
            study_id,
            str(self.db_path),
            self.resume,
            self.direction,
            self.trials_budget,
            finished,
            failed_on_resume,
            self.timeout_s,
            executor.capacity,
            executor.where,
            tuple(notes),
            self.objectives,
            front,
        )
        study = _Study(
            writer,
            executor,
            strategy,
            study_id,
            finished,
            {s: sum(t.state == s for t in past) for s in ("COMPLETE", "PRUNED", "FAILED")},
            best_number,
            best_value,
            max((t.number for t in past), default=-1) + 1,
            points=points,
            front=front,
        )
        return started, study

    def _loop(self, study: _Study, lease: Lease) -> Generator[RunnerReport, None, EndReason]:
        """Launch trials while the budget allows and record what they report, until the
        budget or the time is spent or the run is stopped; why it ended."""
        from metagui.core.history import HEARTBEAT_S

        writer, executor, study_id = study.writer, study.executor, study.study_id
        in_flight = study.in_flight
        self._unsent = []
        reason: EndReason = "budget"
        writer.set_study_status(study_id, "running")
        stopped = True
        renewed = time.monotonic()
        try:
            while True:
                if time.monotonic() - renewed >= HEARTBEAT_S:
                    writer.renew_lease(lease)
                    renewed = time.monotonic()
                why_not = None
                while len(in_flight) < executor.capacity and not self._launching_paused:
                    why_not = self._cannot_launch(study, len(in_flight))
                    if why_not is not None:
                        break
                    yield self._launch(study)
                if not in_flight:
                    if why_not is None:  # paused: is anything left to launch at all?
                        why_not = self._cannot_launch(study, 0)
                    if why_not is not None:
                        reason = why_not
                        break
                    # Paused with nothing running: wait for a resume (or a stop).
                    time.sleep(_WAIT_S)
                    yield Tick(0)
                    continue
                yield from self._handle_prune_requests(study)
                events, self._unsent = self._unsent or executor.events(_WAIT_S), []
                if not events:
                    yield Tick(0)
                for event in events:
                    yield from self._handle(event, study)
            stopped = False
        finally:
            for number in in_flight:
                executor.cancel(number)
            try:
                for running in in_flight.values():
                    writer.finish_trial(running.trial_id, "FAILED", error=_INTERRUPTED)
                writer.set_study_status(study_id, "stopped" if stopped else "finished")
            except MetaguiError:
                # The history cannot take it (a full disk): the error on its way out says so,
                # and the next start, as the lease holder, marks these trials as crashed.
                if not stopped:
                    raise
        return reason

    def _cannot_launch(self, study: _Study, running: int) -> EndReason | None:
        """Why no trial may start now (the budget counts the trials in flight), or None."""
        if self.trials_budget is not None and study.finished + running >= self.trials_budget:
            return "budget"
        if self.timeout_s is not None and time.monotonic() - study.started >= self.timeout_s:
            return "timeout"
        nothing_to_search = all(p.type == "fixed" for p in self.spec.search_space.params)
        if study.strategy.exhausted or (nothing_to_search and study.finished + running > 0):
            # A space with nothing to sample has exactly one configuration.
            return "exhausted"
        return None

    # -- one trial -----------------------------------------------------------------------------
    def _launch(self, study: _Study) -> TrialStarted:
        from metagui.core.execution import TrialJob

        writer, executor, strategy = study.writer, study.executor, study.strategy
        in_flight = study.in_flight

        proposal = strategy.ask()
        # Enqueued warm-start settings may come first: a retry is known by its settings.
        retry_of = next((n for n, p in self._retries if p == proposal.params), None)
        self._retries = [(n, p) for n, p in self._retries if n != retry_of]
        seeded_from = None
        if retry_of is None:
            # An enqueued seed leaves the parameters it lacks to the strategy: it is known
            # by the settings it has.
            seeded_from = next(
                (label for label, p in self._seeds if _within(p, proposal.params)), None
            )
            self._seeds = [(label, p) for label, p in self._seeds if label != seeded_from]
        number = max(proposal.number, study.next_number)
        study.next_number = number + 1
        seed = trial_seed(self.spec.seed, number)
        trial_id = writer.start_trial(
            study.study_id,
            number,
            proposal.params,
            seed,
            None,
            retry_of=retry_of,
            seeded_from=seeded_from,
        )
        in_flight[number] = _Running(proposal, trial_id, time.monotonic())
        try:
            spec = self.spec.trial_spec(proposal.params, seed)
            if spec.training.eval_seed is None:
                # Every trial is scored on the same validation and test tasks.
                training_spec = spec.training.model_copy(update={"eval_seed": self.spec.seed})
                spec = spec.model_copy(update={"training": training_spec})
            job = TrialJob(
                number,
                spec.model_dump_json(),
                self.device,
                self.study_name,
                self.spec.objective.split,
            )
        except Exception as exc:
            from metagui.core.execution import Failed, describe_error

            # Settings that do not make a valid run fail this trial; the study goes on.
            self._unsent.append(Failed(number, describe_error(exc)))
        else:
            executor.submit(job)
        return TrialStarted(number, trial_id, dict(proposal.params), seed, retry_of)

    def _handle(self, event: TrialEvent, study: _Study) -> Generator[RunnerReport, None, None]:
        """Record one event of a trial in flight, and end the trial when it says so."""
        from metagui.core.execution import Failed, Finished, Placed, Reported, describe_error
        from metagui.core.training import DivergedError

        writer, executor, strategy = study.writer, study.executor, study.strategy
        in_flight = study.in_flight

        running = in_flight.get(event.number)
        if running is None:
            return  # a trial already ended here (pruned): nothing of it is recorded after
        number, trial_id = event.number, running.trial_id
        if isinstance(event, Placed):
            writer.set_trial_placement(trial_id, event.host, event.device)
            yield TrialPlaced(number, trial_id, event.host, event.device, event.pid)
        elif isinstance(event, Reported):
            report = event.report
            if not isinstance(report, StepReport):
                yield report
                return
            writer.add_step(trial_id, report)
            if report.validation is not None:
                running.last_step, running.last_value = report.step, report.validation.final
                strategy.report(running.proposal, report.step, running.last_value)
                why = strategy.should_prune(running.proposal)
                if why is not None:
                    executor.cancel(number)
                    yield from self._end(study, number, _pruned(running.last_step, why))
                    return
            yield TrialStep(number, trial_id, report)
        elif isinstance(event, Finished):
            finished = event.result
            split = self.spec.objective.split
            value = finished.result(split).final
            outcome: dict[str, Any] = {
                "state": "COMPLETE",
                "value": value,
                "test_value": finished.test.final if finished.test is not None else None,
            }
            if self.multi_objective:
                outcome = self._scored(outcome, event.measures)
            # A model whose adaptation blows up on either split diverged, even when the
            # objective's split stayed finite: it is not a result to rank or export.
            for name, result in (("validation", finished.validation), ("test", finished.test)):
                if result is not None and not math.isfinite(result.final):
                    error = DivergedError(f"the final {name} {result.metric} is {result.final}")
                    outcome = {"state": "FAILED", "error": describe_error(error)}
                    break
            yield from self._end(study, number, outcome, event.checkpoint)
        elif isinstance(event, Failed):
            retry = event.lost and self.execution is not None and self.execution.retry_lost_trials
            outcome = {"state": "FAILED", "error": event.error}
            params = running.proposal.params
            yield from self._end(study, number, outcome, counts=not retry)
            if retry:
                # Not the trial's own fault: its settings run again, as the next new trial
                # (the strategy proposes an enqueued configuration before anything else).
                strategy.retry(params)
                self._retries.append((number, params))

    def _handle_prune_requests(self, study: _Study) -> Generator[RunnerReport, None, None]:
        executor, in_flight = study.executor, study.in_flight
        with self._lock:
            requests, self._prune_requests = self._prune_requests, set()
        if not requests:
            return
        numbers = list(in_flight) if None in requests else [n for n in requests if n in in_flight]
        for number in numbers:
            executor.cancel(number)
            running = in_flight[number]
            yield from self._end(study, number, _pruned(running.last_step, "pruned by hand"))

    def _end(
        self,
        study: _Study,
        number: int,
        outcome: dict[str, Any],
        checkpoint: bytes | None = None,
        counts: bool = True,
    ) -> Generator[RunnerReport, None, None]:
        """Tell the strategy, record the trial's end, keep the top k models; ``counts=False``:
        a lost trial that runs again does not use up the budget."""
        writer, strategy = study.writer, study.strategy
        running = study.in_flight.pop(number)
        proposal = running.proposal
        state: EndState = outcome["state"]
        values: tuple[float, ...] | None = outcome.get("values")
        if state == "COMPLETE":
            strategy.tell(proposal, outcome["value"] if values is None else values)
        elif state == "PRUNED":
            strategy.tell_pruned(proposal, outcome.get("pruned_at_step"), running.last_value)
        else:
            strategy.tell_failed(proposal)
        writer.finish_trial(
            running.trial_id,
            state,
            value=outcome.get("value"),
            test_value=outcome.get("test_value"),
            error=outcome.get("error"),
            pruned_at_step=outcome.get("pruned_at_step"),
            pruned_reason=outcome.get("pruned_reason"),
            values=values,
        )
        if counts:
            study.finished += 1
        study.counts[state] += 1
        value = outcome.get("value")
        if values is not None and state == "COMPLETE":
            study.points[number] = values
            study.front = self._front(study.points)
        elif (
            not self.multi_objective
            and value is not None
            and state == "COMPLETE"
            and self._better(value, study.best_value)
        ):
            study.best_number, study.best_value = number, value
        if state == "COMPLETE":
            # Every completion: the top k may also have changed by an exclusion meanwhile.
            self._kept_checkpoints(study.study_id).after_trial(
                writer, running.trial_id, number, checkpoint
            )
        yield TrialEnded(
            number,
            running.trial_id,
            state,
            value,
            outcome.get("test_value"),
            outcome.get("error"),
            outcome.get("pruned_at_step"),
            outcome.get("pruned_reason"),
            time.monotonic() - running.began,
            study.best_number,
            study.best_value,
            values,
            study.front,
        )

    # -- study set-up --------------------------------------------------------------------------
    def _open_study(self, writer: HistoryWriter) -> tuple[int, int, Lease, list[str]]:
        """The study's id, how many trials a crash left running, this run's lease on it, and
        notes on what was set right. Resuming takes the lease first: only its holder may mark
        trials left running as crashed."""
        notes: list[str] = []
        existing = writer.get_study(self.study_name)
        if self.resume:
            if existing is None:
                raise MetaguiError(f"{self.db_path}: no study named {self.study_name!r} to resume")
            self._check_objectives(existing.objectives)
            edit = self._edit if self._edit is not None else self._check_edit()
            lease = writer.acquire_lease(existing.id, force=self.force)
            if lease.took_over:
                notes.append(f"took the study over: {lease.took_over}")
            failed = writer.mark_running_trials_failed(existing.id, _CRASHED)
            leftovers = self._remove_partial_checkpoints()
            if leftovers:
                notes.append(
                    f"removed {leftovers} partial checkpoint file(s) of an interrupted run"
                )
            dropped = self._kept_checkpoints(existing.id).tidy(writer)
            if dropped:
                keep = self.spec.checkpoints.keep
                notes.append(f"removed {dropped} checkpoint file(s) not of the top {keep} trials")
            if edit is not None:
                notes += self._apply_edit(writer, existing, edit)
            return existing.id, failed, lease, notes
        for source in self._warm_start_names():  # refused before a study that cannot run
            if writer.get_study(source) is None:
                raise self._no_warm_start(source)
        name = self.study_name
        suffix = 2
        while existing is not None:
            name = f"{self.study_name}-{suffix}"
            suffix += 1
            existing = writer.get_study(name)
        self.study_name = name
        from metagui.core.experience import fingerprint_of

        study_id = writer.create_study(
            name,
            self.spec.model_dump_json(by_alias=True),
            self.direction,
            self.spec.strategy.name,
            self.spec.seed,
            fingerprint_json=fingerprint_of(self.spec, self.direction).to_json(),
            provenance_json=json.dumps(self._provenance()),
            objectives=self.objectives,
        )
        return study_id, 0, writer.acquire_lease(study_id), notes

    def _check_objectives(self, stored: Sequence[Objective]) -> None:
        """A study resumes with the objectives it was made with: its trials' values are
        theirs."""
        from metagui.core.objectives import objectives_named

        if tuple(stored) == tuple(self.objectives):
            return

        def named(objectives: Sequence[Objective]) -> str:
            if not objectives:
                return "one objective"
            return objectives_named(objectives)

        raise MetaguiError(
            f"objective: study {self.study_name!r} was made with {named(stored)}, this "
            f"experiment has {named(self.objectives)}; resume it with the objectives it has"
        )

    def _check_edit(self) -> SpaceEdit | None:
        """How this experiment changes the study it resumes (see :mod:`metagui.core.space_edit`);
        a change that may not be made is refused here, before anything is written. None
        where there is no such study yet, or a history of an older schema (checked again
        once the writer has brought it up to date)."""
        from metagui.core.history import HistoryReader
        from metagui.core.space_edit import check_resume

        if not self.db_path.is_file():
            return None
        # A history this cannot read (an older schema, a damaged page) is left to the writer,
        # which says what is wrong with it and writes nothing; the check runs again then.
        try:
            with HistoryReader(self.db_path) as reader:
                study = reader.study(self.study_name)
                if study is None:
                    return None
                trials = reader.trials(study.id)
        except MetaguiError:
            return None
        self._check_objectives(study.objectives)  # its own words, before the general refusal
        return check_resume(study, trials, self.spec)

    def _apply_edit(self, writer: HistoryWriter, study: StudyRow, edit: SpaceEdit) -> list[str]:
        """Resume ``study`` with this experiment: trials outside an edited space marked, the
        edit noted, the experiment stored; what to report about it."""
        from metagui.core.history import HistoryReader
        from metagui.core.space_edit import apply_edit

        if not edit.changed:
            return []  # the usual resume: nothing to mark, note or store
        with HistoryReader(self.db_path) as reader:
            trials = reader.trials(study.id)
        return apply_edit(writer, study, trials, self.spec, edit, self.direction)

    def _provenance(self) -> dict[str, Any]:
        """Where the new study is made (see :mod:`metagui.core.provenance`); the device only
        where its trials train in this process."""
        from metagui.core.provenance import capture_provenance

        distributed = self.execution is not None and self.execution.distributed
        device = None if distributed else self.device or self.spec.device
        return capture_provenance(self.experiment_path, device)

    def _artifact_folder(self) -> Path:
        from metagui.core.history import artifact_folder

        return artifact_folder(self.db_path, self.study_name)

    def _remove_partial_checkpoints(self) -> int:
        """Remove the temporary files of checkpoint writes that a killed run left behind (the
        lease holder is the only writer of the study's artifacts)."""
        from metagui.core.atomic_write import partial_writes

        leftovers = partial_writes(self._artifact_folder(), "*.pt")
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        return len(leftovers)

    def _strategy(
        self,
        past: list[TrialRow],
        reader: Any,
        parallel: int,
        writer: HistoryWriter,
        study_id: int,
        notes: list[str],
    ) -> Strategy:
        """The strategy, with the study's past trials loaded and what it learns from earlier
        studies: with ``warm_start: auto`` its experience pool (initial design and prior,
        see :mod:`metagui.core.experience`); with study names, their best trials first and
        (CMA-ES) as source trials."""
        from metagui.core.space_edit import strategy_trials
        from metagui.core.strategies import Strategy

        base = self.spec.base_settings().model_dump(mode="json")
        warm = self._warm_start_trials(reader, writer, study_id, past)
        prior: list[PriorTrial] = []
        seeds: list[tuple[str, dict[str, Any]]] = []
        experience_pruner = None
        if self.spec.warm_start == "auto":
            from metagui.core.experience import open_pool

            pool = open_pool(
                reader, writer, self.spec, self.direction, study_id, self.study_name, past
            )
            notes += pool.notes
            prior = pool.prior
            seeds = [(t.label, t.params) for t in pool.design]
            if pool.used.get("pruning"):
                experience_pruner = self._experience_pruner(reader, pool.pool.studies)
        elif not past:
            seeds = [(label, t.params) for label, t in warm]
        strategy = Strategy(
            self.spec.search_space,
            self.spec.strategy,
            self.spec.pruner,
            self.direction,
            self.spec.seed,
            base,
            source_trials=[t for _, t in warm] or None,
            parallel=parallel,
            prior=prior,
            experience_pruner=experience_pruner,
            directions=[o.direction for o in self.objectives],
        )
        metric = self._metric()
        # Trials outside an edited search space stay in the history but steer nothing.
        strategy.load([_past(t, reader, metric) for t in strategy_trials(self.spec, past)])
        self._seeds = []
        for label, params in seeds:
            try:
                strategy.enqueue(params)
            except ValueError:
                continue  # a configuration outside this search space is not a seed
            self._seeds.append((label, params))
        return strategy

    def _metric(self) -> str:
        """The name of the metric the trials report (``val/<metric>`` in the history)."""
        from metagui.core.objectives import metric_of

        return metric_of(task_kind(self.spec))

    def _experience_pruner(
        self, reader: Any, studies: Sequence[PoolStudy]
    ) -> ExperiencePruner | None:
        """The pruner that compares a running trial's curve with the pool's good trials' at
        the same step, or None where the pool has no curves of this study's metric."""
        from metagui.core.experience import ExperiencePruner, pool_curves

        curves = pool_curves(
            reader,
            [s.study_id for s in studies],
            self._metric(),
            up_to={s.study_id: s.last_number for s in studies},
        )
        if not curves:
            return None
        return ExperiencePruner(curves, self.direction, self.spec.experience.pruning_quantile)

    def _warm_start_names(self) -> list[str]:
        return [] if self.spec.warm_start == "auto" else list(self.spec.warm_start)

    def _warm_start_trials(
        self, reader: Any, writer: HistoryWriter, study_id: int, past: list[TrialRow]
    ) -> list[tuple[str, PastTrial]]:
        """The best finished trial of each warm-start study named (and all their finished
        trials as CMA-ES source trials), each with where it came from (``"study #3"``). A
        new study records them as what it learned from."""
        from metagui.core.strategies import PastTrial

        seeds: list[tuple[str, PastTrial]] = []
        record: list[dict[str, Any]] = []
        for name in self._warm_start_names():
            study = reader.study(name)
            if study is None:
                raise self._no_warm_start(name)
            best = reader.best_trial(study.id)
            record.append({"id": study.id, "name": name, "best_trial": None})
            if best is not None:
                seeds.append(
                    (
                        f"{name} #{best.number}",
                        PastTrial(best.number, best.params, "COMPLETE", best.value),
                    )
                )
                record[-1]["best_trial"] = best.number
        if record and not past and reader.experience(study_id) is None:
            import json

            from metagui.core.experience import RECORD_VERSION

            writer.set_study_experience(
                study_id,
                json.dumps(
                    {
                        "version": RECORD_VERSION,
                        "mode": "names",
                        "studies": record,
                        "initial_design": bool(seeds),
                        "prior": self.spec.strategy.name == "cmaes" and bool(seeds),
                        "pruning": False,
                    }
                ),
            )
        return seeds

    def _no_warm_start(self, name: str) -> MetaguiError:
        return MetaguiError(f"warm_start: no study named {name!r} in {self.db_path}")

    def _best(self, past: list[TrialRow]) -> tuple[int | None, float | None]:
        best_number, best_value = None, None
        if self.multi_objective:
            return best_number, best_value  # no one trial is best: see the front
        for t in past:
            counts = t.state == "COMPLETE" and not t.excluded
            if counts and t.value is not None and self._better(t.value, best_value):
                best_number, best_value = t.number, t.value
        return best_number, best_value

    def _kept_checkpoints(self, study_id: int) -> KeptCheckpoints:
        """What keeps the study's top k trained models (``checkpoints.keep``)."""
        from metagui.core.kept_checkpoints import KeptCheckpoints

        return KeptCheckpoints(
            self.db_path,
            study_id,
            self._artifact_folder(),
            self.direction,
            self.spec.checkpoints.keep,
            tuple(o.direction for o in self.objectives),
        )


def _past(trial: TrialRow, reader: Any, metric: str) -> PastTrial:
    """A finished trial for the strategy to learn from; a pruned one with the validation
    values it reported (``val/<metric>``, not its confidence interval ``..._ci95``)."""
    from metagui.core.experience import validation_series
    from metagui.core.strategies import PastTrial

    intermediate: dict[int, float] = {}
    if trial.state == "PRUNED":
        for row in reader.metrics(trial.id, validation_series(metric)):
            if row.value is not None:
                intermediate[row.step] = row.value
    state: Literal["COMPLETE", "PRUNED", "FAILED"] = (
        "COMPLETE"
        if trial.state == "COMPLETE"
        else "PRUNED"
        if trial.state == "PRUNED"
        else "FAILED"
    )
    return PastTrial(trial.number, trial.params, state, trial.value, intermediate, trial.values)


def _within(part: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether every setting of ``part`` is in ``params`` with the same value."""
    return all(k in params and params[k] == v for k, v in part.items())


def _pruned(step: int | None, why: str) -> dict[str, Any]:
    return {"state": "PRUNED", "pruned_at_step": step, "pruned_reason": why}


def _execution(
    spec: ExecutionSpec | None, parallel: int | None, address: str | None
) -> ExecutionSpec | None:
    """The experiment's execution section with the run's overrides applied."""
    from metagui.core.experiment import ExecutionSpec

    if parallel is None and address is None:
        return spec
    data = spec.model_dump() if spec is not None else {}
    if parallel is not None:
        data["parallel"] = parallel
    if address is not None:
        data["address"] = address
    try:
        return ExecutionSpec.model_validate(data)
    except ValueError as exc:
        raise MetaguiError(f"execution: {exc}") from exc
