"""Meta-training throughput benchmarks: the batched path against the per-task loop, on the
same episodes, in the same process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from metagui.core.device import describe_device, resolve_device
from metagui.core.learners import MetaLearner, build_learner
from metagui.core.spec import AlgorithmSpec, ModelSpec, OptimizerSpec, TrainingSpec, TrainSpec
from metagui.core.tasksets import EpisodeBatch, SinusoidConfig, TaskInfo
from metagui.core.training import _optimizer

__all__ = ["BENCHMARKS", "Benchmark", "run_benchmark"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    spec: TrainSpec
    make_batches: Callable[[int, int, torch.Generator], tuple[TaskInfo, list[EpisodeBatch]]]


def _sinusoid_batches(
    count: int, size: int, generator: torch.Generator
) -> tuple[TaskInfo, list[EpisodeBatch]]:
    taskset = SinusoidConfig(k_shot=10, q_query=10).build()
    return taskset.info, [taskset.sample("train", size, generator) for _ in range(count)]


def _synthetic_images(
    count: int, size: int, generator: torch.Generator, n_way: int = 5, k: int = 1, q: int = 15
) -> tuple[TaskInfo, list[EpisodeBatch]]:
    """Omniglot-shaped episodes (28x28, one channel) of random images: speed depends on shapes,
    not on pixel values."""
    info = TaskInfo(kind="classification", input_shape=(1, 28, 28), output_dim=n_way)
    labels_s = torch.arange(n_way).repeat_interleave(k).expand(size, -1).contiguous()
    labels_q = torch.arange(n_way).repeat_interleave(q).expand(size, -1).contiguous()
    batches = [
        EpisodeBatch(
            torch.rand(size, n_way * k, 1, 28, 28, generator=generator),
            labels_s,
            torch.rand(size, n_way * q, 1, 28, 28, generator=generator),
            labels_q,
        )
        for _ in range(count)
    ]
    return info, batches


def _spec(algorithm: AlgorithmSpec, batch: int, model: ModelSpec) -> TrainSpec:
    return TrainSpec(
        algorithm=algorithm,
        model=model,
        optimizer=OptimizerSpec(name="adam", lr=1e-3),
        training=TrainingSpec(meta_batch_size=batch),
    )


BENCHMARKS: dict[str, Benchmark] = {
    "sinusoid-maml": Benchmark(
        "sinusoid-maml",
        "Finn et al.: 40-40 ReLU MLP, K=10, Q=10, meta-batch 25, "
        "1 step, lr 0.01, 2nd order, Adam 1e-3",
        _spec(AlgorithmSpec(name="maml", inner_lr=0.01, inner_steps=1), 25, ModelSpec(kind="mlp")),
        _sinusoid_batches,
    ),
    "omniglot-maml": Benchmark(
        "omniglot-maml",
        "5-way 1-shot, 15 queries, conv4 (64 filters, batch norm), meta-batch 32, "
        "1 step, 2nd order",
        _spec(AlgorithmSpec(name="maml", inner_lr=0.4, inner_steps=1), 32, ModelSpec(kind="conv4")),
        _synthetic_images,
    ),
    "omniglot-protonet": Benchmark(
        "omniglot-protonet",
        "5-way 1-shot, 15 queries, conv4 embedding, meta-batch 32",
        _spec(AlgorithmSpec(name="protonet"), 32, ModelSpec(kind="conv4")),
        _synthetic_images,
    ),
}


def _make_stepper(
    learner: MetaLearner, spec: TrainSpec, batches: list[EpisodeBatch], batched: bool
) -> Callable[[int], None]:
    """One meta-iteration (meta-gradient + optimizer step) on the i-th stored batch."""
    optimizer = _optimizer(spec, [p for p in learner.parameters() if p.requires_grad])

    def step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        learner.meta_gradient(batches[i % len(batches)], batched=batched)
        optimizer.step()

    return step


def _rate(step: Callable[[int], None], seconds: float, device: torch.device) -> float:
    """Meta-iterations per second over at least ``seconds``."""
    done = 0
    _sync(device)
    start = time.perf_counter()
    while True:
        step(done)
        done += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= 3:
            return done / elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_benchmark(
    name: str, device: str = "auto", min_seconds: float = 3.0, rounds: int = 3
) -> dict[str, Any]:
    """Run one benchmark; returns the figures for the batched path and the per-task loop."""
    bench = BENCHMARKS[name]
    dev = resolve_device(device)
    generator = torch.Generator().manual_seed(0)
    size = bench.spec.training.meta_batch_size
    info, batches = bench.make_batches(4, size, generator)
    batches = [b.to(dev) for b in batches]
    steppers = {}
    for batched in (True, False):
        torch.manual_seed(0)
        learner = build_learner(bench.spec.algorithm, bench.spec.model, info).to(dev)
        steppers[batched] = _make_stepper(learner, bench.spec, batches, batched)
        for i in range(2):  # warm-up: first calls of each shape are slow
            steppers[batched](i)
    # Alternate short rounds of the two paths and keep each one's best round, so that a burst
    # of load from elsewhere on a shared machine does not decide the ratio.
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for batched in (True, False):
            rates[batched].append(_rate(steppers[batched], min_seconds / rounds, dev))
    results = {"batched": max(rates[True]), "loop": max(rates[False])}
    return {
        "name": name,
        "algorithm": bench.spec.algorithm.name,
        "device": describe_device(dev),
        "meta_batch_size": size,
        "meta_iters_per_s": results["batched"],
        "tasks_per_s": results["batched"] * size,
        "loop_meta_iters_per_s": results["loop"],
        "loop_tasks_per_s": results["loop"] * size,
        "speedup_vs_loop": results["batched"] / results["loop"],
        "description": bench.description,
    }
