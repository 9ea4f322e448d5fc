"""What the Pareto-front view draws, computed without Qt: the points, the front (the core's,
checked against a direct computation of the non-dominated set) and the step line that bounds
what the front dominates; and how objective values read."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from pareto_data import OBJECTIVES, pareto_trials

from metagui.core.history import Direction, Objective, TrialRow
from metagui.core.objectives import format_objective, objective_text, objectives_text
from metagui.qt.views._pareto_info import axis_label, column_label, front_steps, pareto_info


def trial(
    number: int,
    values: tuple[float, float] | None,
    state: str = "COMPLETE",
    excluded: bool = False,
) -> TrialRow:
    return TrialRow(
        id=100 + number,
        study_id=1,
        number=number,
        state=state,  # type: ignore[arg-type]
        params={},
        value=None if values is None else values[0],
        test_value=None,
        seed=None,
        started=None,
        finished=None,
        error=None,
        pruned_at_step=None,
        pruned_reason=None,
        excluded=excluded,
        device=None,
        updated_seq=number,
        values=values,
    )


def the_trials() -> list[TrialRow]:
    return [
        trial(n, None if state != "COMPLETE" else values, state, excluded=n == 5)
        for n, (state, values, _) in enumerate(pareto_trials())
    ]


def beats_or_equals(a: tuple[float, float], b: tuple[float, float], signs: list[float]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on both objectives (``signs``: -1 maximise)."""
    return all(sa * s <= sb * s for sa, sb, s in zip(a, b, signs, strict=True))


def non_dominated(points: list[tuple[float, float]], signs: list[float]) -> set[int]:
    """The direct definition: no other point at least as good everywhere and better once."""
    return {
        i
        for i, p in enumerate(points)
        if not any(beats_or_equals(q, p, signs) and q != p for q in points)
    }


def test_the_points_are_the_completed_trials_and_the_front_their_non_dominated_ones() -> None:
    trials = the_trials()
    info = pareto_info(trials, OBJECTIVES)
    completed = [t for t in trials if t.state == "COMPLETE"]
    assert [p.number for p in info.points] == [t.number for t in completed]
    assert info.completed == len(completed) and info.numbers == (0, 29)
    counted = [p for p in info.points if not p.excluded]
    points = [(p.x, p.y) for p in counted]
    expected = {counted[i].trial_id for i in non_dominated(points, [-1.0, 1.0])}
    assert {p.trial_id for p in info.front} == expected
    assert {p.trial_id for p in info.points if p.on_front} == expected
    assert not [p for p in info.points if p.excluded and p.on_front]
    # Best first by the first objective (accuracy, maximised): the front's accuracies fall.
    assert [p.x for p in info.front] == sorted((p.x for p in info.front), reverse=True)
    assert info.x_label == "validation accuracy (higher is better)"
    assert info.y_label == "parameters (lower is better)"


def test_an_excluded_trial_leaves_the_front_to_those_it_dominated() -> None:
    trials = [trial(0, (0.9, 100.0)), trial(1, (0.8, 200.0)), trial(2, (0.5, 50.0))]
    assert [p.number for p in pareto_info(trials, OBJECTIVES).front] == [0, 2]
    trials[0] = trial(0, (0.9, 100.0), excluded=True)
    info = pareto_info(trials, OBJECTIVES)
    assert [p.number for p in info.front] == [1, 2]
    assert [p.number for p in info.points] == [0, 1, 2]  # still drawn (hollow)


def test_trials_without_two_finite_values_are_not_drawn() -> None:
    trials = [
        trial(0, (0.9, 100.0)),
        trial(1, (math.nan, 50.0)),
        trial(2, (0.7, math.inf)),
        trial(3, None, "PRUNED"),
        trial(4, None, "RUNNING"),
    ]
    info = pareto_info(trials, OBJECTIVES)
    assert [p.number for p in info.points] == [0]
    assert info.completed == 3  # two completed trials without both values: said, not drawn
    assert [p.number for p in info.front] == [0]


def test_a_study_of_one_objective_has_no_pareto_plot() -> None:
    with pytest.raises(ValueError, match="two objectives"):
        pareto_info([], OBJECTIVES[:1])


def on_dominated_side(
    xs: list[float], ys: list[float], point: tuple[float, float], signs: list[float]
) -> bool:
    """Whether ``point`` lies on or beyond the step line ``xs, ys`` (away from the ideal), read
    from the line's geometry alone: some horizontal run of the line spans the point's first
    objective at a second objective at least as good as the point's."""
    cx, cy = point[0] * signs[0], point[1] * signs[1]
    for i in range(len(xs) - 1):
        if ys[i] != ys[i + 1]:
            continue
        low, high = sorted((xs[i] * signs[0], xs[i + 1] * signs[0]))
        if low <= cx <= high and cy >= ys[i] * signs[1]:
            return True
    return False


@pytest.mark.parametrize("directions", list(itertools.product(["minimize", "maximize"], repeat=2)))
def test_the_step_line_bounds_exactly_what_the_front_dominates(
    directions: tuple[Direction, Direction],
) -> None:
    rng = random.Random(7)
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    points = [(round(rng.uniform(0, 10), 1), round(rng.uniform(0, 10), 1)) for _ in range(40)]
    front = [points[i] for i in sorted(non_dominated(points, signs))]
    xs, ys = front_steps(front, directions, points)
    # Horizontal and vertical runs in turn, through every front point.
    for i in range(len(xs) - 1):
        assert xs[i] == xs[i + 1] or ys[i] == ys[i + 1]
    assert set(front) <= set(zip(xs, ys, strict=True))
    # It spans the points drawn: from the worst value up to the worst value across.
    worst_x = max(p[0] * signs[0] for p in points) * signs[0]
    worst_y = max(p[1] * signs[1] for p in points) * signs[1]
    assert ys[0] == worst_y and xs[-1] == worst_x
    # Probes across the span of the points (the line ends there), above and below them.
    low_x, high_x = min(p[0] for p in points), max(p[0] for p in points)
    probes = points + [(rng.uniform(low_x, high_x), rng.uniform(-1, 11)) for _ in range(300)]
    for probe in probes:
        dominated = any(beats_or_equals(f, probe, signs) for f in front)
        assert on_dominated_side(xs, ys, probe, signs) == dominated, probe


def test_a_front_of_one_point_is_a_corner() -> None:
    xs, ys = front_steps([(0.9, 10.0)], ("maximize", "minimize"), [(0.5, 30.0), (0.9, 10.0)])
    assert (xs, ys) == ([0.9, 0.9, 0.5], [30.0, 10.0, 10.0])
    assert front_steps([], ("maximize", "minimize")) == ([], [])


def test_objective_values_read_as_a_researcher_writes_them() -> None:
    assert format_objective("parameters", 1761.0) == "1,761"
    assert format_objective("val/accuracy", 0.912345) == "0.9123"
    assert format_objective("val/mse", math.nan) == "–"
    assert objective_text("training_time", 12.5) == "training time 12.5 s"
    assert objective_text("adaptation_time", 3.25) == "adaptation time 3.25 ms/task"
    assert objective_text("val/accuracy", None) == "validation accuracy –"
    assert objectives_text(OBJECTIVES, (0.91, 1761.0)) == (
        "validation accuracy 0.91, parameters 1,761"
    )
    assert axis_label(Objective("test/mse", "minimize")) == "test MSE (lower is better)"
    assert column_label(OBJECTIVES[0]) == "validation accuracy ↑"
