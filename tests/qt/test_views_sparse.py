"""Plots of a study that has barely begun read well: one trial or one step shows as a marker,
trial-number axes are labelled with whole numbers only, counts say "1 trial", and a colour
bar's label fits the bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QFontMetricsF
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, Clock, History, write_study

from metagui.qt._history_model import HistoryModel
from metagui.qt.views import (
    BestSoFarPlot,
    CompareStudies,
    LossPlot,
    ParallelCoordinates,
    TrajectoryPlot,
)
from metagui.qt.views._axis_items import ValueAxis, integer_ticks, make_colorbar
from metagui.qt.views._labels import counted, fit_label, label_variants
from metagui.qt.views._trials_table import TrialsTable
from metagui.qt.views._view_box import RobustViewBox, has_lone_points

METASGD = TRIALS[1][2]


@pytest.fixture
def one_trial(tmp_path: Path, clock: Clock) -> tuple[History, HistoryModel]:
    """A study with one complete trial and a running Meta-SGD trial that has learned one
    step's inner learning rates."""
    history = write_study(tmp_path / "history.db", clock, trials=[TRIALS[0]])
    history.start(1, dict(METASGD))
    history.write_learned(1, 0)
    model = HistoryModel()
    model.open(history.path)
    yield history, model
    model.close()
    history.writer.close()


def _shown(qtbot: QtBot, view: object, study_id: int, size: tuple[int, int] = (900, 500)) -> None:
    qtbot.addWidget(view)
    view.resize(*size)  # type: ignore[attr-defined]
    view.show()  # type: ignore[attr-defined]
    view.set_study(study_id)  # type: ignore[attr-defined]
    view.redraw()  # type: ignore[attr-defined]


def _ticks(axis: pg.AxisItem) -> list[float]:
    low, high = axis.range
    return [v for _, values in axis.tickValues(low, high, 600) for v in values]


# -- pure helpers ---------------------------------------------------------------------------------
def test_integer_ticks_leave_out_fractions() -> None:
    axis = ValueAxis("bottom")
    fractional = [v for _, vs in axis.tickValues(-0.4, 0.4, 400) for v in vs]
    assert any(not float(v).is_integer() for v in fractional)  # what pyqtgraph gives
    axis.set_integer(True)
    assert [v for _, vs in axis.tickValues(-0.4, 0.4, 400) for v in vs] == [0.0]
    assert [v for _, vs in axis.tickValues(0.5, 1.5, 400) for v in vs] == [1.0]
    many = [v for _, vs in axis.tickValues(-0.5, 40.5, 400) for v in vs]
    assert many and all(float(v).is_integer() for v in many) and 0.0 in many
    assert integer_ticks([(0.5, [0.5, 1.0, 1.5])], 0.2, 0.8) == [(1.0, [])]


def test_lone_points_are_found() -> None:
    assert has_lone_points([3.0], [0.2])
    assert has_lone_points([3.0, 3.0], [0.2, 0.2])  # a best-so-far line of one trial
    assert has_lone_points([0, 1, 2], [np.nan, 0.5, np.nan])
    assert not has_lone_points([0, 1], [0.2, 0.3])
    assert not has_lone_points([0, 1, 2, 3], [0.2, 0.3, np.nan, np.nan])
    assert not has_lone_points([], [])


def test_counts_say_one_trial() -> None:
    assert (counted(0, "trial"), counted(1, "trial"), counted(2, "trial")) == (
        "0 trials",
        "1 trial",
        "2 trials",
    )


def test_a_long_label_gets_shorter_to_fit() -> None:
    text = "validation accuracy (higher is better)"
    assert label_variants(text) == [text, "validation accuracy ↑", "accuracy ↑"]
    width = len  # one unit per character
    assert fit_label(text, 100, width) == text
    assert fit_label(text, 25, width) == "validation accuracy ↑"
    assert fit_label(text, 12, width) == "accuracy ↑"
    assert fit_label(text, 6, width) == "accur…"
    assert fit_label("validation MSE (lower is better)", 22, width) == "validation MSE ↓"


# -- the views ------------------------------------------------------------------------------------
def test_best_so_far_of_one_trial_has_whole_trial_numbers(
    qtbot: QtBot, one_trial: tuple[History, HistoryModel]
) -> None:
    history, model = one_trial
    view = BestSoFarPlot(model)
    _shown(qtbot, view, history.study_id)
    xs, _ = view.points.getData()
    assert list(xs) == [0.0] and view.points.opts["symbol"] == "o"
    ticks = _ticks(view.plot.getAxis("bottom"))
    assert ticks and all(float(t).is_integer() for t in ticks)
    view.set_x_axis("wall time")
    view.redraw()
    seconds = _ticks(view.plot.getAxis("bottom"))
    assert not all(float(t).is_integer() for t in seconds)  # a time axis keeps its fractions


def test_a_study_of_one_trial_shows_a_marker_when_compared(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    history = write_study(tmp_path / "one.db", clock, trials=[TRIALS[0]])
    model = HistoryModel()
    model.open(history.path)
    try:
        view = CompareStudies(model)
        _shown(qtbot, view, history.study_id)
        curve = view.curves[history.study_id]
        assert curve.opts["symbol"] == "o"
        assert all(float(t).is_integer() for t in _ticks(view.plot.getAxis("bottom")))
    finally:
        model.close()
        history.writer.close()


def test_one_learned_step_shows_as_markers_and_trial_axes_are_whole(
    qtbot: QtBot, one_trial: tuple[History, HistoryModel]
) -> None:
    history, model = one_trial
    view = TrajectoryPlot(model)
    _shown(qtbot, view, history.study_id)
    assert view.learned_trial() is not None and view.learned_trial().number == 1  # type: ignore[union-attr]
    assert view.learned_curves
    for curve in view.learned_curves.values():
        xs, _ = curve.getData()
        assert len(xs) == 1 and curve.opts["symbol"] == "o"
    assert all(float(t).is_integer() for t in _ticks(view.sampled_plot.getAxis("bottom")))
    view.set_param("algorithm.inner_steps")  # an int parameter: whole numbers on y too
    view.redraw()
    assert all(float(t).is_integer() for t in _ticks(view.sampled_plot.getAxis("left")))

    # More steps make a line: the markers go.
    history.write_learned(1, 200)
    assert model.poll()
    view.redraw()
    assert all(c.opts["symbol"] is None for c in view.learned_curves.values())


def test_parallel_coordinates_title_and_table_count_say_one_trial(
    qtbot: QtBot, one_trial: tuple[History, HistoryModel]
) -> None:
    history, model = one_trial
    view = ParallelCoordinates(model)
    _shown(qtbot, view, history.study_id)
    assert view.plot.titleLabel.text.endswith("1 finished trial")
    table = TrialsTable(model)
    _shown(qtbot, table, history.study_id)
    assert table.count_label.text() == "2 trials"
    table.set_state_filter("Complete")
    table.redraw()
    assert table.count_label.text() == "1 of 2 trials"


def test_a_colour_bar_label_fits_a_short_bar(qtbot: QtBot) -> None:
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    bar = make_colorbar("objective", widget.palette())
    widget.addItem(bar)
    axis = bar.getAxis("left")
    text = "validation accuracy (higher is better)"
    axis.setLabel(text)
    widget.resize(120, 600)
    widget.show()
    qtbot.waitUntil(lambda: axis.shown_label() == text)
    assert axis.toolTip() == text
    widget.resize(120, 150)  # a plot squeezed by a small screen
    qtbot.waitUntil(lambda: axis.shown_label() != text)
    shown = axis.shown_label()
    room = axis.size().height()
    assert QFontMetricsF(axis.label.font()).horizontalAdvance(shown) <= room
    assert shown in ("validation accuracy ↑", "accuracy ↑") or shown.endswith("…")


def test_a_line_of_one_point_in_a_live_plot_gets_markers_until_it_is_a_line(qtbot: QtBot) -> None:
    box = RobustViewBox()
    widget = pg.PlotWidget(viewBox=box)
    qtbot.addWidget(widget)
    line = pg.PlotDataItem(pen=pg.mkPen("r"))
    scatter = pg.PlotDataItem(pen=None, symbol="s")
    box.addItem(line)
    box.addItem(scatter)
    line.setData([500.0], [3.1])  # one evaluation
    assert line.opts["symbol"] == "o"
    line.setData([500.0, 1000.0], [3.1, 2.0])
    assert line.opts["symbol"] is None
    scatter.setData([1.0], [2.0])
    assert scatter.opts["symbol"] == "s"  # its own markers are left alone


def test_the_running_trials_first_evaluation_shows_in_the_loss_plot(
    qtbot: QtBot, one_trial: tuple[History, HistoryModel]
) -> None:
    history, model = one_trial
    history.write_steps(1, 250)  # trial 1 runs on: one validation value, at step 250
    assert model.poll()
    view = LossPlot(model)
    _shown(qtbot, view, history.study_id)
    lines = [
        item
        for item in view.view_boxes["val"].addedItems
        if isinstance(item, pg.PlotDataItem) and item.isVisible() and item.xData is not None
    ]
    single = [item for item in lines if len(item.xData) == 1]
    assert single and all(item.opts["symbol"] == "o" for item in single)
