"""Meta-batches sampled ahead in a background thread: the same episodes in the same order as
sampling in the loop, errors raised where the batch is taken, and no thread left behind."""

from __future__ import annotations

import threading

import pytest
import torch

from metagui.core.reports import StepReport, Tick
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import EpisodeBatch, SinusoidConfig
from metagui.core.training import EpisodePrefetcher, MetaTraining


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "episode-prefetch"]


def _spec() -> TrainSpec:
    return TrainSpec.model_validate(
        {
            "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
            "algorithm": {"name": "maml", "inner_steps": 1},
            "training": {
                "iterations": 30,
                "meta_batch_size": 4,
                "log_every": 5,
                "eval_tasks": 10,
                "test_tasks": 10,
            },
            "seed": 3,
            "device": "cpu",
        }
    )


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_prefetched_batches_are_those_of_a_plain_loop(depth: int) -> None:
    taskset = SinusoidConfig(k_shot=3, q_query=4).build()
    plain = torch.Generator().manual_seed(7)
    expected = [taskset.sample("train", 5, plain) for _ in range(6)]
    ahead = torch.Generator().manual_seed(7)
    prefetcher = EpisodePrefetcher(lambda: taskset.sample("train", 5, ahead), depth)
    try:
        got = [prefetcher.next() for _ in range(6)]
    finally:
        prefetcher.close()
    for a, b in zip(got, expected, strict=True):
        for field in ("x_support", "y_support", "x_query", "y_query"):
            assert torch.equal(getattr(a, field), getattr(b, field))


def test_training_with_and_without_prefetch_is_the_same_run() -> None:
    def run(prefetch: int) -> tuple[list[float], list[torch.Tensor]]:
        training = MetaTraining(_spec(), prefetch=prefetch)
        losses = [r.train_loss for r in training.run() if isinstance(r, StepReport)]
        return losses, [p.detach().clone() for p in training.learner.parameters()]

    losses_plain, params_plain = run(0)
    losses_ahead, params_ahead = run(2)
    assert len(losses_plain) == 6
    assert losses_ahead == losses_plain  # bit for bit
    assert all(torch.equal(a, b) for a, b in zip(params_ahead, params_plain, strict=True))
    assert not _prefetch_threads()


def test_a_sampling_error_is_raised_where_the_batch_is_taken() -> None:
    taskset = SinusoidConfig(k_shot=3, q_query=4).build()
    generator = torch.Generator().manual_seed(0)
    calls = {"n": 0}

    def sample() -> EpisodeBatch:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("the data disappeared")
        return taskset.sample("train", 2, generator)

    prefetcher = EpisodePrefetcher(sample, 2)
    try:
        assert len(prefetcher.next()) == 2
        assert len(prefetcher.next()) == 2
        with pytest.raises(OSError, match="disappeared"):
            prefetcher.next()
    finally:
        prefetcher.close()
    assert not _prefetch_threads()


def test_stopping_the_training_early_ends_the_sampling_thread() -> None:
    spec = _spec()
    spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"iterations": 100_000})}
    )
    run = MetaTraining(spec, prefetch=2).run()
    for i, report in enumerate(run):
        assert isinstance(report, Tick | StepReport)
        if i == 20:
            break
    assert len(_prefetch_threads()) == 1  # sampling ahead while the run is paused
    run.close()
    assert not _prefetch_threads()
