"""The time budget of a meta-training run: it ends the training by the clock, the final
evaluation still happens (inside the budget when asked), the iterations that ran are reported,
a cosine schedule anneals over the time, and a study's trials honour it alike."""

from __future__ import annotations

import io
import time

import pytest
import torch

from metagui.core.execution import Finished, TrialJob, train_trial
from metagui.core.experiment import ExperimentSpec
from metagui.core.reports import StepReport, TrainingFinished
from metagui.core.spec import TrainSpec
from metagui.core.training import MetaTraining, _TrainingClock, cosine_factor

HUGE = 10**7


def budget_spec(**training: object) -> TrainSpec:
    t: dict[str, object] = {
        "iterations": HUGE,
        "meta_batch_size": 2,
        "log_every": 20,
        "eval_tasks": 4,
        "test_tasks": 6,
        "time_budget_s": 1.5,
    }
    t.update(training)
    return TrainSpec.model_validate(
        {
            "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
            "model": {"hidden_sizes": [8]},
            "algorithm": {"name": "maml"},
            "optimizer": {"lr": 0.01, "schedule": "cosine"},
            "training": t,
            "device": "cpu",
        }
    )


def run_and_watch(
    spec: TrainSpec,
) -> tuple[MetaTraining, list[StepReport], list[float], TrainingFinished]:
    """Run ``spec``: the run, its step reports, the learning rate at each, and its end."""
    run = MetaTraining(spec)
    steps: list[StepReport] = []
    lrs: list[float] = []
    finished = None
    for report in run.run():
        if isinstance(report, StepReport):
            steps.append(report)
            lrs.append(run.optimizer.param_groups[0]["lr"])
        elif isinstance(report, TrainingFinished):
            finished = report
    assert finished is not None
    return run, steps, lrs, finished


def test_time_budget_stops_the_training_then_evaluates_and_records_the_iterations() -> None:
    _, steps, _, finished = run_and_watch(budget_spec(eval_every=50))
    assert finished.stopped_by_time
    assert 1 <= finished.steps < HUGE
    # The last steps are reported, up to the one the budget ended on.
    assert steps[-1].step == finished.steps
    assert steps[-1].elapsed_s > 0.5 * 1.5  # it trained until about the budget, not less
    # The final model is evaluated on both splits, whatever step the budget ended on.
    assert finished.validation is not None and finished.validation.tasks == 4
    assert finished.test.tasks == 6


def test_cosine_schedule_anneals_over_the_time_budget() -> None:
    _, _, lrs, finished = run_and_watch(budget_spec())
    assert finished.stopped_by_time and len(lrs) >= 3
    assert lrs[0] > 0.5 * 0.01  # early on, near the initial rate
    assert lrs[-1] < 0.05 * 0.01  # at the end of the time, near the minimum
    assert lrs == sorted(lrs, reverse=True)


def test_a_budget_that_does_not_bind_changes_nothing() -> None:
    def losses(spec: TrainSpec) -> list[float]:
        _, steps, _, finished = run_and_watch(spec)
        assert not finished.stopped_by_time and finished.steps == 40
        return [s.train_loss for s in steps] + list(finished.test.means)

    plain = losses(budget_spec(iterations=40, time_budget_s=None))
    assert losses(budget_spec(iterations=40, time_budget_s=1e6)) == plain
    # Timing the evaluation for the estimate uses tasks of its own: no result changes.
    assert (
        losses(budget_spec(iterations=40, time_budget_s=1e6, time_budget_includes_eval=True))
        == plain
    )


def test_budget_including_the_evaluation_stops_the_training_early_enough() -> None:
    # A final evaluation that takes a good part of the budget (many tasks, many steps).
    spec = budget_spec(time_budget_s=2.0, test_tasks=1500, eval_tasks=4)
    spec = spec.model_copy(
        update={"algorithm": spec.algorithm.model_copy(update={"eval_inner_steps": 10})}
    )
    included = spec.model_copy(
        update={"training": spec.training.model_copy(update={"time_budget_includes_eval": True})}
    )
    _, plain_steps, _, plain = run_and_watch(spec)
    _, steps, lrs, finished = run_and_watch(included)
    assert plain.stopped_by_time and finished.stopped_by_time
    eval_s = plain.elapsed_s - plain_steps[-1].elapsed_s
    assert plain.elapsed_s > 2.0 + 0.5 * eval_s  # without it the evaluation comes on top
    # With it, the run ends about at the budget (generous slack: the estimate is a measure).
    assert finished.elapsed_s < 2.0 + 0.5 * eval_s
    assert steps[-1].elapsed_s < plain_steps[-1].elapsed_s
    assert lrs[-1] < 0.05 * 0.01  # the schedule annealed over the shorter training time


def test_training_clock_reserves_the_estimated_evaluation() -> None:
    clock = _TrainingClock(
        iterations=1000,
        budget_s=10.0,
        includes_eval=True,
        final_eval_tasks=100,
        started=time.perf_counter() - 3.0,
    )
    assert clock.needs_eval_estimate and clock.training_s() == 10.0
    clock.eval_s_per_task = 0.02  # 2 s for the final evaluation, kept with a margin
    available = clock.training_s()
    assert available is not None and 7.0 < available < 8.0
    assert clock.progress(10) == pytest.approx(3.0 / available, rel=0.01)
    assert not clock.out_of_time()
    clock.last_iteration_s = available - 3.0  # the next iteration would end past the time
    assert clock.out_of_time()
    unbounded = _TrainingClock(1000, None, False, 100, time.perf_counter() - 3.0)
    assert unbounded.progress(250) == 0.25 and not unbounded.out_of_time()
    assert cosine_factor(0.0) == 1.0 and cosine_factor(1.0) == pytest.approx(0.0)
    assert cosine_factor(2.0) == pytest.approx(0.0)


def test_a_trial_of_a_study_honours_the_time_budget_of_its_spec() -> None:
    experiment = ExperimentSpec.model_validate(
        {
            **budget_spec(time_budget_s=1.0).model_dump(mode="json"),
            "name": "budget",
            "objective": {"split": "test"},
        }
    )
    spec = experiment.trial_spec({}, seed=3)
    job = TrialJob(0, spec.model_dump_json(), None, "budget", "test")
    events = list(train_trial(job, collect_garbage=False))
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    assert finished.result.stopped_by_time and finished.result.steps < HUGE
    payload = torch.load(io.BytesIO(finished.checkpoint), weights_only=True)
    assert payload["extra"]["iterations"] == finished.result.steps
    assert payload["spec"]["training"]["time_budget_s"] == 1.0
