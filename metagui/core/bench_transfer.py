"""Transfer from the experience pool (``metagui bench --transfer``): how many trials a
``warm_start: auto`` TPE search needs to reach the final best of a cold one, on a family of
related sinusoid problems, and what a pool of an unrelated problem costs.

Each seed gets one history. In it run, in this order: a cold TPE study of every target
problem and of the unrelated problem (``trials`` each); then, for every target, a warm study
(``warm_start: auto``) whose pool is the other targets' cold studies (everything else is
excluded by name); then, for the first ``negative_targets`` targets, a warm study whose pool
is the unrelated study alone, with ``experience.min_similarity`` 0 so that it is used rather
than refused. A warm study runs the same trial seeds and is scored on the same validation
tasks as its cold twin (both take the seed's study seed), so the two differ only in what the
sampler proposes."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metagui.core.bench_transfer_figures import (
    EARLY,
    StudyTrials,
    best_of,
    describe_pool,
    read_study,
    transfer_figures,
)
from metagui.core.experiment import ExperimentSpec

__all__ = [
    "PROBLEMS",
    "UNRELATED",
    "Problem",
    "run_transfer_benchmark",
    "transfer_spec",
]


@dataclass(frozen=True)
class Problem:
    """One sinusoid regression problem of the benchmark."""

    name: str
    amplitude: tuple[float, float]
    phase: tuple[float, float]
    k_shot: int
    x_range: tuple[float, float] = (-5.0, 5.0)

    def taskset(self) -> dict[str, Any]:
        return {
            "family": "sinusoid",
            "k_shot": self.k_shot,
            "q_query": 10,
            "amplitude": list(self.amplitude),
            "phase": list(self.phase),
            "x_range": list(self.x_range),
        }


#: The related problems: amplitude and phase ranges and K differ.
PROBLEMS: tuple[Problem, ...] = (
    Problem("finn", (0.1, 5.0), (0.0, math.pi), 10),
    Problem("narrow-phase", (0.5, 4.0), (0.0, math.pi / 2), 10),
    Problem("five-shot", (0.1, 5.0), (0.0, math.pi), 5),
    Problem("loud", (1.0, 5.0), (math.pi / 4, 3 * math.pi / 4), 20),
)
#: The unrelated problem: tiny amplitudes over a tenfold input range from two points, hardly a
#: sinusoid to adapt to; what suits it says nothing about the targets.
UNRELATED = Problem("unrelated", (0.01, 0.05), (0.0, 2 * math.pi), 2, (-50.0, 50.0))

#: Targets that also get a warm study from the unrelated pool (the negative-transfer case).
NEGATIVE_TARGETS = 2


def transfer_spec(
    problem: Problem,
    *,
    seed: int,
    trials: int,
    iterations: int,
    warm: bool = False,
    exclude: Sequence[str] = (),
    min_similarity: float = 0.6,
) -> ExperimentSpec:
    """A TPE search over MAML on ``problem``: inner and outer learning rates, inner steps and
    the width of each of the MLP's two hidden layers (``model.hidden_sizes.0`` and ``.1``, 16
    to 96 in steps of 8: a unit more or less changes nothing worth a trial, and the pool's
    widths map onto a coarse grid where they are tried again). Short trials (``iterations``
    meta-iterations of 4 tasks; 40-40 MLP unless searched), scored once at the end by the
    validation MSE of 25 tasks; no intermediate evaluation, so nothing is pruned."""
    data: dict[str, Any] = {
        "name": problem.name,
        "taskset": problem.taskset(),
        "model": {"hidden_sizes": [40, 40]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {
            "iterations": iterations,
            "meta_batch_size": 4,
            "eval_every": 0,
            "eval_tasks": 25,
            "test_tasks": 5,
            "log_every": max(1, iterations // 4),
            "batched": "on",
        },
        "search_space": {
            "params": [
                {
                    "name": "algorithm.inner_lr",
                    "type": "float",
                    "low": 1e-3,
                    "high": 0.3,
                    "log": True,
                },
                {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 3e-2, "log": True},
                {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 5},
                {"name": "model.hidden_sizes.0", "type": "int", "low": 16, "high": 96, "step": 8},
                {"name": "model.hidden_sizes.1", "type": "int", "low": 16, "high": 96, "step": 8},
            ]
        },
        "strategy": {"name": "tpe", "startup_trials": 10},
        "budget": {"trials": trials},
        "seed": seed,
        "device": "cpu",
    }
    if warm:
        data["warm_start"] = "auto"
        data["experience"] = {"exclude": list(exclude), "min_similarity": min_similarity}
    return ExperimentSpec.model_validate(data)


def _run(spec: ExperimentSpec, db: Path, name: str) -> StudyTrials:
    from metagui.core.runner import StudyRunner, StudyStarted

    study_id = None
    for report in StudyRunner(spec, db, study=name).run():
        if isinstance(report, StudyStarted):
            study_id = report.study_id
    assert study_id is not None
    return read_study(db, study_id)


def run_transfer_benchmark(
    seeds: int = 5,
    trials: int = 30,
    iterations: int = 60,
    *,
    problems: Sequence[Problem] = PROBLEMS,
    unrelated: Problem = UNRELATED,
    negative_targets: int = NEGATIVE_TARGETS,
    folder: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The benchmark (see the module's docstring); each seed's history is written in
    ``folder`` (default: a temporary folder, removed after) and the figures are read back
    from them (:func:`transfer_figures`). Trials run one at a time in process with one torch
    thread, as ``metagui bench --study`` does."""
    import torch

    if len(problems) < 2:
        raise ValueError("the transfer benchmark needs at least two problems")
    threads = torch.get_num_threads()
    began, cpu_began = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="metagui-transfer-") as scratch:
        where = Path(folder) if folder is not None else Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(1)
        try:
            for seed in range(seeds):
                db = where / f"seed-{seed}.sqlite"
                _remove_history(db)
                for name, kw in _studies(problems, unrelated, negative_targets):
                    t0 = time.perf_counter()
                    ran = _run(
                        transfer_spec(**kw, seed=seed, trials=trials, iterations=iterations),
                        db,
                        name,
                    )
                    if log is not None:
                        best = best_of(ran.values, trials)
                        shown = "none" if best is None else f"{best:.4f}"
                        log(
                            f"seed {seed} {name}: best {shown} ({time.perf_counter() - t0:.0f} "
                            f"s; pool {describe_pool(ran) or 'none'})"
                        )
        finally:
            torch.set_num_threads(threads)
        figures = transfer_figures(
            where,
            seeds,
            trials,
            targets=[p.name for p in problems],
            unrelated=unrelated.name,
            negative_targets=negative_targets,
        )
    return {
        "name": "transfer",
        "device": "cpu",
        "seeds": seeds,
        "trials": trials,
        "iterations": iterations,
        "early": EARLY,
        "problems": [p.name for p in problems],
        "unrelated": unrelated.name,
        **figures,
        "wall_s": round(time.perf_counter() - began, 1),
        "cpu_s": round(time.process_time() - cpu_began, 1),
    }


def _remove_history(db: Path) -> None:
    """A kept history of an earlier run, its journal files and its artifacts folder: each
    run starts from an empty history."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(db.stem + "-artifacts"), ignore_errors=True)


def _studies(
    problems: Sequence[Problem], unrelated: Problem, negative_targets: int
) -> list[tuple[str, dict[str, Any]]]:
    """Each study of a seed's history in the order it runs: its name and the settings that
    make it (:func:`transfer_spec`'s arguments but the seed and the sizes)."""
    everyone = [f"{p.name}-cold" for p in (*problems, unrelated)]
    out: list[tuple[str, dict[str, Any]]] = [
        (f"{p.name}-cold", {"problem": p}) for p in (*problems, unrelated)
    ]
    for p in problems:
        pool = [f"{q.name}-cold" for q in problems if q is not p]
        exclude = _everything_but(everyone, problems, pool)
        out.append((f"{p.name}-warm", {"problem": p, "warm": True, "exclude": exclude}))
    for p in problems[:negative_targets]:
        exclude = _everything_but(everyone, problems, [f"{unrelated.name}-cold"])
        out.append(
            (
                f"{p.name}-warm-unrelated",
                {"problem": p, "warm": True, "exclude": exclude, "min_similarity": 0.0},
            )
        )
    return out


def _everything_but(everyone: list[str], problems: Sequence[Problem], pool: list[str]) -> list[str]:
    """Every study name a seed's history holds or will hold, but ``pool``."""
    names = [*everyone]
    for p in problems:
        names += [f"{p.name}-warm", f"{p.name}-warm-unrelated"]
    return [n for n in names if n not in pool]
