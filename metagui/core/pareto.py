"""The Pareto front of a multi-objective study: which results no other result beats on every
objective. One function for the runner, the CLI, the app's table and plot, and exports.

A result *dominates* another when it is at least as good on every objective and better on one;
the front is the set of results no other dominates (two identical results are both on it).
Results with a value that is not a finite number never are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metagui.core.history import Direction, TrialRow

__all__ = ["front_trials", "pareto_front"]

# Rows compared at once by the general (3+ objectives) path: a chunk x n boolean matrix per
# objective, 2,000 x 10,000 = 20 MB, keeps 10,000 trials well under a second.
_CHUNK = 2000


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[Direction]) -> list[int]:
    """The indices (ascending) of the non-dominated ``points``, each one value per direction."""
    if not len(points):
        return []
    values = np.asarray(points, dtype=float).reshape(len(points), -1)
    if values.shape[1] != len(directions):
        raise ValueError(f"points have {values.shape[1]} values, directions {len(directions)}")
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    costs = values * signs  # every objective minimised
    finite = np.flatnonzero(np.isfinite(costs).all(axis=1))
    costs = costs[finite]
    if len(costs) == 0:
        return []
    if costs.shape[1] == 1:  # one objective: the best value, ties included
        keep = np.flatnonzero(costs[:, 0] == costs[:, 0].min())
    else:
        keep = _front_2d(costs) if costs.shape[1] == 2 else _front_nd(costs)
    return sorted(int(i) for i in finite[keep])


def _front_2d(costs: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an n x 2 cost array in O(n log n): sorted by (x, y), a point is
    beaten by an earlier x with y at most its own, or by its own x with a smaller y."""
    order = np.lexsort((costs[:, 1], costs[:, 0]))
    xs, ys = costs[order, 0], costs[order, 1]
    keep = np.zeros(len(order), dtype=bool)
    best_before = np.inf  # smallest y of the points with a smaller x
    start = 0
    while start < len(order):
        stop = start
        while stop < len(order) and xs[stop] == xs[start]:
            stop += 1
        group_min = ys[start]  # sorted by y within one x
        if group_min < best_before:
            keep[start:stop] = ys[start:stop] == group_min
        best_before = min(best_before, group_min)
        start = stop
    return order[keep]


def _front_nd(costs: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an n x k cost array, compared a chunk of rows at a time."""
    n = len(costs)
    dominated = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = costs[start : start + _CHUNK]
        # [i, j]: row j of all costs is no worse than row i of the block everywhere, better once
        no_worse = np.all(costs[None, :, :] <= block[:, None, :], axis=2)
        better = np.any(costs[None, :, :] < block[:, None, :], axis=2)
        dominated[start : start + len(block)] = np.any(no_worse & better, axis=1)
    return np.flatnonzero(~dominated)


def front_trials(trials: Sequence[TrialRow], directions: Sequence[Direction]) -> list[TrialRow]:
    """The trials on the Pareto front of ``directions``: among the COMPLETE trials that count
    (not excluded) with a value per objective, those no other beats; in trial order."""
    counted = [
        t
        for t in trials
        if t.state == "COMPLETE"
        and not t.excluded
        and (values := t.objective_values) is not None
        and len(values) == len(directions)
    ]
    points = [t.objective_values or () for t in counted]
    front = [counted[i] for i in pareto_front(points, directions)]
    return sorted(front, key=lambda t: t.number)
