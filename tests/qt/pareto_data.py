"""A two-objective study for the app's tests and screenshots, written with the real
HistoryWriter: an Omniglot search scored by validation accuracy (maximised) and the model's
parameter count (minimised), with complete, pruned, failed, excluded and running trials."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from test_views_data import T0, Clock, History

from metagui.core.experiment_io import load_experiment
from metagui.core.history import HistoryWriter, Objective

ROOT = Path(__file__).resolve().parents[2]
OMNIGLOT = ROOT / "resources" / "examples" / "omniglot-search.yaml"
OBJECTIVES = (Objective("val/accuracy", "maximize"), Objective("parameters", "minimize"))
FILTERS = (8, 16, 24, 32, 48, 64)
Trial = tuple[str, tuple[float, float] | None, dict[str, Any]]
"""(state, (accuracy, parameters) or None, sampled parameters)"""


def conv4_parameters(filters: int, n_way: int = 5) -> int:
    """Trainable parameters of a 4-block conv net on 28x28 grey images (batch norm)."""
    blocks = (9 * 1 + 1) * filters + 3 * ((9 * filters + 1) * filters) + 4 * 2 * filters
    return blocks + (filters + 1) * n_way


def pareto_trials(n: int = 30, seed: int = 3) -> list[Trial]:
    """``n`` trials (state, (accuracy, parameters) or None, params): bigger nets are more
    accurate on the whole, with the noise of a real search; a few pruned, one failed."""
    rng = random.Random(seed)
    trials: list[Trial] = []
    for number in range(n):
        filters = rng.choice(FILTERS)
        algorithm = rng.choice(["maml", "fomaml", "anil", "protonet"])
        params: dict[str, Any] = {
            "algorithm.name": algorithm,
            "model.filters": filters,
            "optimizer.lr": round(10 ** rng.uniform(-4, -2.5), 6),
        }
        if algorithm != "protonet":
            params["algorithm.inner_lr"] = round(10 ** rng.uniform(-2, 0), 4)
        size = conv4_parameters(filters)
        accuracy = 0.55 + 0.4 * (1 - math.exp(-size / 30_000)) + rng.gauss(0, 0.025)
        accuracy += 0.02 if algorithm == "protonet" else 0.0
        state = "COMPLETE"
        if number in (4, 11, 19):
            state = "PRUNED"
        elif number == 8:
            state = "FAILED"
        trials.append((state, (round(min(accuracy, 0.99), 4), float(size)), params))
    return trials


def omniglot_pareto_spec() -> str:
    """The Omniglot search with a second objective (the model's size), as stored."""
    spec = load_experiment(OMNIGLOT)
    data = spec.model_dump(by_alias=True)
    data["objective"]["second"] = {"metric": "parameters", "direction": "minimize"}
    data["strategy"] = {"name": "nsga2", "startup_trials": 6, "population_size": None}
    data["pruner"]["name"] = "none"
    for param in data["search_space"]["params"]:
        if param["name"] == "model.filters":
            param["choices"] = list(FILTERS)
    return type(spec).model_validate(data).model_dump_json(by_alias=True)


def write_pareto_study(
    path: Path,
    clock: Clock,
    trials: list[Trial] | None = None,
    name: str = "omniglot-size",
    writer: HistoryWriter | None = None,
    excluded: tuple[int, ...] = (),
    running: bool = True,
) -> History:
    """The study of ``trials`` (default :func:`pareto_trials`); trials numbered ``excluded``
    are excluded; with ``running`` one more trial is left running."""
    writer = writer or HistoryWriter(path, flush_rows=100_000, flush_seconds=1e9)
    clock.now = max(clock.now, T0)
    study_id = writer.create_study(
        name, omniglot_pareto_spec(), "maximize", "nsga2", 0, objectives=OBJECTIVES
    )
    history = History(path, writer, clock, study_id)
    trials = trials or pareto_trials()
    for number, (state, values, params) in enumerate(trials):
        trial_id = history.start(number, params)
        clock.advance(60.0 + 7 * number)
        if state == "COMPLETE":
            assert values is not None
            writer.add_metrics(trial_id, 500, {"val/accuracy": values[0]}, time=clock.now)
            writer.finish_trial(trial_id, "COMPLETE", value=values[0], values=values)
        elif state == "PRUNED":
            writer.add_metrics(trial_id, 500, {"val/accuracy": 0.4}, time=clock.now)
            writer.finish_trial(trial_id, "PRUNED", pruned_at_step=500, pruned_reason="median")
        else:
            writer.finish_trial(trial_id, "FAILED", error="CUDA out of memory")
        if number in excluded:
            writer.set_excluded(trial_id, True)
    if running:
        history.start(len(trials), {"algorithm.name": "maml", "model.filters": 32})
    writer.flush()
    return history
