"""What the Pareto-front view draws for a two-objective study, computed apart from drawing it
(as :mod:`._parallel_info` does): each completed trial as a point (first objective across,
second up), which of them are on the front, and the step line that bounds the region the front
dominates; plus how an objective's value reads in the table, the plot and the export dialog.
No Qt: tested without a GUI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from metagui.core.history import Direction, Objective, TrialRow
from metagui.core.objectives import objective_label
from metagui.core.pareto import front_trials

__all__ = [
    "ParetoInfo",
    "ParetoPoint",
    "axis_label",
    "better_hint",
    "column_label",
    "front_steps",
    "pareto_info",
]


def better_hint(direction: Direction) -> str:
    """``↑ better`` (higher values are better) or ``↓ better``."""
    return "↑ better" if direction == "maximize" else "↓ better"


def axis_label(objective: Objective) -> str:
    """An objective's axis title: ``validation accuracy (higher is better)`` (a plot's label
    shortens that to ``validation accuracy ↑`` where it does not fit)."""
    better = "higher" if objective.direction == "maximize" else "lower"
    return f"{objective_label(objective.name)} ({better} is better)"


def column_label(objective: Objective) -> str:
    """An objective's column title, short: ``validation accuracy ↑``."""
    return f"{objective_label(objective.name)} {better_hint(objective.direction)[0]}"


@dataclass(frozen=True)
class ParetoPoint:
    """One completed trial with a finite value for both objectives."""

    trial_id: int
    number: int
    x: float
    """Its value of the first objective."""
    y: float
    """Its value of the second objective."""
    on_front: bool
    excluded: bool
    """Excluded by the researcher: drawn, but never on the front."""


@dataclass(frozen=True)
class ParetoInfo:
    """Everything the Pareto-front view draws."""

    objectives: tuple[Objective, ...]
    points: tuple[ParetoPoint, ...]
    """Every drawable trial, in trial-number order."""
    front: tuple[ParetoPoint, ...]
    """The points on the front, by their first objective's value, best first."""
    step_xs: tuple[float, ...]
    step_ys: tuple[float, ...]
    """The line that bounds what the front dominates (see :func:`front_steps`)."""
    numbers: tuple[int, int]
    """The lowest and highest trial number drawn (what the colours span); (0, 0) for none."""
    completed: int
    """Completed trials, those without two finite values (not drawn) included."""

    @property
    def x_label(self) -> str:
        return axis_label(self.objectives[0])

    @property
    def y_label(self) -> str:
        return axis_label(self.objectives[1])


def front_steps(
    front: Sequence[tuple[float, float]],
    directions: Sequence[Direction],
    extent: Sequence[tuple[float, float]] = (),
) -> tuple[list[float], list[float]]:
    """The staircase through the ``front`` points (x, y) that bounds the region they dominate:
    from each point along the first objective to the next point's value, then along the second
    to that point, so that every point on the dominated side of the line is beaten by a front
    point. It starts and ends at the worst values among ``extent`` (the other points drawn),
    so that the line frames everything it dominates."""
    if not front:
        return [], []
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    costs = sorted((x * signs[0], y * signs[1]) for x, y in front)
    worst_x = max([c[0] for c in costs] + [x * signs[0] for x, _ in extent])
    worst_y = max([c[1] for c in costs] + [y * signs[1] for _, y in extent])
    xs = [costs[0][0]]
    ys = [worst_y]
    for i, (cx, cy) in enumerate(costs):
        xs.append(cx)
        ys.append(cy)
        following = costs[i + 1][0] if i + 1 < len(costs) else worst_x
        xs.append(following)
        ys.append(cy)
    return [x * signs[0] for x in xs], [y * signs[1] for y in ys]


def pareto_info(trials: Sequence[TrialRow], objectives: Sequence[Objective]) -> ParetoInfo:
    """What to draw for a study's ``trials`` (any order, any state) scored by two
    ``objectives``: the completed trials with a finite value of each as points, which are on
    the front (:func:`~metagui.core.pareto.front_trials`, the same set as everywhere), and the
    front's step line."""
    if len(objectives) != 2:
        raise ValueError(f"a Pareto plot shows two objectives, not {len(objectives)}")
    directions = tuple(o.direction for o in objectives)
    on_front = {t.id for t in front_trials(trials, directions)}
    complete = sorted((t for t in trials if t.state == "COMPLETE"), key=lambda t: t.number)
    points = []
    for t in complete:
        values = t.objective_values
        if values is None or len(values) != 2 or not all(math.isfinite(v) for v in values):
            continue
        points.append(
            ParetoPoint(t.id, t.number, values[0], values[1], t.id in on_front, t.excluded)
        )
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    front = sorted((p for p in points if p.on_front), key=lambda p: (p.x * signs[0], p.number))
    xs, ys = front_steps(
        [(p.x, p.y) for p in front], directions, [(p.x, p.y) for p in points if not p.excluded]
    )
    numbers = (points[0].number, points[-1].number) if points else (0, 0)
    return ParetoInfo(
        tuple(objectives), tuple(points), tuple(front), tuple(xs), tuple(ys), numbers, len(complete)
    )
