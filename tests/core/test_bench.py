"""``metagui bench``'s figures: both paths timed, the GPU-only fields empty off CUDA, the
pipeline benchmark, the busy-time arithmetic behind the GPU idle fraction, and the measured
table that ``training.batched: auto`` follows."""

from __future__ import annotations

import math

import pytest
import torch

from metagui.core.bench import (
    BENCHMARKS,
    busy_fraction,
    run_benchmark,
    run_pipeline_benchmark,
)
from metagui.core.learners import build_learner
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import TaskInfo
from metagui.core.training import choose_batched


def test_busy_fraction_counts_overlapping_and_nested_activity_once() -> None:
    # 0-2 and 1-3 overlap (0-3), 4-5 nested in 3.5-6: busy 3 + 2.5 of 10.
    intervals = [(4.0, 5.0), (0.0, 2.0), (1.0, 3.0), (3.5, 6.0)]
    assert busy_fraction(intervals, 10.0) == pytest.approx(0.55)
    assert busy_fraction([], 10.0) == 0.0
    assert busy_fraction([(0.0, 12.0)], 10.0) == 1.0  # clipped: never more than all the time


def test_every_benchmark_names_its_learner_and_the_conv_ones_use_conv4() -> None:
    assert {"omniglot-maml", "omniglot-protonet", "omniglot-mamlpp", "omniglot-metasgd"} <= set(
        BENCHMARKS
    )
    for name, bench in BENCHMARKS.items():
        assert name.split("-")[-1] == bench.spec.algorithm.name
        if name.startswith("omniglot"):
            assert bench.spec.model.kind == "conv4"
    mamlpp = BENCHMARKS["omniglot-mamlpp"].spec
    # The multi-step loss is on for every iteration the benchmark runs.
    assert mamlpp.algorithm.inner_steps == 5 and mamlpp.algorithm.msl_iterations > 1000


def test_a_cpu_benchmark_times_both_paths_and_leaves_the_gpu_fields_empty() -> None:
    result = run_benchmark("sinusoid-maml", "cpu", min_seconds=0.2, rounds=1, precision="bf16")
    assert result["precision"] == "bf16" and result["compile"] is False
    for key in ("meta_iters_per_s", "loop_meta_iters_per_s", "speedup_vs_loop"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["tasks_per_s"] == pytest.approx(result["meta_iters_per_s"] * 25)
    for key in (
        "peak_memory_bytes",
        "loop_peak_memory_bytes",
        "gpu_idle_fraction",
        "loop_gpu_idle_fraction",
    ):
        assert result[key] is None


def test_the_pipeline_benchmark_times_each_prefetch_depth() -> None:
    spec = TrainSpec.model_validate(
        {
            "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
            "training": {"iterations": 8, "meta_batch_size": 4, "log_every": 4},
            "device": "cpu",
        }
    )
    result = run_pipeline_benchmark(spec, "cpu", prefetch=(0, 1), rounds=1)
    assert set(result["by_prefetch_depth"]) == {"0", "1"}
    for figures in result["by_prefetch_depth"].values():
        assert figures["s_per_iteration"] > 0 and figures["cpu_s_per_iteration"] > 0
        assert figures["gpu_idle_fraction"] is None


@pytest.mark.parametrize(
    ("device", "kind", "batched"),
    [
        ("cpu", "conv4", False),
        ("cpu", "mlp", True),
        ("cuda", "conv4", True),
        ("cuda", "mlp", True),
        ("mps", "conv4", True),  # not measured: batched
    ],
)
def test_auto_follows_the_measured_table(device: str, kind: str, batched: bool) -> None:
    spec = TrainSpec.model_validate({"model": {"kind": kind, "filters": 4}})
    info = (
        TaskInfo(kind="classification", input_shape=(1, 28, 28), output_dim=5)
        if kind == "conv4"
        else TaskInfo(kind="regression", input_shape=(1,), output_dim=1)
    )
    learner = build_learner(spec.algorithm, spec.model, info)
    assert choose_batched("auto", learner, spec, torch.device(device)) is batched
    assert choose_batched("on", learner, spec, torch.device(device)) is True
    assert choose_batched("off", learner, spec, torch.device(device)) is False
