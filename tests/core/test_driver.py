"""The study driver against a scripted executor: no Ray and no training, only the events a
worker would send, played back with several trials interleaved. What the driver makes of
them is read back from the history: placement, per-trial metrics, the budget counting the
trials in flight, pruning (by the pruner and by hand) with cancellation, lost workers and
their retries, stop and resume, pausing the launches, diverged results, the best model."""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from metagui.core.execution import Failed, Finished, Placed, Reported, TrialEvent, TrialJob
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, MetricRow, TrialRow
from metagui.core.reports import EvalResult, StepReport, Tick, TrainingFinished
from metagui.core.runner import (
    RunnerReport,
    StudyEnded,
    StudyRunner,
    StudyStarted,
    TrialEnded,
    TrialPlaced,
    TrialStarted,
    TrialStep,
)

Script = Callable[[int], list[TrialEvent]]
"""A trial's events, from its number: Placed first, Finished or Failed last."""
INTERRUPTED = "interrupted: the run stopped while this trial was training"


class ScriptedExecutor:
    """An executor that trains nothing: each submitted trial plays back its script. Every
    :meth:`events` call hands out the next ``per_call`` events of each trial in flight, one
    trial after the other (so trials interleave), without waiting; a cancelled trial sends
    nothing more. It records what the driver asked of it."""

    where = "scripted"

    def __init__(self, script: Script, capacity: int = 2, per_call: int = 1) -> None:
        self.capacity = capacity
        self.script = script
        self.per_call = per_call
        self.submitted: list[TrialJob] = []
        self.cancelled: list[int] = []
        self.most_in_flight = 0
        self.closed = False
        self._queues: dict[int, deque[TrialEvent]] = {}

    def submit(self, job: TrialJob) -> None:
        assert not self.closed, "a trial submitted after close()"
        assert job.number not in {j.number for j in self.submitted}, f"{job.number} twice"
        events = self.script(job.number)
        assert isinstance(events[0], Placed) and isinstance(events[-1], Finished | Failed)
        assert all(e.number == job.number for e in events)
        self.submitted.append(job)
        self._queues[job.number] = deque(events)
        self.most_in_flight = max(self.most_in_flight, len(self._queues))

    def events(self, timeout_s: float) -> list[TrialEvent]:
        out: list[TrialEvent] = []
        for _ in range(self.per_call):
            for number, queue in list(self._queues.items()):
                out.append(queue.popleft())
                if not queue:
                    del self._queues[number]
        return out

    def cancel(self, number: int) -> None:
        self.cancelled.append(number)
        self._queues.pop(number, None)

    def close(self) -> None:
        self.closed = True
        self._queues.clear()


# -- scripted events ---------------------------------------------------------------------------


def evaluation(value: float) -> EvalResult:
    return EvalResult("mse", (value + 1.0, value), (0.1, 0.01), 8)


def step(number: int, at: int, validation: float | None = None) -> Reported:
    """Step ``at`` of trial ``number``: a training loss that tells the trials apart."""
    report = StepReport(
        step=at,
        total_steps=12,
        train_loss=number + at / 100,
        train_accuracy=None,
        validation=None if validation is None else evaluation(validation),
    )
    return Reported(number, report)


def placed(number: int) -> Placed:
    return Placed(number, f"host-{number}", f"node-{number}", 1000 + number, f"cuda:{number}")


def finished(
    number: int, value: float, test: float | None = None, checkpoint: bytes | None = None
) -> Finished:
    result = TrainingFinished(
        steps=12,
        test=evaluation(value if test is None else test),
        device=f"cuda:{number}",
        elapsed_s=1.0,
        validation=evaluation(value),
    )
    return Finished(number, result, checkpoint or f"model of trial {number}".encode())


def training(number: int, curve: tuple[float, ...] = (0.5, 0.4, 0.3)) -> list[TrialEvent]:
    """A trial that validates after each step and finishes at its last value."""
    steps = [step(number, i + 1, value) for i, value in enumerate(curve)]
    return [placed(number), *steps, finished(number, curve[-1])]


# -- running -------------------------------------------------------------------------------------


def experiment(**overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "tiny",
        "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
        "model": {"hidden_sizes": [8]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {"iterations": 12, "meta_batch_size": 2, "eval_every": 4, "log_every": 4},
        "search_space": {
            "params": [
                {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.3},
                {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            ]
        },
        "strategy": {"name": "random"},
        "budget": {"trials": 3},
        "device": "cpu",
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def reports_of(
    gen: Generator[RunnerReport, None, None], limit: int = 2000
) -> Iterator[RunnerReport]:
    """The generator's reports; a driver that never ends fails the test instead of hanging."""
    for count, report in enumerate(gen):
        if count == limit:
            gen.close()
            pytest.fail(f"the study did not end after {limit} reports")
        yield report


def run_all(runner: StudyRunner, executor: ScriptedExecutor) -> list[RunnerReport]:
    reports = list(reports_of(runner.run(executor=executor)))
    assert executor.closed
    return reports


def of(kind: type[Any], reports: list[RunnerReport]) -> list[Any]:
    return [r for r in reports if isinstance(r, kind)]


def trials_of(db: Path, study: str = "tiny") -> list[TrialRow]:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        return reader.trials(found.id)


def metrics_of(db: Path, trial: TrialRow) -> list[MetricRow]:
    with HistoryReader(db) as reader:
        return reader.metrics(trial.id)


def study_status(db: Path, study: str = "tiny") -> str:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        return found.status


# -- tests ---------------------------------------------------------------------------------------


def test_interleaved_reports_are_recorded_under_their_own_trials(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    curves = {0: (0.5, 0.4, 0.3), 1: (0.9, 0.7), 2: (0.2, 0.25, 0.1, 0.05)}
    executor = ScriptedExecutor(lambda n: training(n, curves[n]), capacity=3)
    reports = run_all(StudyRunner(experiment(), db), executor)

    started = reports[0]
    assert isinstance(started, StudyStarted)
    assert (started.parallel, started.where) == (3, "scripted")
    steps = [(r.number, r.report.step) for r in of(TrialStep, reports)]
    assert steps[:4] == [(0, 1), (1, 1), (2, 1), (0, 2)]  # interleaved, as scripted
    for number, curve in curves.items():
        scripted = [e.report for e in training(number, curve) if isinstance(e, Reported)]
        assert [r.report for r in of(TrialStep, reports) if r.number == number] == scripted
    assert [(p.number, p.host, p.device, p.pid) for p in of(TrialPlaced, reports)] == [
        (n, f"host-{n}", f"cuda:{n}", 1000 + n) for n in range(3)
    ]

    trials = trials_of(db)
    assert [t.number for t in trials] == [0, 1, 2]
    for trial in trials:
        curve = curves[trial.number]
        assert (trial.host, trial.device) == (f"host-{trial.number}", f"cuda:{trial.number}")
        assert (trial.state, trial.value) == ("COMPLETE", curve[-1])
        recorded = {(m.step, m.name): m.value for m in metrics_of(db, trial)}
        expected: dict[tuple[int, str], float] = {}
        for at, value in enumerate(curve, start=1):
            expected[(at, "train/loss")] = trial.number + at / 100
            expected[(at, "val/mse")] = value
            expected[(at, "val/mse_ci95")] = 0.01
        assert recorded == pytest.approx(expected)


def test_the_budget_counts_the_trials_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    # Trials of 1, 2 and 3 evaluations: they end at different times.
    executor = ScriptedExecutor(lambda n: training(n, (0.5, 0.4, 0.3)[: n % 3 + 1]), capacity=3)
    reports = run_all(StudyRunner(experiment(budget={"trials": 5}), db), executor)

    assert [j.number for j in executor.submitted] == [0, 1, 2, 3, 4]
    assert executor.most_in_flight == 3
    assert [r.number for r in of(TrialStarted, reports)] == [0, 1, 2, 3, 4]
    assert [e.state for e in of(TrialEnded, reports)] == ["COMPLETE"] * 5
    ended = reports[-1]
    assert isinstance(ended, StudyEnded) and ended.reason == "budget"
    assert ended.counts == {"COMPLETE": 5, "PRUNED": 0, "FAILED": 0}
    assert [t.state for t in trials_of(db)] == ["COMPLETE"] * 5
    assert study_status(db) == "finished"


def test_the_pruner_stops_one_of_two_running_trials(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(pruner={"name": "threshold", "upper": 1.0}, budget={"trials": 2})
    curves = {0: (0.5, 0.4, 0.3), 1: (0.6, 2.0, 0.2)}
    # Two events per trial per call: trial 1's step 3 arrives with the step 2 that prunes it.
    executor = ScriptedExecutor(lambda n: training(n, curves[n]), capacity=2, per_call=2)
    reports = run_all(StudyRunner(spec, db), executor)

    assert executor.cancelled == [1]
    ended = {e.number: e for e in of(TrialEnded, reports)}
    reason = "threshold pruner: 2 at step 2 is above 1"
    assert (ended[1].state, ended[1].pruned_at_step, ended[1].pruned_reason) == (
        "PRUNED",
        2,
        reason,
    )
    assert [r.report.step for r in of(TrialStep, reports) if r.number == 1] == [1]
    first, second = trials_of(db)
    assert (first.state, first.value) == ("COMPLETE", 0.3)
    assert (second.state, second.pruned_at_step, second.pruned_reason) == ("PRUNED", 2, reason)
    assert {m.step for m in metrics_of(db, second)} == {1, 2}  # nothing after the pruned step
    assert ended[0].best_number == 0


def test_prune_by_hand_stops_exactly_that_trial(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    executor = ScriptedExecutor(lambda n: training(n, (0.5, 0.4, 0.3, 0.2)), capacity=2)
    runner = StudyRunner(experiment(budget={"trials": 2}), db)
    reports = []
    for report in reports_of(runner.run(executor=executor)):
        reports.append(report)
        if isinstance(report, TrialStep) and (report.number, report.report.step) == (1, 2):
            runner.request_prune(1)

    assert executor.cancelled == [1]
    first, second = trials_of(db)
    assert (first.state, first.value) == ("COMPLETE", 0.2)
    assert (second.state, second.pruned_reason, second.pruned_at_step) == (
        "PRUNED",
        "pruned by hand",
        2,
    )
    assert {m.step for m in metrics_of(db, second)} == {1, 2}
    assert {m.step for m in metrics_of(db, first)} == {1, 2, 3, 4}
    assert [e.number for e in of(TrialEnded, reports)] == [1, 0]


LOST = "worker lost on host-1 (Ray node node-1, pid 1001): the node died"
RETRY = {"parallel": 2, "retry_lost_trials": True}


def losing_trial_1(lost: bool = True) -> Script:
    """Trials that train, but trial 1's worker is lost (or, ``lost=False``, it fails on its
    own) after its first step."""

    def script(number: int) -> list[TrialEvent]:
        if number == 1:
            return [placed(1), step(1, 1, 0.5), Failed(1, LOST, lost=lost)]
        return training(number)

    return script


@pytest.mark.parametrize(
    ("retry", "lost"),
    [(True, True), (False, True), (True, False)],
    ids=["lost-retried", "lost-not-retried", "own-error-not-retried"],
)
def test_a_lost_trial_fails_and_runs_again_only_when_asked(
    tmp_path: Path, retry: bool, lost: bool
) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(execution={"parallel": 2, "retry_lost_trials": retry})
    executor = ScriptedExecutor(losing_trial_1(lost), capacity=2)
    reports = run_all(StudyRunner(spec, db), executor)

    rerun = retry and lost
    started = of(TrialStarted, reports)
    trials = trials_of(db)
    assert [t.number for t in trials] == ([0, 1, 2, 3] if rerun else [0, 1, 2])
    assert (trials[1].state, trials[1].error) == ("FAILED", LOST)
    assert [s.retry_of for s in started] == ([None, None, 1, None] if rerun else [None] * 3)
    if rerun:
        assert trials[2].params == trials[1].params
        assert started[2].params == started[1].params
        job = json.loads(executor.submitted[2].spec_json)
        assert job["optimizer"]["lr"] == pytest.approx(trials[1].params["optimizer.lr"])
    else:
        assert trials[2].params != trials[1].params
    ended = reports[-1]
    assert isinstance(ended, StudyEnded) and ended.reason == "budget"
    # Run again, the lost trial does not use up the budget of 3: three trials complete.
    complete = 3 if rerun else 2
    assert ended.counts == {"COMPLETE": complete, "PRUNED": 0, "FAILED": 1}


def test_a_lost_trial_that_ran_again_does_not_use_up_the_budget_after_resume(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(execution=RETRY, budget={"trials": 3})
    run_all(StudyRunner(spec, db), ScriptedExecutor(losing_trial_1(), capacity=2))
    assert [t.state for t in trials_of(db)].count("COMPLETE") == 3  # and trial 1 lost
    again = ScriptedExecutor(training, capacity=2)
    run_all(StudyRunner(spec, db, resume=True, trials=4), again)
    # Four trials of the raised budget count: the three complete ones and one more.
    assert [j.number for j in again.submitted] == [4]


def test_retry_of_names_the_trial_whose_settings_run_again(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    # Three earlier studies: three warm-start configurations, one more than run at once.
    for seed, name in enumerate(("a", "b", "c"), start=1):
        seeded = experiment(name=name, seed=seed, budget={"trials": 1})
        run_all(StudyRunner(seeded, db), ScriptedExecutor(training, capacity=1))
    spec = experiment(warm_start=["a", "b", "c"], execution=RETRY, budget={"trials": 4})
    reports = run_all(StudyRunner(spec, db), ScriptedExecutor(losing_trial_1(), capacity=2))
    started = {s.number: s for s in of(TrialStarted, reports)}
    retried = [s for s in started.values() if s.retry_of is not None]
    assert len(retried) == 1 and retried[0].retry_of == 1
    assert retried[0].params == started[1].params


def test_stop_with_two_in_flight_then_resume(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 4})
    executor = ScriptedExecutor(training, capacity=2)
    gen = StudyRunner(spec, db).run(executor=executor)
    placed_numbers = []
    for report in reports_of(gen):
        if isinstance(report, TrialPlaced):
            placed_numbers.append(report.number)
            if len(placed_numbers) == 2:
                gen.close()
                break
    assert placed_numbers == [0, 1]
    assert sorted(executor.cancelled) == [0, 1] and executor.closed
    trials = trials_of(db)
    assert [(t.number, t.state, t.error) for t in trials] == [
        (0, "FAILED", INTERRUPTED),
        (1, "FAILED", INTERRUPTED),
    ]
    assert study_status(db) == "stopped"

    again = ScriptedExecutor(training, capacity=2)
    reports = run_all(StudyRunner(spec, db, resume=True), again)
    started = reports[0]
    assert isinstance(started, StudyStarted) and started.resumed
    # Interrupted trials are not results: they do not use up the budget, and their settings
    # run again first (as new trial numbers, so that the history keeps both).
    assert started.finished_trials == 0 and started.failed_on_resume == 0
    assert started.notes == ("interrupted trial(s) 0, 1 run again",)
    assert [j.number for j in again.submitted] == [2, 3, 4, 5]
    ended = reports[-1]
    assert isinstance(ended, StudyEnded) and ended.reason == "budget"
    after = trials_of(db)
    assert [(t.number, t.state, t.retry_of) for t in after] == [
        (0, "FAILED", None),
        (1, "FAILED", None),
        (2, "COMPLETE", 0),
        (3, "COMPLETE", 1),
        (4, "COMPLETE", None),
        (5, "COMPLETE", None),
    ]
    assert after[2].params == after[0].params and after[3].params == after[1].params
    assert study_status(db) == "finished"


def test_pausing_the_launches_lets_the_trials_in_flight_finish(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    executor = ScriptedExecutor(training, capacity=2)
    runner = StudyRunner(experiment(budget={"trials": 4}), db)
    seen: list[RunnerReport] = []
    ticks_while_idle = 0
    for report in reports_of(runner.run(executor=executor)):
        seen.append(report)
        if isinstance(report, TrialStarted) and report.number == 1:
            runner.pause_launching(True)
            assert runner.launching_paused
        ended_numbers = {e.number for e in of(TrialEnded, seen)}
        if runner.launching_paused and ended_numbers == {0, 1} and isinstance(report, Tick):
            ticks_while_idle += 1
            if ticks_while_idle == 3:  # paused with nothing in flight: still waiting
                assert [j.number for j in executor.submitted] == [0, 1]
                runner.pause_launching(False)

    assert ticks_while_idle == 3
    kinds = [(type(r).__name__, r.number) for r in seen if isinstance(r, TrialStarted | TrialEnded)]
    assert kinds == [
        ("TrialStarted", 0),
        ("TrialStarted", 1),
        ("TrialEnded", 0),
        ("TrialEnded", 1),
        ("TrialStarted", 2),
        ("TrialStarted", 3),
        ("TrialEnded", 2),
        ("TrialEnded", 3),
    ]
    ended = seen[-1]
    assert isinstance(ended, StudyEnded) and ended.reason == "budget"


def test_a_paused_study_whose_budget_is_used_up_ends(tmp_path: Path) -> None:
    executor = ScriptedExecutor(training, capacity=2)
    runner = StudyRunner(experiment(budget={"trials": 2}), tmp_path / "h.sqlite")
    gen = runner.run(executor=executor)
    reports: list[RunnerReport] = []
    for report in gen:
        reports.append(report)
        if isinstance(report, TrialStarted) and report.number == 1:
            runner.pause_launching(True)  # the budget's last trial started: nothing to launch
        if len(of(TrialEnded, reports)) == 2 and len(of(Tick, reports)) == 5:
            gen.close()  # still waiting for a resume that could launch nothing
            break
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_trial_that_finishes_with_nan_fails_and_is_never_best(tmp_path: Path, split: str) -> None:
    db = tmp_path / "h.sqlite"
    nan = math.nan

    def script(number: int) -> list[TrialEvent]:
        if number == 0:  # finishes first, before any trial completed
            value, test = (nan, 0.1) if split == "validation" else (0.1, nan)
            return [placed(0), step(0, 1, 0.3), finished(0, value, test)]
        return training(number, (0.9, 0.8, 0.7))

    executor = ScriptedExecutor(script, capacity=2)
    reports = run_all(StudyRunner(experiment(budget={"trials": 2}), db), executor)

    ended = {e.number: e for e in of(TrialEnded, reports)}
    assert ended[0].state == "FAILED"
    assert ended[0].error == f"DivergedError: the final {split} mse is nan"
    assert (ended[0].value, ended[0].best_number) == (None, None)
    assert (ended[1].state, ended[1].best_number) == ("COMPLETE", 1)
    first, second = trials_of(db)
    assert (first.state, first.value, first.test_value) == ("FAILED", None, None)
    study_ended = reports[-1]
    assert isinstance(study_ended, StudyEnded) and study_ended.best_number == 1
    with HistoryReader(db) as reader:
        study = reader.study("tiny")
        assert study is not None
        best = reader.best_trial(study.id)
        artifacts = reader.artifacts(study.id)
    assert best is not None and best.id == second.id
    assert [a.trial_id for a in artifacts] == [second.id]


def test_the_best_trials_checkpoint_is_written_from_its_bytes(tmp_path: Path) -> None:
    from metagui.core.checkpoint import checkpoint_bytes, load_checkpoint
    from metagui.core.learners import build_learner

    db = tmp_path / "h.sqlite"
    spec = experiment()
    finals = {0: 0.5, 1: 0.2, 2: 0.9}
    models: dict[int, bytes] = {}

    def script(number: int) -> list[TrialEvent]:
        # A real checkpoint, as a worker makes it, for each trial's own settings.
        train_spec = spec.trial_spec({"algorithm.inner_lr": 0.01 * (number + 1)})
        learner = build_learner(
            train_spec.algorithm, train_spec.model, train_spec.taskset.build().info
        )
        models[number] = checkpoint_bytes(learner, train_spec, {"trial": number})
        events = training(number, (0.6, finals[number]))
        return [*events[:-1], finished(number, finals[number], checkpoint=models[number])]

    executor = ScriptedExecutor(script, capacity=3)
    reports = run_all(StudyRunner(spec, db), executor)

    assert [e.best_number for e in of(TrialEnded, reports)] == [0, 1, 1]
    trials = trials_of(db)
    with HistoryReader(db) as reader:
        study = reader.study("tiny")
        assert study is not None
        checkpoints = [a for a in reader.artifacts(study.id) if a.kind == "checkpoint"]
    # Trial 0 was the best for a while, then trial 1; trial 2 never was. With the default
    # checkpoints.keep of 1, only the best one's file is kept: trial 0's went when 1 beat it.
    assert [a.trial_id for a in checkpoints] == [trials[1].id]
    folder = tmp_path / "h-artifacts" / "tiny"
    assert [Path(a.path) for a in checkpoints] == [folder / "trial-0001.pt"]
    best = Path(checkpoints[-1].path)
    assert best.read_bytes() == models[1]
    assert not (folder / "trial-0000.pt").exists()
    assert not (folder / "trial-0002.pt").exists()
    _learner, saved = load_checkpoint(best)
    assert saved.algorithm.inner_lr == pytest.approx(0.02)
