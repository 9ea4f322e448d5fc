"""The study runner: a generator over trials that asks the strategy, meta-trains, reports
intermediate values for pruning, evaluates, tells the strategy and records everything in the
history. It yields the engine's reports (wrapped with the trial number) and trial-level
reports, and can be stopped, paused and resumed between yields.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from metagui.core.errors import MetaguiError
from metagui.core.reports import StepReport, Tick, TrainingFinished

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import HistoryWriter, TrialRow
    from metagui.core.strategies import PastTrial, Proposal, Strategy

__all__ = [
    "StudyEnded",
    "StudyRunner",
    "StudyStarted",
    "TrialEnded",
    "TrialStarted",
    "TrialStep",
    "task_kind",
    "trial_seed",
]

EndState = Literal["COMPLETE", "PRUNED", "FAILED"]


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


@dataclass(frozen=True)
class TrialStarted:
    number: int
    trial_id: int
    params: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class TrialStep:
    """An engine report of the running trial."""

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


@dataclass(frozen=True)
class StudyEnded:
    study: str
    reason: Literal["budget", "timeout", "exhausted", "stopped"]
    best_number: int | None
    best_value: float | None
    counts: dict[str, int]


RunnerReport = StudyStarted | TrialStarted | TrialStep | TrialEnded | StudyEnded | Tick

_INTERRUPTED = "interrupted: the run stopped while this trial was training"
_CRASHED = "interrupted: the process ended while this trial was running"


def task_kind(spec: ExperimentSpec) -> str:
    """``regression`` or ``classification``, from the task-set family."""
    return "regression" if spec.taskset.family == "sinusoid" else "classification"


def trial_seed(study_seed: int, number: int) -> int:
    """Each trial's own training seed, recorded with it so that it can be re-run exactly;
    trial 0 uses the study's seed, so an exported single-trial experiment re-runs itself."""
    return (study_seed + number) % (2**62)


class StudyRunner:
    """Run (or resume) the study of ``spec`` in the history at ``db_path``.

    ``study`` names the study (default: the experiment's name; a new study whose name is
    taken gets ``-2``, ``-3``... appended). With ``resume``, the named study continues: its
    trials left RUNNING by a crash are marked failed, the strategy is rebuilt from the
    recorded trials, and the run goes on until the (possibly raised) budget is met.
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
        collect_garbage: bool = True,
    ) -> None:
        """``collect_garbage=False`` leaves cyclic garbage collection to the caller: a GUI
        must collect in its own thread, because a collection frees toolkit objects left in
        cycles, and freeing them from the study thread can deadlock against the GUI thread."""
        self.spec = spec
        self.db_path = Path(db_path)
        self.study_name = study or spec.name
        self.resume = resume
        self.device = device
        self.trials_budget = trials if trials is not None else spec.budget.trials
        self.timeout_s = timeout_s if timeout_s is not None else spec.budget.timeout_s
        self.direction = spec.objective.resolved_direction(task_kind(spec))
        self._prune_requested = False
        self._best_candidate: tuple[Any, Any] | None = None
        self._collect_garbage = collect_garbage

    def _better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value > than if self.direction == "maximize" else value < than

    def request_prune(self) -> None:
        """Prune the running trial at the next yield (a user's decision, recorded as such)."""
        self._prune_requested = True

    # -- the generator -----------------------------------------------------------------------
    def run(self) -> Generator[RunnerReport, None, None]:
        from metagui.core.history import HistoryWriter

        writer = HistoryWriter(self.db_path)
        try:
            yield from self._run(writer)
        finally:
            writer.close()

    def _run(self, writer: HistoryWriter) -> Generator[RunnerReport, None, None]:
        from metagui.core.history import HistoryReader

        study_id, failed_on_resume = self._open_study(writer)
        reader = HistoryReader(self.db_path)
        try:
            past = reader.trials(study_id)
            strategy = self._strategy(past, reader)
        finally:
            reader.close()
        finished = sum(t.state in ("COMPLETE", "PRUNED", "FAILED") for t in past)
        best_number, best_value = self._best(past)
        yield StudyStarted(
            self.study_name,
            study_id,
            str(self.db_path),
            self.resume,
            self.direction,
            self.trials_budget,
            finished,
            failed_on_resume,
            self.timeout_s,
        )
        counts = {s: sum(t.state == s for t in past) for s in ("COMPLETE", "PRUNED", "FAILED")}
        started = time.monotonic()
        next_number = max((t.number for t in past), default=-1) + 1
        reason: Literal["budget", "timeout", "exhausted", "stopped"] = "budget"
        writer.set_study_status(study_id, "running")
        nothing_to_search = all(p.type == "fixed" for p in self.spec.search_space.params)
        stopped = True
        try:
            while True:
                if self.trials_budget is not None and finished >= self.trials_budget:
                    reason = "budget"
                    break
                if self.timeout_s is not None and time.monotonic() - started >= self.timeout_s:
                    reason = "timeout"
                    break
                if strategy.exhausted or (nothing_to_search and finished > 0):
                    # A space with nothing to sample has exactly one configuration.
                    reason = "exhausted"
                    break
                proposal = strategy.ask()
                number = max(proposal.number, next_number)
                next_number = number + 1
                ended = yield from self._trial(writer, strategy, study_id, proposal, number)
                finished += 1
                counts[ended.state] += 1
                value = ended.value
                if (
                    value is not None
                    and ended.state == "COMPLETE"
                    and self._better(value, best_value)
                ):
                    best_number, best_value = number, value
                    self._save_best(writer, study_id, ended)
                self._best_candidate = None
                yield dataclasses.replace(ended, best_number=best_number, best_value=best_value)
            stopped = False
        finally:
            writer.set_study_status(study_id, "stopped" if stopped else "finished")
        yield StudyEnded(self.study_name, reason, best_number, best_value, counts)

    # -- one trial -----------------------------------------------------------------------------
    def _trial(
        self,
        writer: HistoryWriter,
        strategy: Strategy,
        study_id: int,
        proposal: Proposal,
        number: int,
    ) -> Generator[RunnerReport, None, TrialEnded]:
        from metagui.core.training import DivergedError, MetaTraining

        seed = trial_seed(self.spec.seed, number)
        trial_id = writer.start_trial(study_id, number, proposal.params, seed, None)
        yield TrialStarted(number, trial_id, dict(proposal.params), seed)
        began = time.monotonic()
        self._prune_requested = False
        self._best_candidate = None
        last_step: int | None = None
        last_value: float | None = None
        outcome: dict[str, Any] = {}
        try:
            spec = self.spec.trial_spec(proposal.params, seed)
            if spec.training.eval_seed is None:
                # Every trial is scored on the same validation and test tasks.
                training_spec = spec.training.model_copy(update={"eval_seed": self.spec.seed})
                spec = spec.model_copy(update={"training": training_spec})
            training = MetaTraining(spec, device=self.device)
            finished: TrainingFinished | None = None
            for report in training.run():
                if isinstance(report, StepReport):
                    writer.add_step(trial_id, report)
                    if report.validation is not None:
                        last_step, last_value = report.step, report.validation.final
                        strategy.report(proposal, report.step, last_value)
                        why = strategy.should_prune(proposal)
                        if why is not None:
                            outcome = _pruned(last_step, why)
                            break
                    yield TrialStep(number, trial_id, report)
                elif isinstance(report, TrainingFinished):
                    finished = report
                else:
                    yield report
                if self._prune_requested:
                    outcome = _pruned(last_step, "pruned by hand")
                    break
            else:
                assert finished is not None
                split = self.spec.objective.split
                value = (finished.validation if split == "validation" else finished.test).final
                # A model whose adaptation blows up on either split diverged, even when the
                # objective's split stayed finite: it is not a result to rank or export.
                for name, result in (("validation", finished.validation), ("test", finished.test)):
                    if not math.isfinite(result.final):
                        raise DivergedError(f"the final {name} {result.metric} is {result.final}")
                outcome = {"state": "COMPLETE", "value": value, "test_value": finished.test.final}
                self._best_candidate = (training.learner, spec)
        except (GeneratorExit, KeyboardInterrupt):
            writer.finish_trial(trial_id, "FAILED", error=_INTERRUPTED)
            raise
        except MemoryError as exc:
            outcome = {"state": "FAILED", "error": f"out of memory: {exc}"}
        except Exception as exc:
            outcome = {"state": "FAILED", "error": _describe(exc)}
        finally:
            training = None  # type: ignore[assignment]
            # A failed trial's tensors may sit in cycles through its exception's frames; a
            # completed or pruned one's go with their last reference (the garbage its
            # training leaves in cycles dies young), so only failures pay for a full collection.
            failed = outcome.get("state") not in ("COMPLETE", "PRUNED")
            _release_memory(self._collect_garbage and failed)
        state: EndState = outcome["state"]
        if state == "COMPLETE":
            strategy.tell(proposal, outcome["value"])
        elif state == "PRUNED":
            strategy.tell_pruned(proposal, outcome.get("pruned_at_step"), last_value)
        else:
            strategy.tell_failed(proposal)
        writer.finish_trial(
            trial_id,
            state,
            value=outcome.get("value"),
            test_value=outcome.get("test_value"),
            error=outcome.get("error"),
            pruned_at_step=outcome.get("pruned_at_step"),
            pruned_reason=outcome.get("pruned_reason"),
        )
        return TrialEnded(
            number,
            trial_id,
            state,
            outcome.get("value"),
            outcome.get("test_value"),
            outcome.get("error"),
            outcome.get("pruned_at_step"),
            outcome.get("pruned_reason"),
            time.monotonic() - began,
            None,
            None,
        )

    # -- study set-up --------------------------------------------------------------------------
    def _open_study(self, writer: HistoryWriter) -> tuple[int, int]:
        existing = writer.get_study(self.study_name)
        if self.resume:
            if existing is None:
                raise MetaguiError(f"{self.db_path}: no study named {self.study_name!r} to resume")
            failed = writer.mark_running_trials_failed(existing.id, _CRASHED)
            return existing.id, failed
        name = self.study_name
        suffix = 2
        while existing is not None:
            name = f"{self.study_name}-{suffix}"
            suffix += 1
            existing = writer.get_study(name)
        self.study_name = name
        study_id = writer.create_study(
            name,
            self.spec.model_dump_json(by_alias=True),
            self.direction,
            self.spec.strategy.name,
            self.spec.seed,
        )
        return study_id, 0

    def _strategy(self, past: list[TrialRow], reader: Any) -> Strategy:
        from metagui.core.strategies import Strategy

        base = self.spec.base_settings().model_dump(mode="json")
        warm = self._warm_start_trials(reader)
        strategy = Strategy(
            self.spec.search_space,
            self.spec.strategy,
            self.spec.pruner,
            self.direction,
            self.spec.seed,
            base,
            source_trials=warm or None,
        )
        strategy.load([_past(t, reader) for t in past if t.state != "RUNNING"])
        if not past:
            for trial in warm:
                try:
                    strategy.enqueue(trial.params)
                except ValueError:
                    continue  # a configuration outside this search space is not a seed
        return strategy

    def _warm_start_trials(self, reader: Any) -> list[PastTrial]:
        """The best finished trial of each warm-start study (and all their finished trials
        as CMA-ES source trials)."""
        from metagui.core.strategies import PastTrial

        seeds: list[PastTrial] = []
        for name in self.spec.warm_start:
            study = reader.study(name)
            if study is None:
                raise MetaguiError(f"warm_start: no study named {name!r} in {self.db_path}")
            best = reader.best_trial(study.id)
            if best is not None:
                seeds.append(PastTrial(best.number, best.params, "COMPLETE", best.value))
        return seeds

    def _best(self, past: list[TrialRow]) -> tuple[int | None, float | None]:
        best_number, best_value = None, None
        for t in past:
            counts = t.state == "COMPLETE" and not t.excluded
            if counts and t.value is not None and self._better(t.value, best_value):
                best_number, best_value = t.number, t.value
        return best_number, best_value

    def _save_best(self, writer: HistoryWriter, study_id: int, ended: TrialEnded) -> None:
        """Keep the best trial's model as the study's checkpoint artifact."""
        from metagui.core.checkpoint import save_checkpoint

        if self._best_candidate is None:
            return
        learner, spec = self._best_candidate
        folder = self.db_path.parent / f"{self.db_path.stem}-artifacts" / self.study_name
        path = save_checkpoint(
            folder / f"trial-{ended.number:04d}.pt",
            learner,
            spec,
            {"study": self.study_name, "trial": ended.number, "value": ended.value},
        )
        writer.add_artifact(study_id, "checkpoint", path, ended.trial_id, "best so far")


def _past(trial: TrialRow, reader: Any) -> PastTrial:
    from metagui.core.strategies import PastTrial

    intermediate: dict[int, float] = {}
    if trial.state == "PRUNED":
        for row in reader.metrics(trial.id):
            if row.name.startswith("val/") and row.value is not None:
                intermediate[row.step] = row.value
    state: Literal["COMPLETE", "PRUNED", "FAILED"] = (
        "COMPLETE"
        if trial.state == "COMPLETE"
        else "PRUNED"
        if trial.state == "PRUNED"
        else "FAILED"
    )
    return PastTrial(trial.number, trial.params, state, trial.value, intermediate)


def _pruned(step: int | None, why: str) -> dict[str, Any]:
    return {"state": "PRUNED", "pruned_at_step": step, "pruned_reason": why}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _release_memory(collect_garbage: bool) -> None:
    """Free what a trial held, including cached CUDA blocks; ``collect_garbage``: after a
    full collection (about 200 ms: worth it after a failure, too slow after every trial)."""
    import torch

    if collect_garbage:
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
