"""A diverged trial (losses of 1e12, inf, NaN) does not flatten the other trials: the live plots
fit their y axis and colour scale to the bulk of the values and clip the rest, while zooming
and panning by hand (and pyqtgraph's "A" button and menu) keep working."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from test_views_data import (
    EVAL_EVERY,
    LOG_EVERY,
    STEPS,
    TRIALS,
    Clock,
    History,
    shown,
    write_study,
)

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views import (
    BestSoFarPlot,
    CompareStudies,
    LiveView,
    LossPlot,
    ParallelCoordinates,
    TrajectoryPlot,
)
from metagui.qt.views._ranges import robust_range

DIVERGED = 1e12
NORMAL = [TRIALS[n] for n in (0, 1, 3, 5, 6)]  # complete, values 0.09 .. 0.42
RUNNING = TRIALS[7]


# -- the helper -------------------------------------------------------------------------------
def test_robust_range_of_nothing_finite_is_none() -> None:
    assert robust_range([]) is None
    assert robust_range([math.nan, math.inf, -math.inf]) is None
    assert robust_range([0.0, -1.0, math.nan, math.inf], log=True) is None


def test_robust_range_of_equal_values_is_a_small_range_around_them() -> None:
    assert robust_range([2.0] * 5) == pytest.approx((1.9, 2.1))
    assert robust_range([0.0] * 3) == pytest.approx((-0.5, 0.5))
    assert robust_range([7.0]) == pytest.approx((6.65, 7.35))
    assert robust_range([10.0] * 3, log=True) == pytest.approx((0.75, 1.25))  # decades


def test_robust_range_ignores_nan_and_infinities_and_adds_the_margin() -> None:
    values = [1.0, 2.0, math.nan, math.inf, 3.0, -math.inf]
    assert robust_range(values) == pytest.approx((0.9, 3.1))
    assert robust_range(values, margin=0.0) == pytest.approx((1.0, 3.0))
    assert robust_range(np.array([[1.0, 2.0], [3.0, math.nan]]), margin=0.0) == (1.0, 3.0)


def test_robust_range_leaves_out_diverged_values_but_not_the_normal_extremes() -> None:
    # Five loss curves decaying from about 4 to 0.1, and a sixth that diverged.
    steps = np.arange(0, 1501, 50)
    normal = np.concatenate([0.1 * (k + 1) + 4.0 * np.exp(-steps / 300.0) for k in range(5)])
    diverged = np.full(steps.size, DIVERGED)
    low, high = robust_range(np.concatenate([normal, diverged]), margin=0.0) or (0, 0)
    assert (low, high) == (normal.min(), normal.max())
    # negative values (a log-likelihood loss) are fine on a linear axis
    low, high = robust_range([*(-normal), -DIVERGED]) or (0, 0)
    assert low <= -normal.max() and high >= -normal.min() and low > -10


def test_robust_range_of_a_few_trial_values_leaves_out_the_diverged_one() -> None:
    assert robust_range([0.2, 0.3, 0.5, DIVERGED], margin=0.0) == (0.2, 0.5)
    assert robust_range([0.2, 0.3, 0.5, 0.4, DIVERGED], log=True, margin=0.0) == pytest.approx(
        (math.log10(0.2), math.log10(0.5))
    )


def test_robust_range_keeps_values_of_the_bulks_own_magnitude() -> None:
    # No spread at all in the bulk: a value twice as large is no outlier, 1e12 is.
    assert robust_range([1.0] * 10 + [1.9, DIVERGED], margin=0.0) == (1.0, 1.9)
    low, high = robust_range([1.0] * 10 + [9.0, DIVERGED], log=True, margin=0.0) or (0, 0)
    assert (low, high) == pytest.approx((0.0, math.log10(9.0)))


def test_robust_range_in_log_space_ignores_non_positive_values() -> None:
    values = [-1.0, 0.0, 0.01, 0.1, 1.0, 10.0, DIVERGED, math.nan]
    low, high = robust_range(values, log=True) or (0, 0)
    assert (low, high) == pytest.approx((-2.15, 1.15))  # log10 0.01 .. 10, 5 % margin
    # on a linear axis the same values keep their zero and negative one
    low, high = robust_range(values, margin=0.0) or (0, 0)
    assert (low, high) == (-1.0, 10.0)


def test_robust_range_in_log_space_finds_outliers_in_decades() -> None:
    # A loss that underflowed to 1e-30 is far out in decades, yet next to 0.1 on a line.
    values = [0.1, 0.2, 0.5, 1.0, 2.0, 1e-30]
    assert robust_range(values, log=True, margin=0.0) == pytest.approx((-1.0, math.log10(2.0)))
    assert robust_range(values, margin=0.0) == (1e-30, 2.0)


# -- a study with a diverged trial ------------------------------------------------------------
def diverged_loss(i: int) -> float:
    """The diverged trial's loss at its ``i``-th logged step: normal for two steps, then 1e12,
    once infinite, once NaN and once zero (which has no place on a log axis)."""
    return [2.8, 2.5][i] if i < 2 else {10: math.inf, 11: math.nan, 12: 0.0}.get(i, DIVERGED)


@pytest.fixture
def study_with_diverged(tmp_path: Path, clock: Clock) -> Iterator[tuple[History, HistoryModel]]:
    """Five normal complete trials, a normal running one, and trial 6 that diverged (its loss
    and validation MSE 1e12, once inf and once NaN, as many steps as the others; its value
    1e12)."""
    built = write_study(tmp_path / "diverged.db", clock, [*NORMAL, RUNNING])
    trial_id = built.start(6, dict(TRIALS[0][2]))
    for i, step in enumerate(range(0, STEPS + 1, LOG_EVERY)):
        values = {"train/loss": diverged_loss(i)}
        if step % EVAL_EVERY == 0 and step > 0:
            values["val/mse"] = {10: math.nan, 20: math.inf}.get(i, DIVERGED)
        built.writer.add_metrics(trial_id, step, values, time=clock.advance(2.0))
    built.writer.finish_trial(trial_id, "COMPLETE", value=DIVERGED, test_value=DIVERGED)
    hm = HistoryModel()
    hm.open(built.path)
    yield built, hm
    hm.close()
    built.writer.close()


def y_range(view: LiveView, plot: pg.PlotItem) -> tuple[float, float]:
    """The y range as drawn: painting is when pyqtgraph applies auto range."""
    view.grab()
    low, high = plot.getViewBox().viewRange()[1]
    return low, high


def normal_values(study: StudyData, history: History, name: str) -> np.ndarray:
    """Every finite value of series ``name`` of the trials that did not diverge."""
    diverged = history.ids[6]
    return np.concatenate(
        [
            np.asarray(series[name].values)
            for trial_id in study.trials
            if trial_id != diverged and name in (series := study.metrics.get(trial_id, {}))
        ]
    )


@pytest.mark.parametrize("log", [False, True], ids=["linear", "log"])
def test_loss_plot_fits_the_normal_curves_and_clips_the_diverged_one(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel], log: bool
) -> None:
    history, model = study_with_diverged
    study = model.studies[history.study_id]
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_log_y(log)
    view.redraw()
    for panel, name in (("train", "train/loss"), ("val", "val/mse")):
        normal = normal_values(study, history, name)
        assert normal.max() < 5 and np.isfinite(normal).all()
        low, high = y_range(view, view.plots[panel])
        if log:
            low, high = 10**low, 10**high
            assert low > normal.min() / 2, panel  # the zero is left out in log space
        assert low <= normal.min() and high >= normal.max(), panel
        assert high < 1.5 * normal.max(), panel  # nowhere near 1e12
        # The data are kept as they are: the view clips them.
        drawn = view.bundles[panel].curve(history.ids[6])
        assert drawn is not None
        assert DIVERGED in drawn[1] and np.isinf(drawn[1]).any() and np.isnan(drawn[1]).any()
    # Colours by value: the normal trials spread over the whole colour bar.
    assert view.colorbar.levels() == (0.09, 0.42)


def test_a_diverged_focus_trial_counts_once_for_the_y_range(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel]
) -> None:
    history, model = study_with_diverged
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    # Six curves, one diverged; selected, it is drawn twice (faint and bold) but counts once.
    view.set_states({"COMPLETE"})
    view.set_trial(history.ids[6])
    view.redraw()
    assert len(view.visible_curves()) == 6
    assert DIVERGED in view.focus_curves["train"].yData
    normal = normal_values(model.studies[history.study_id], history, "train/loss")
    low, high = y_range(view, view.plots["train"])
    assert low <= normal.min() and normal.max() <= high < 1.5 * normal.max()


def test_toggling_log_y_keeps_the_shared_step_axis_over_every_logged_step(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel]
) -> None:
    # Validation starts at step EVAL_EVERY, the meta-train loss at 0: the linked step axis
    # spans the loss's steps whichever panel fits its range last (after a log toggle, both).
    history, model = study_with_diverged
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    for log in (False, True, False, True):
        view.set_log_y(log)
        view.redraw()
        view.grab()
        for panel in ("train", "val"):
            low, high = view.plots[panel].getViewBox().viewRange()[0]
            assert low <= 0 and STEPS <= high < 1.2 * STEPS, (log, panel)


def wheel(view: pg.GraphicsView, plot: pg.PlotItem, steps: int) -> None:
    """Turn the mouse wheel over the middle of ``plot`` (positive: zoom in)."""
    centre = view.mapFromScene(plot.getViewBox().sceneBoundingRect().center())
    event = QWheelEvent(
        QPointF(centre),
        QPointF(view.viewport().mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_a_manual_zoom_holds_through_redraws_until_auto_range_is_back(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel]
) -> None:
    history, model = study_with_diverged
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    plot = view.plots["train"]
    box = plot.getViewBox()
    auto_low, auto_high = y_range(view, plot)
    assert auto_high < 10

    wheel(view.graphics, plot, 3)  # zoom in by hand
    assert box.autoRangeEnabled() == [False, False]
    zoomed = box.viewRange()
    assert zoomed[1][1] - zoomed[1][0] < auto_high - auto_low
    # The running trial logs on; the view redraws and keeps the zoom.
    history.write_steps(5, 1500)
    assert model.poll()
    view.redraw()
    running = view.focus_curves["train"]
    assert len(running.xData) == STEPS // LOG_EVERY + 1
    y_range(view, plot)
    assert box.viewRange() == zoomed

    # "View All" in the context menu fits everything, diverged values too, and holds it.
    box.menu.viewAll.trigger()
    everything = y_range(view, plot)
    assert everything[1] > 1000
    history.start(7, dict(TRIALS[1][2]))  # a new trial, a new curve
    history.write_steps(7, 200)
    assert model.poll()
    view.redraw()
    assert history.ids[7] in [t.id for t in view.focus_trials()]
    assert y_range(view, plot) == everything

    # The "A" button brings the robust auto range back, and it follows the data again.
    plot.autoBtn.clicked.emit(plot.autoBtn)
    assert box.autoRangeEnabled() == [1.0, 1.0]
    low, high = y_range(view, plot)
    normal = normal_values(model.studies[history.study_id], history, "train/loss")
    assert low <= normal.min() and normal.max() <= high < 1.5 * normal.max()
    assert box.viewRange()[0][1] >= STEPS


# -- best so far, trajectories, parallel coordinates -----------------------------------------
def test_best_so_far_fits_the_normal_values_when_the_first_trial_diverged(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    # Few trials: the line repeats the diverged value, the points alone say it is an outlier.
    trials = [("COMPLETE", DIVERGED, dict(TRIALS[0][2])), *NORMAL[:3]]
    built = write_study(tmp_path / "first-diverged.db", clock, trials)
    hm = HistoryModel()
    hm.open(built.path)
    try:
        view = BestSoFarPlot(hm)
        shown(qtbot, view, built.study_id)
        assert view.curve.yData[0] == DIVERGED  # the line starts there, out of view
        low, high = y_range(view, view.plot)
        values = [v for _, v, _ in NORMAL[:3]]
        assert low <= min(values) and max(values) <= high < 1.5 * max(values)
        view.view_box.scaleBy(y=0.5)  # what zooming in on the y axis by hand does
        zoomed = y_range(view, view.plot)
        assert zoomed[1] - zoomed[0] == pytest.approx((high - low) / 2)
        finished = built.start(len(trials), dict(TRIALS[1][2]))
        built.writer.finish_trial(finished, "COMPLETE", value=0.2)
        assert hm.poll()
        view.redraw()
        assert y_range(view, view.plot) == zoomed
        assert view.view_box.viewRange()[0][1] >= len(trials)  # x still follows
    finally:
        hm.close()
        built.writer.close()


def test_compared_best_so_far_curves_fit_the_normal_values_when_a_first_trial_diverged(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    db = tmp_path / "compare.db"
    first = write_study(db, clock, [("COMPLETE", DIVERGED, dict(TRIALS[0][2])), *NORMAL])
    second = write_study(db, clock, NORMAL[2:], name="second", writer=first.writer)
    hm = HistoryModel()
    hm.open(db)
    try:
        view = CompareStudies(hm)
        qtbot.addWidget(view)
        view.resize(900, 500)
        view.show()
        view.set_studies([first.study_id, second.study_id])
        view.redraw()
        assert view.curves[first.study_id].yData[0] == DIVERGED  # out of view
        low, high = y_range(view, view.plot)
        values = [v for _, v, _ in NORMAL]
        assert low <= min(values) and max(values) <= high < 1.5 * max(values)
    finally:
        hm.close()
        first.writer.close()


def test_trajectory_colours_span_the_normal_values_despite_a_diverged_one(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel]
) -> None:
    history, model = study_with_diverged
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_param("optimizer.lr")
    view.redraw()
    assert view.colorbar.levels() == (0.09, 0.42)
    points = view.points["COMPLETE"]
    numbers = list(points.xData)
    brushes = points.opts["symbolBrush"]
    color = {n: brushes[numbers.index(n)].color() for n in numbers}
    best, worst, diverged = 3, 0, 6  # 0.09, 0.42, 1e12
    assert color[best].lightness() > color[worst].lightness()
    assert color[diverged] == color[worst]  # at the worst end of the scale, not beyond it


def test_parallel_coordinates_put_a_diverged_value_at_the_end_of_the_objective_axis(
    qtbot: QtBot, study_with_diverged: tuple[History, HistoryModel]
) -> None:
    history, model = study_with_diverged
    view = ParallelCoordinates(model)
    shown(qtbot, view, history.study_id)
    lines = view.visible_lines()
    assert lines[history.ids[6]].yData[-1] == 1.0
    assert lines[history.ids[0]].yData[-1] == pytest.approx(1.0)  # 0.42, the worst normal one
    assert lines[history.ids[3]].yData[-1] == pytest.approx(0.0)  # 0.09, the best
    assert lines[history.ids[1]].yData[-1] == pytest.approx((0.15 - 0.09) / (0.42 - 0.09))
