"""Study throughput: the same study of short sinusoid trials run one trial at a time in
process, then ``parallel`` at once on Ray, measured in one run. Workers pay a cold start
(Ray's start, each actor's Python and torch import, a first trial's warm-up) once per study;
it is reported apart from the warm throughput, completed trials per minute once every worker
finished its first trial."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from metagui.core.experiment import ExperimentSpec

__all__ = ["run_study_benchmark", "study_benchmark_spec"]


def study_benchmark_spec(
    seconds: float, device: str, execution: dict[str, Any] | None
) -> ExperimentSpec:
    """Short MAML trials on sinusoid regression (a 40-40 MLP, as Finn et al.), random search
    over the learning rates, for ``seconds`` of launching."""
    return ExperimentSpec.model_validate(
        {
            "name": "bench-study",
            "taskset": {"family": "sinusoid", "k_shot": 10, "q_query": 10},
            "model": {"hidden_sizes": [40, 40]},
            "algorithm": {"name": "maml", "inner_steps": 1},
            "training": {
                "iterations": 300,
                "meta_batch_size": 10,
                "eval_every": 100,
                "eval_tasks": 50,
                "test_tasks": 50,
                "log_every": 25,
                "batched": "on",
            },
            "search_space": {
                "params": [
                    {
                        "name": "algorithm.inner_lr",
                        "type": "float",
                        "low": 1e-3,
                        "high": 0.1,
                        "log": True,
                    },
                    {
                        "name": "optimizer.lr",
                        "type": "float",
                        "low": 1e-4,
                        "high": 1e-2,
                        "log": True,
                    },
                ]
            },
            "strategy": {"name": "random"},
            "budget": {"trials": None, "timeout_s": seconds},
            "device": device,
            "execution": execution,
        }
    )


def _measure(spec: ExperimentSpec, db: Path, warm_after: int) -> dict[str, Any]:
    """Run the study; time its start, and count the trials that ended after the first
    ``warm_after`` (one per worker) ended."""
    from metagui.core.runner import StudyRunner, StudyStarted, TrialEnded

    began = time.perf_counter()
    started_at: float | None = None
    ended_at: list[float] = []
    states: list[str] = []
    cpu_began = time.process_time()
    for report in StudyRunner(spec, db, collect_garbage=False).run():
        if isinstance(report, StudyStarted):
            started_at = time.perf_counter()
        elif isinstance(report, TrialEnded):
            ended_at.append(time.perf_counter())
            states.append(report.state)
    assert started_at is not None
    warm = ended_at[warm_after - 1] if len(ended_at) >= warm_after else None
    counted = len(ended_at) - warm_after
    rate = (
        counted / (ended_at[-1] - warm) * 60.0
        if warm is not None and counted > 0 and ended_at[-1] > warm
        else 0.0
    )
    return {
        "trials": len(ended_at),
        "complete": states.count("COMPLETE"),
        "startup_s": round(started_at - began, 3),
        "first_results_s": round((warm or ended_at[-1]) - began, 3) if ended_at else None,
        "warm_trials_per_min": round(rate, 2),
        "driver_cpu_s": round(time.process_time() - cpu_began, 3),
    }


def run_study_benchmark(
    seconds: float = 30.0,
    parallel: int | None = None,
    device: str = "cpu",
    gpus_per_trial: float = 0.0,
) -> dict[str, Any]:
    """Serial, then ``parallel`` (default: one per CPU core) trials at once on a local Ray
    cluster started here, each trial with one thread (serial too, for a fair ratio)."""
    import torch

    parallel = parallel or os.cpu_count() or 1
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="metagui-bench-") as folder:
        torch.set_num_threads(1)
        try:
            serial = _measure(
                study_benchmark_spec(seconds, device, None), Path(folder) / "s.sqlite", 1
            )
        finally:
            torch.set_num_threads(threads)
        execution = {"parallel": parallel, "cpus_per_trial": 1, "gpus_per_trial": gpus_per_trial}
        if gpus_per_trial:
            execution["cpus_per_trial"] = max(1, (os.cpu_count() or 1) // parallel)
        wide = _measure(
            study_benchmark_spec(seconds, device, execution), Path(folder) / "p.sqlite", parallel
        )
    ratio = (
        wide["warm_trials_per_min"] / serial["warm_trials_per_min"]
        if serial["warm_trials_per_min"]
        else None
    )
    return {
        "name": "study-throughput",
        "device": device,
        "parallel": parallel,
        "gpus_per_trial": gpus_per_trial,
        "seconds": seconds,
        "serial": serial,
        "parallel_run": wide,
        "speedup": None if ratio is None else round(ratio, 3),
    }
