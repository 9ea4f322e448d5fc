"""What the parallel-coordinates view draws, computed without Qt (no QApplication here)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from metagui.core.history import TrialRow, TrialState
from metagui.qt.views._parallel_info import parallel_coordinate_info

SPACE: list[dict[str, Any]] = [
    {"name": "algorithm.name", "type": "categorical", "choices": ["maml", "fomaml", "metasgd"]},
    {"name": "algorithm.inner_lr", "type": "float", "low": 0.001, "high": 0.1, "log": True},
    {"name": "model.width", "type": "int", "low": 10, "high": 50},
]
NAMES = [p["name"] for p in SPACE]


def trial(
    number: int,
    state: TrialState,
    value: float | None,
    params: dict[str, Any],
    excluded: bool = False,
) -> TrialRow:
    return TrialRow(
        id=100 + number,
        study_id=1,
        number=number,
        state=state,
        params=params,
        value=value,
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
    )


def full(name: str, lr: float, width: int) -> dict[str, Any]:
    return {"algorithm.name": name, "algorithm.inner_lr": lr, "model.width": width}


TRIALS = [
    trial(0, "COMPLETE", 0.4, full("maml", 0.01, 30)),
    trial(1, "COMPLETE", 0.1, full("metasgd", 0.001, 10)),
    trial(2, "PRUNED", None, full("fomaml", 0.1, 50)),
    trial(3, "COMPLETE", 0.2, {"algorithm.name": "maml", "model.width": 20}),  # no inner_lr
    trial(4, "FAILED", None, full("maml", 0.05, 40)),
    trial(5, "RUNNING", None, full("maml", 0.02, 60)),  # widens the width axis to 60
]


def lines_by_number(maximize: bool = False, show_unfinished: bool = True) -> dict[int, Any]:
    info = parallel_coordinate_info(TRIALS, NAMES, SPACE, maximize, show_unfinished)
    return {line.trial_id - 100: line for line in info.lines}


def test_axes_are_the_parameters_then_the_objective_with_their_kinds_and_ticks() -> None:
    info = parallel_coordinate_info(TRIALS, NAMES, SPACE, maximize=False)
    assert [a.name for a in info.axes] == [*NAMES, "objective"]
    assert [a.label for a in info.axes] == ["name", "inner_lr", "width", "objective"]
    assert [a.kind for a in info.axes] == ["categorical", "log", "numeric", "numeric"]
    assert info.objective is info.axes[-1]
    # the categories in the search space's order, evenly spaced from the bottom
    assert info.axes[0].choices == ("maml", "fomaml", "metasgd")
    assert info.axes[0].ticks == ((0.0, "maml"), (0.5, "fomaml"), (1.0, "metasgd"))
    # the log axis: the search space's range, a tick at each decade
    lr = info.axes[1]
    assert (lr.low, lr.high) == (0.001, 0.1)
    assert [text for _, text in lr.ticks] == ["0.001", "0.01", "0.1"]
    assert lr.ticks[1][0] == pytest.approx(0.5)
    # a value outside the search space (the running trial's width 60) widens its axis
    assert (info.axes[2].low, info.axes[2].high) == (10.0, 60.0)
    # the objective over the completed values
    assert info.objective_range == (0.1, 0.4)
    assert info.finished == 5


def test_lines_are_normalised_per_axis_with_gaps_for_unused_parameters() -> None:
    lines = lines_by_number()
    assert set(lines) == {0, 1, 2, 3, 4}  # the running trial has no line
    assert lines[0].ys == pytest.approx((0.0, 0.5, 0.4, 1.0))
    assert lines[1].ys == pytest.approx((1.0, 0.0, 0.0, 0.0))
    assert lines[2].ys[:3] == pytest.approx((0.5, 1.0, 0.8))
    assert math.isnan(lines[3].ys[1])  # a conditional parameter it did not use
    assert math.isnan(lines[2].ys[-1]) and math.isnan(lines[4].ys[-1])  # no value


def test_pruned_failed_and_excluded_trials_are_grey_or_left_out() -> None:
    lines = lines_by_number()
    assert {n for n, line in lines.items() if line.grey} == {2, 4}
    assert math.isnan(lines[2].color) and lines[2].goodness == 0.0
    assert set(lines_by_number(show_unfinished=False)) == {0, 1, 3}
    excluded = [trial(0, "COMPLETE", 0.4, full("maml", 0.01, 30), excluded=True), TRIALS[1]]
    info = parallel_coordinate_info(excluded, NAMES, SPACE, maximize=False)
    assert [line.grey for line in info.lines] == [True, False]


@pytest.mark.parametrize("maximize", [False, True])
def test_the_direction_decides_which_lines_are_on_top(maximize: bool) -> None:
    lines = lines_by_number(maximize)
    # colour: where the value sits on the map, low to high, whatever the direction
    assert lines[1].color == pytest.approx(0.0) and lines[0].color == pytest.approx(1.0)
    assert lines[3].color == pytest.approx(1 / 3)
    best, worst = (0, 1) if maximize else (1, 0)
    assert lines[best].goodness == pytest.approx(1.0)
    assert lines[worst].goodness == pytest.approx(0.0)


def test_a_diverged_value_sits_at_the_end_of_the_objective_axis() -> None:
    values = [0.1, 0.2, 0.3, 0.25, 0.15, 1e12]
    trials = [trial(n, "COMPLETE", v, full("maml", 0.01, 20)) for n, v in enumerate(values)]
    info = parallel_coordinate_info(trials, NAMES, SPACE, maximize=False)
    assert info.objective_range == (0.1, 0.3)
    assert info.lines[-1].ys[-1] == 1.0
    assert info.lines[2].ys[-1] == pytest.approx(1.0)


def test_an_empty_study_has_its_axes_and_no_lines() -> None:
    info = parallel_coordinate_info([], NAMES, SPACE, maximize=True)
    assert info.lines == () and info.finished == 0
    assert [a.kind for a in info.axes] == ["categorical", "log", "numeric", "numeric"]
    assert info.objective_range == (0.0, 1.0)
    assert (info.axes[1].low, info.axes[1].high) == (0.001, 0.1)
    assert parallel_coordinate_info([], [], [], maximize=False).axes[0].name == "objective"
