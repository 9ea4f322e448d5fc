"""Meta-training throughput benchmarks: the batched path against the per-task loop, on the
same episodes, in the same process; on CUDA also each path's peak GPU memory and the fraction
of a step's time the GPU sat idle (waiting on the host).

:func:`run_pipeline_benchmark` times the whole training loop instead (sampling included), with
and without the meta-batches sampled ahead in a background thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from metagui.core.device import describe_device, resolve_device
from metagui.core.learners import MetaLearner, build_learner
from metagui.core.spec import AlgorithmSpec, ModelSpec, OptimizerSpec, TrainingSpec, TrainSpec
from metagui.core.tasksets import EpisodeBatch, SinusoidConfig, TaskInfo
from metagui.core.training import _optimizer, optimizer_step, prepare_learner

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "busy_fraction",
    "run_benchmark",
    "run_pipeline_benchmark",
]


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
    "omniglot-mamlpp": Benchmark(
        "omniglot-mamlpp",
        "Antoniou et al.: 5-way 1-shot, 15 queries, conv4-64 with batch norm, meta-batch 16, "
        "5 steps, learned per-layer per-step rates, multi-step loss, 2nd order",
        _spec(
            AlgorithmSpec(name="mamlpp", inner_lr=0.1, inner_steps=5, msl_iterations=10_000),
            16,
            ModelSpec(kind="conv4"),
        ),
        _synthetic_images,
    ),
    "omniglot-metasgd": Benchmark(
        "omniglot-metasgd",
        "Li et al.: 5-way 1-shot, 15 queries, conv4-64, meta-batch 32, 1 step, "
        "learned per-parameter rates, 2nd order",
        _spec(
            AlgorithmSpec(name="metasgd", inner_lr=0.4, inner_steps=1), 32, ModelSpec(kind="conv4")
        ),
        _synthetic_images,
    ),
}


def _make_stepper(
    learner: MetaLearner,
    spec: TrainSpec,
    batches: list[EpisodeBatch],
    batched: bool,
    device: torch.device,
) -> Callable[[int], None]:
    """One meta-iteration (meta-gradient + optimizer step) on the i-th stored batch, in the
    precision of ``spec`` (fp16 with a loss scale, as in training)."""
    optimizer = _optimizer(spec, [p for p in learner.parameters() if p.requires_grad])
    scaler = prepare_learner(learner, spec, device)

    def step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        learner.meta_gradient(batches[i % len(batches)], batched=batched)
        optimizer_step(optimizer, scaler)

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


def busy_fraction(intervals: Iterable[tuple[float, float]], wall: float) -> float:
    """The fraction of ``wall`` covered by the union of ``intervals`` (start, end), in the
    same unit: how much of the time a device was doing something (kernels may overlap)."""
    covered = 0.0
    reach = float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        covered += end - max(start, reach)
        reach = end
    return min(covered / wall, 1.0) if wall > 0 else 0.0


def _gpu_idle_fraction(step: Callable[[int], None], steps: int, device: torch.device) -> float:
    """The fraction of ``steps`` steps' wall time in which no kernel or copy ran on the GPU,
    from the profiler's device activity (only that is recorded, to keep its overhead low)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    _sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        _sync(device)
        wall_us = (time.perf_counter() - start) * 1e6
    intervals = [
        (e.time_range.start, e.time_range.end)
        for e in prof.events()
        if e.device_type == DeviceType.CUDA
    ]
    if not intervals:
        raise RuntimeError("the profiler recorded no GPU activity")
    # The device timeline is the GPU's own; its span is measured on it, the rest is host time
    # in which the GPU had nothing queued.
    return 1.0 - busy_fraction(intervals, wall_us)


def _cuda_figures(
    step: Callable[[int], None], device: torch.device
) -> tuple[int | None, float | None]:
    """Peak GPU memory of two steps (bytes) and the GPU's idle fraction over five."""
    if device.type != "cuda":
        return None, None
    torch.cuda.reset_peak_memory_stats(device)
    for i in range(2):
        step(i)
    _sync(device)
    peak = int(torch.cuda.max_memory_allocated(device))
    return peak, _gpu_idle_fraction(step, 5, device)


def run_benchmark(
    name: str,
    device: str = "auto",
    min_seconds: float = 3.0,
    rounds: int = 3,
    *,
    precision: str = "fp32",
    compile: bool = False,
) -> dict[str, Any]:
    """Run one benchmark; returns the figures for the batched path and the per-task loop
    (``peak_memory_bytes`` and ``gpu_idle_fraction`` only on CUDA: None elsewhere)."""
    bench = BENCHMARKS[name]
    dev = resolve_device(device)
    generator = torch.Generator().manual_seed(0)
    spec = bench.spec.model_copy(
        update={
            "training": bench.spec.training.model_copy(
                update={"precision": precision, "compile": compile}
            )
        }
    )
    size = spec.training.meta_batch_size
    info, batches = bench.make_batches(4, size, generator)
    batches = [b.to(dev) for b in batches]
    steppers = {}
    cuda: dict[bool, tuple[int | None, float | None]] = {}
    for batched in (True, False):
        torch.manual_seed(0)
        learner = build_learner(spec.algorithm, spec.model, info).to(dev)
        steppers[batched] = _make_stepper(learner, spec, batches, batched, dev)
        for i in range(2):  # warm-up: first calls of each shape are slow (compile: much)
            steppers[batched](i)
        cuda[batched] = _cuda_figures(steppers[batched], dev)
    # Alternate short rounds of the two paths and keep each one's best round, so that a burst
    # of load from elsewhere on a shared machine does not decide the ratio.
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for batched in (True, False):
            rates[batched].append(_rate(steppers[batched], min_seconds / rounds, dev))
    results = {"batched": max(rates[True]), "loop": max(rates[False])}
    return {
        "name": name,
        "algorithm": spec.algorithm.name,
        "device": describe_device(dev),
        "precision": precision,
        "compile": compile,
        "meta_batch_size": size,
        "meta_iters_per_s": results["batched"],
        "tasks_per_s": results["batched"] * size,
        "loop_meta_iters_per_s": results["loop"],
        "loop_tasks_per_s": results["loop"] * size,
        "speedup_vs_loop": results["batched"] / results["loop"],
        "peak_memory_bytes": cuda[True][0],
        "loop_peak_memory_bytes": cuda[False][0],
        "gpu_idle_fraction": cuda[True][1],
        "loop_gpu_idle_fraction": cuda[False][1],
        "description": bench.description,
    }


def run_pipeline_benchmark(
    spec: TrainSpec, device: str = "auto", prefetch: Iterable[int] = (0, 2), rounds: int = 3
) -> dict[str, Any]:
    """The whole training loop of ``spec`` (sampling, copies to the device, meta-steps; not
    the evaluations), for each ``prefetch`` depth in turn, ``rounds`` times; each depth's best
    round: wall and CPU seconds per meta-iteration, and on CUDA the GPU's idle fraction over
    the run (None elsewhere)."""
    from metagui.core.reports import StepReport
    from metagui.core.training import MetaTraining

    dev = resolve_device(device)
    iterations = spec.training.iterations

    def one_run(depth: int) -> tuple[float, float, float | None]:
        training = MetaTraining(spec, device=str(dev), prefetch=depth)

        def train(_: int) -> None:
            reports = training.run()
            for report in reports:
                if isinstance(report, StepReport) and report.step == iterations:
                    break  # before the final evaluation
            reports.close()

        wall = time.perf_counter()
        cpu = time.process_time()
        idle = _gpu_idle_fraction(train, 1, dev) if dev.type == "cuda" else None
        if idle is None:
            train(0)
        return time.perf_counter() - wall, time.process_time() - cpu, idle

    best: dict[int, tuple[float, float, float | None]] = {}
    for _ in range(rounds):
        for depth in prefetch:
            run = one_run(depth)
            if depth not in best or run[0] < best[depth][0]:
                best[depth] = run
    return {
        "device": describe_device(dev),
        "algorithm": spec.algorithm.name,
        "iterations": iterations,
        "meta_batch_size": spec.training.meta_batch_size,
        "by_prefetch_depth": {
            str(depth): {
                "s_per_iteration": wall / iterations,
                "cpu_s_per_iteration": cpu / iterations,
                "gpu_idle_fraction": idle,
            }
            for depth, (wall, cpu, idle) in best.items()
        },
    }
