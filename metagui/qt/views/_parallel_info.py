"""What the parallel-coordinates view draws, computed apart from drawing it (as Optuna's
``_get_parallel_coordinate_info``): the axes, and each finished trial's line across them.
No Qt: tested without a GUI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from metagui.core.history import FINISHED_STATES, TrialRow
from metagui.qt.views._param_axis import ParamAxis, search_axis, short_names
from metagui.qt.views._ranges import value_range

__all__ = ["ParallelAxis", "ParallelCoordinateInfo", "ParallelLine", "parallel_coordinate_info"]

AxisKind = Literal["numeric", "log", "categorical"]


@dataclass(frozen=True)
class ParallelAxis:
    """One vertical axis: a parameter's, or the objective's (the last)."""

    name: str
    label: str
    """What the axis is called under it (the parameter's short name)."""
    kind: AxisKind
    low: float
    high: float
    """The range mapped onto [0, 1] (numeric and log axes)."""
    choices: tuple[Any, ...]
    """The categories, in the order they sit from bottom to top (categorical axes)."""
    ticks: tuple[tuple[float, str], ...]
    """Labelled positions in [0, 1]."""

    @classmethod
    def of(cls, axis: ParamAxis, label: str) -> ParallelAxis:
        kind: AxisKind = "categorical" if axis.categorical else "log" if axis.log else "numeric"
        return cls(axis.name, label, kind, axis.low, axis.high, axis.choices, tuple(axis.ticks()))


@dataclass(frozen=True)
class ParallelLine:
    """One finished trial's line."""

    trial_id: int
    ys: tuple[float, ...]
    """Its position on each axis, in [0, 1]; NaN where it has no value (a conditional
    parameter it did not use, the objective of a pruned or failed trial)."""
    color: float
    """Where its value sits on the objective's colour map, in [0, 1] (low to high value); NaN
    where it has none."""
    grey: bool
    """Drawn grey: pruned, failed or excluded."""
    goodness: float
    """0 (worst) to 1 (best) along the objective axis, 0 where unknown: better lines on top."""


@dataclass(frozen=True)
class ParallelCoordinateInfo:
    """Everything the parallel-coordinates view draws."""

    axes: tuple[ParallelAxis, ...]
    """The parameters' axes, then the objective's."""
    lines: tuple[ParallelLine, ...]
    """The lines to draw, in trial-number order."""
    objective_range: tuple[float, float]
    """The objective values' robust span: the objective axis and the colour bar."""
    maximize: bool
    finished: int
    """Finished trials, those not drawn (``show_unfinished`` off) included."""

    @property
    def objective(self) -> ParallelAxis:
        return self.axes[-1]


def parallel_coordinate_info(
    trials: Sequence[TrialRow],
    param_names: Sequence[str],
    search_params: Sequence[Mapping[str, Any]],
    maximize: bool,
    show_unfinished: bool = True,
) -> ParallelCoordinateInfo:
    """What to draw for a study's ``trials`` (in trial-number order; every state: the running
    ones widen the axes but get no line) over the parameters ``param_names``, given the stored
    search space ``search_params`` and the objective's direction.

    Each axis maps onto [0, 1]: a log parameter on a log scale, a categorical one with its
    choices evenly spaced in the search space's order; the objective over the completed
    values' robust range, a diverged value at its end. Pruned and failed trials are left out
    unless ``show_unfinished``."""
    param_axes = [
        search_axis(name, [t.params[name] for t in trials if name in t.params], search_params)
        for name in param_names
    ]
    finished = [t for t in trials if t.state in FINISHED_STATES]
    completed = [t for t in finished if t.state == "COMPLETE"]
    span = value_range([t.value for t in completed]) or (0.0, 1.0)
    objective = ParamAxis("objective", categorical=False, low=span[0], high=span[1])
    labels = short_names(param_names)
    axes = [ParallelAxis.of(a, labels[a.name]) for a in param_axes]
    axes.append(ParallelAxis.of(objective, "objective"))

    lines = []
    for trial in finished:
        complete = trial.state == "COMPLETE"
        if not complete and not show_unfinished:
            continue
        ys = [axis.position(trial.params.get(axis.name)) for axis in param_axes]
        position = objective.position(trial.value) if complete else math.nan
        # The objective axis spans the values' robust range: a diverged value sits at its end.
        end = min(max(position, 0.0), 1.0) if math.isfinite(position) else math.nan
        ys.append(end)
        goodness = end if maximize else 1.0 - end
        lines.append(
            ParallelLine(
                trial.id,
                tuple(ys),
                color=end,
                grey=not complete or trial.excluded,
                goodness=goodness if math.isfinite(goodness) else 0.0,
            )
        )
    return ParallelCoordinateInfo(tuple(axes), tuple(lines), span, maximize, len(finished))
