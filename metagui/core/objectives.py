"""What a trial can be scored by, and how each objective is named and shown.

A study has one objective (the meta-test metric on its split) or two: that metric and one of
:data:`SECOND_METRICS`, measures of the trial's cost that a researcher trades accuracy
against. Stored names are what ``studies.objectives`` holds: the first objective is the
metric as the metrics table names it (``val/accuracy``, ``test/mse``), the second its key here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from metagui.core.reports import format_value

if TYPE_CHECKING:
    from metagui.core.history import Objective

__all__ = [
    "SECOND_METRICS",
    "SPLIT_PREFIX",
    "SecondMetric",
    "format_objective",
    "metric_label",
    "metric_of",
    "objective_label",
    "objective_text",
    "objectives_named",
    "objectives_text",
]

SecondMetric = Literal["parameters", "training_time", "adaptation_time"]

SECOND_METRICS: dict[str, tuple[str, str]] = {
    # key: (label with unit, what it measures)
    "parameters": ("parameters", "trainable parameters of the model (its size)"),
    "training_time": ("training time (s)", "wall seconds of the trial's meta-training"),
    "adaptation_time": (
        "adaptation time (ms/task)",
        "milliseconds to adapt to one held-out task and predict its queries, measured over "
        "the objective split's evaluation",
    ),
}
assert set(SECOND_METRICS) == set(SecondMetric.__args__)  # type: ignore[attr-defined]

SPLIT_PREFIX: dict[str, str] = {"validation": "val", "test": "test"}


def metric_of(task_kind: str) -> str:
    """The meta-test metric of a kind of task: MSE for regression, accuracy otherwise."""
    return "mse" if task_kind == "regression" else "accuracy"


def metric_label(name: str) -> str:
    """A stored series as it reads: ``val/mse`` -> ``validation MSE``, ``train/loss`` ->
    ``meta-train loss``."""
    split, _, metric = name.partition("/")
    metric = {"mse": "MSE", "mae": "MAE", "loss": "loss"}.get(metric, metric.replace("_", " "))
    where = {"val": "validation", "train": "meta-train", "test": "test"}.get(split, split)
    return f"{where} {metric}".strip()


def objective_label(name: str) -> str:
    """How an objective's stored name reads on screen: ``val/accuracy`` -> "validation
    accuracy", ``parameters`` -> "parameters"."""
    if name in SECOND_METRICS:
        return SECOND_METRICS[name][0]
    return metric_label(name)


def objectives_named(objectives: Sequence[Objective]) -> str:
    """A study's objectives with their directions: ``minimize validation MSE and minimize
    parameters``."""
    return " and ".join(f"{o.direction} {objective_label(o.name)}" for o in objectives)


def format_objective(name: str, value: float | None, unknown: str = "–") -> str:
    """An objective's value as the CLI and the app show it: a parameter count whole with
    separators (``12,345``), anything else as :func:`~metagui.core.reports.format_value`."""
    if name == "parameters" and value is not None and math.isfinite(value):
        return f"{value:,.0f}"
    return format_value(value, unknown)


_UNIT = re.compile(r"^(.*) \(([^()]*)\)$")


def objective_text(name: str, value: float | None) -> str:
    """An objective and its value in words: ``validation accuracy 0.91``, ``parameters
    1,761``, ``training time 12.5 s`` (the unit of the label after the number)."""
    label = objective_label(name)
    number = format_objective(name, value)
    unit = _UNIT.match(label)
    if unit:
        return f"{unit[1]} {number} {unit[2]}" if number != "–" else f"{unit[1]} –"
    return f"{label} {number}"


def objectives_text(objectives: Sequence[Objective], values: Sequence[float] | None) -> str:
    """Each objective with a trial's value for it, joined by commas: ``validation accuracy
    0.91, parameters 1,761``."""
    given = list(values) if values is not None else []
    return ", ".join(
        objective_text(o.name, given[i] if i < len(given) else None)
        for i, o in enumerate(objectives)
    )
