"""Grid search over a conditional space: every combination of the active parameters' grid
values, each exactly once.

Optuna's ``GridSampler`` needs one fixed cartesian product. Over a conditional space it would
run every configuration once per value of each parameter that is inactive in it (protonet
once per ``inner_steps`` value), so the combinations are enumerated here, along the
conditions, and handed to the study one at a time (``enqueue_trial``). Like ``GridSampler``,
the order is a seeded shuffle, so that a budget smaller than the grid still spreads over it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from metagui.core.search_space import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
)
from metagui.core.strategies._common import AnyParam, check_value, float_top, int_top, snap

__all__ = ["GRID_LIMIT", "GRID_POINTS", "Grid", "combination_key", "grid_axis", "grid_combinations"]

GRID_POINTS = 5
"""Values per float range without a step, and per int range with more values than this:
evenly spaced, or log-spaced for log ranges, ends included."""
GRID_LIMIT = 100_000
"""More combinations than this is not a grid search anyone can run: refused up front."""


def grid_axis(param: AnyParam, points: int = GRID_POINTS) -> list[Any]:
    """The values grid search tries for ``param``: a stepped float's every step, an int
    range's every value when there are at most ``points`` of them (else ``points`` of them,
    spread as for floats), ``points`` values of a float range, every choice, a fixed value."""
    if isinstance(param, FixedParam):
        return [param.value]
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, FloatParam) and param.step is not None:
        count = round((float_top(param) - param.low) / param.step) + 1
        if count > GRID_LIMIT:
            raise ValueError(
                f"parameter {param.name!r}: step {param.step} makes {count} grid values"
            )
        return [check_value(param, param.low + k * param.step) for k in range(count)]
    if isinstance(param, IntParam) and (int_top(param) - param.low) // param.step < points:
        return list(range(param.low, int_top(param) + 1, param.step))
    spread = _spread(float(param.low), float(param.high), param.log, points)
    values = [snap(param, v) for v in spread]
    return list(dict.fromkeys(values))  # an int range's rounding can repeat a value


def _spread(low: float, high: float, log: bool, points: int) -> list[float]:
    if low == high:
        return [low]
    if log:
        ratio = math.log(high / low)
        return [low * math.exp(ratio * i / (points - 1)) for i in range(points)]
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def grid_combinations(
    space: SearchSpace, base: dict[str, Any], limit: int = GRID_LIMIT
) -> list[dict[str, Any]]:
    """Every combination of the active parameters' grid values (fixed ones included), in
    the space's order: a parameter is varied only in the combinations where it is active."""
    axes = {p.name: grid_axis(p) for p in space.params}
    out: list[dict[str, Any]] = []

    def walk(index: int, values: dict[str, Any]) -> None:
        if index == len(space.params):
            out.append(dict(values))
            if len(out) > limit:
                raise ValueError(
                    f"the grid has more than {limit} combinations: give the float and int "
                    "ranges coarser steps, or use another strategy"
                )
            return
        name = space.params[index].name
        if not space.active(name, values, base):
            walk(index + 1, values)
            return
        for value in axes[name]:
            values[name] = value
            walk(index + 1, values)
        del values[name]

    walk(0, {})
    return out


def combination_key(space: SearchSpace, params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable identity for a combination: its searched (non-fixed) parameters' values."""
    return tuple(
        (p.name, params[p.name])
        for p in space.params
        if not isinstance(p, FixedParam) and p.name in params
    )


class Grid:
    """The combinations still to run, in a seeded order; a combination counts as run as
    soon as any trial (asked, enqueued or loaded) had exactly its settings."""

    def __init__(self, space: SearchSpace, base: dict[str, Any], seed: int) -> None:
        import numpy as np

        self._space = space
        combos = grid_combinations(space, base)
        order = np.random.default_rng(seed).permutation(len(combos))
        self._todo = [combos[i] for i in order]
        self._at = 0  # combinations before this index were run
        self._done: set[tuple[tuple[str, Any], ...]] = set()
        self.size = len(combos)

    def next(self) -> dict[str, Any] | None:
        """The next combination not run yet (searched parameters only), or ``None``."""
        while self._at < len(self._todo):
            combo = self._todo[self._at]
            if combination_key(self._space, combo) not in self._done:
                return {
                    k: v for k, v in combo.items() if not isinstance(self._space.get(k), FixedParam)
                }
            self._at += 1
        return None

    def mark(self, runs: Iterable[dict[str, Any]]) -> None:
        """Count these settings as run."""
        for params in runs:
            self._done.add(combination_key(self._space, params))

    @property
    def exhausted(self) -> bool:
        return self.next() is None
