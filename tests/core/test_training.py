"""The meta-training generator: reports, stopping, reproducibility, exact chunking."""

from __future__ import annotations

import math
import time

import pytest
import torch

import metagui.core.training as training
from metagui.core.errors import MetaguiError
from metagui.core.evaluation import summarise
from metagui.core.reports import StepReport, Tick, TrainingFinished
from metagui.core.spec import TrainSpec
from metagui.core.training import MetaTraining, meta_train


def sinusoid_spec(**training_overrides: object) -> TrainSpec:
    t = {
        "iterations": 40,
        "meta_batch_size": 5,
        "log_every": 10,
        "eval_every": 20,
        "eval_tasks": 20,
        "test_tasks": 30,
    }
    t.update(training_overrides)
    return TrainSpec.model_validate(
        {
            "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
            "algorithm": {"name": "metasgd", "inner_steps": 2},
            "training": t,
            "device": "cpu",
        }
    )


def test_reports_are_plain_numbers_and_come_in_order() -> None:
    reports = [r for r in meta_train(sinusoid_spec()) if not isinstance(r, Tick)]
    steps = [r for r in reports if isinstance(r, StepReport)]
    assert [r.step for r in steps] == [10, 20, 30, 40]
    assert [r.validation is not None for r in steps] == [False, True, False, True]
    for r in steps:
        assert isinstance(r.train_loss, float) and math.isfinite(r.train_loss)
        assert all(isinstance(v, float) for v in r.learned.values())
        assert set(r.learned) == {"inner_lr/body.0", "inner_lr/body.2", "inner_lr/head"}
        assert r.tasks_per_s == pytest.approx(r.meta_iters_per_s * 5)
    finished = reports[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.test.tasks == 30 and len(finished.test.means) == 3  # after 0, 1, 2 steps
    assert finished.device.startswith("cpu")


def test_same_seed_same_run_other_seed_other_run() -> None:
    def losses(spec: TrainSpec) -> list[float]:
        return [r.train_loss for r in meta_train(spec) if isinstance(r, StepReport)]

    spec = sinusoid_spec(eval_every=0)
    assert losses(spec) == losses(spec)
    assert losses(spec) != losses(spec.model_copy(update={"seed": 1}))


def test_meta_training_reduces_the_sinusoid_test_error() -> None:
    spec = TrainSpec.model_validate(
        {
            "taskset": {"family": "sinusoid", "k_shot": 10, "q_query": 10},
            "algorithm": {"name": "maml", "inner_lr": 0.01, "eval_inner_steps": 5},
            "training": {
                "iterations": 400,
                "meta_batch_size": 10,
                "log_every": 100,
                "test_tasks": 100,
            },
            "device": "cpu",
        }
    )
    run = MetaTraining(spec)
    before = None
    for item in run.evaluation("test", 100, seed=spec.seed + 2):
        if not isinstance(item, Tick):
            before = item
    finished = next(r for r in run.run() if isinstance(r, TrainingFinished))
    assert before is not None
    assert finished.test.means[5] < 0.7 * before.means[5]
    assert finished.test.means[5] < finished.test.means[0]  # adaptation helps


def test_loop_path_yields_between_tasks_and_trains_like_the_batched_path() -> None:
    spec = sinusoid_spec(eval_every=0, iterations=12, meta_batch_size=6)
    loop_spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"batched": "off"})}
    )
    batched = MetaTraining(spec)
    batched_ticks = sum(isinstance(r, Tick) for r in batched.run())
    loop = MetaTraining(loop_spec)
    loop_ticks = sum(isinstance(r, Tick) for r in loop.run())
    assert batched.batched and not loop.batched
    assert loop_ticks - batched_ticks >= 12 * 5  # a yield after every task but the last
    for a, b in zip(batched.learner.parameters(), loop.learner.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_generator_stops_between_yields_and_yields_often() -> None:
    gen = meta_train(sinusoid_spec(iterations=100_000, eval_every=0))
    gaps = []
    last = time.perf_counter()
    for i, _ in enumerate(gen):
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        if i == 200:
            break
    gen.close()
    assert len(gaps) == 201  # the run was far from done: stopping is ours, at a yield


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_every_outer_optimizer_and_the_cosine_schedule_train(optimizer: str) -> None:
    spec = sinusoid_spec(eval_every=0, iterations=10)
    spec = spec.model_copy(
        update={
            "optimizer": spec.optimizer.model_copy(update={"name": optimizer, "schedule": "cosine"})
        }
    )
    run = MetaTraining(spec)
    start = [p.detach().clone() for p in run.learner.parameters()]
    list(run.run())
    assert any(not torch.equal(a, b) for a, b in zip(start, run.learner.parameters(), strict=True))
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_divergence_is_reported_as_an_error() -> None:
    spec = sinusoid_spec(eval_every=0)
    spec = spec.model_copy(
        update={"optimizer": spec.optimizer.model_copy(update={"name": "sgd", "lr": 1e6})}
    )
    with pytest.raises(training.DivergedError, match="became"):
        list(meta_train(spec))


def test_unknown_or_missing_device_is_a_clear_error() -> None:
    with pytest.raises(MetaguiError, match="device"):
        MetaTraining(sinusoid_spec(), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MetaguiError, match="CUDA is not available"):
            MetaTraining(sinusoid_spec(), device="cuda")


def test_confidence_interval_is_1_96_standard_errors() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]])
    result = summarise(values, "accuracy")
    assert result.means == pytest.approx((2.5, 0.5))
    std = float(values[0].std(unbiased=True))
    assert result.ci95[0] == pytest.approx(1.96 * std / 2.0)
    assert result.tasks == 4 and result.final == pytest.approx(0.5)
