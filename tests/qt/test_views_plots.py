"""The live plots draw what the history holds, follow it as it grows, and redraw on their timer
only when the study changed."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, Clock, History, shown, write_study

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views import (
    BestSoFarPlot,
    CompareStudies,
    LossPlot,
    ParallelCoordinates,
    TrajectoryPlot,
)


def study_of(model: HistoryModel, history: History) -> StudyData:
    return model.studies[history.study_id]


def finish_running_trial_and_start_another(history: History, model: HistoryModel) -> None:
    """Trial 7 trains on and completes as the new best; trial 8 starts and logs a few steps."""
    history.write_steps(7, 1500, value=0.05)
    history.writer.finish_trial(history.ids[7], "COMPLETE", value=0.05, test_value=0.06)
    history.start(8, dict(TRIALS[1][2]))
    history.write_steps(8, 200)
    assert model.poll()


# -- loss curves ------------------------------------------------------------------------------
def test_loss_curves_hold_the_stored_series_and_the_running_trial_is_the_focus(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    study = study_of(model, history)
    running = history.ids[7]
    finished = {t.id for t in study.trials.values() if t.state != "RUNNING"}
    # The finished trials' faint curves are one item; the running trial is drawn bold.
    assert view.visible_curves("train") == set(view.bundles["train"].trial_ids()) == finished
    for trial_id in finished:
        drawn = view.bundles["train"].curve(trial_id)
        assert drawn is not None
        series = study.metrics[trial_id]["train/loss"]
        # 31 steps, fewer than the buckets: each step is a bucket, its low and high the same
        for half in (slice(0, None, 2), slice(1, None, 2)):
            np.testing.assert_array_equal(drawn[0][half], series.steps)
            np.testing.assert_array_equal(drawn[1][half], series.values)
    val = view.visible_curves("val")
    assert val == {history.ids[n] for n in (0, 1, 2, 3, 5, 6)}
    assert history.ids[4] not in val  # the failed trial never reached an evaluation
    np.testing.assert_array_equal(
        view.focus_curves["val"].yData, study.metrics[running]["val/mse"].values
    )
    focus = view.focus_curves["train"]
    np.testing.assert_array_equal(focus.yData, study.metrics[running]["train/loss"].values)
    legend = view.plots["train"].legend
    assert [label.text for _, label in legend.items] == ["trial 7 (running)"]
    assert view.plots["val"].getAxis("left").labelText == "validation MSE"


def test_a_running_trial_without_steps_yet_leaves_the_focus_on_the_best(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    history.writer.finish_trial(history.ids[7], "COMPLETE", value=0.3, test_value=0.3)
    history.start(8, dict(TRIALS[1][2]))  # started, nothing logged yet
    assert model.poll()
    view.redraw()
    best = study_of(model, history).best_trial()
    assert best is not None and view.focus_trial() is not None
    assert view.focus_trial().id == best.id  # type: ignore[union-attr]
    legend = view.plots["train"].legend
    assert [label.text for _, label in legend.items] == [f"trial {best.number} (best)"]
    history.write_steps(8, 100)  # its first steps: now it is the focus
    assert model.poll()
    view.redraw()
    assert view.focus_trial().id == history.ids[8]  # type: ignore[union-attr]


def test_loss_top_k_state_filter_and_log_y(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_top_k(2)
    view.redraw()
    assert set(view.visible_curves()) == {history.ids[5], history.ids[1]}  # the two lowest MSE
    view.set_top_k(0)
    view.set_states({"PRUNED", "FAILED"})
    view.redraw()
    assert set(view.visible_curves()) == {history.ids[2], history.ids[4]}
    view.set_log_y(True)
    assert view.plots["train"].getAxis("left").logMode
    assert view.plots["val"].getAxis("left").logMode


def test_clicking_a_loss_curve_selects_its_trial(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    view.grab()  # laid out and ranged, as on screen
    bundle = view.bundles["train"]
    drawn = bundle.curve(history.ids[3])
    assert drawn is not None
    point = bundle.mapToScene(QPointF(drawn[0][20], drawn[1][20]))  # step 500 of trial 3
    assert bundle.trial_at(bundle.mapFromScene(point)) == history.ids[3]
    assert bundle.trial_at(bundle.mapFromScene(point + QPointF(0, 40))) is None  # far off
    where = view.graphics.mapFromScene(point)
    with qtbot.waitSignal(view.trial_selected, timeout=1000) as blocker:
        qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert blocker.args == [history.ids[3]]
    view.redraw()
    study = study_of(model, history)
    focus = view.focus_curves["train"]
    np.testing.assert_array_equal(focus.yData, study.metrics[history.ids[3]]["train/loss"].values)
    assert view.plots["train"].legend.items[0][1].text == "trial 3 (selected)"


def test_loss_plot_follows_the_history_incrementally(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    bundle = view.bundles["train"]
    finish_running_trial_and_start_another(history, model)
    assert view.needs_redraw()
    view.redraw()
    study = study_of(model, history)
    finished = bundle.curve(history.ids[7])  # now one of the faint curves
    assert finished is not None and len(finished[0]) == 2 * 31
    assert history.ids[7] in view.visible_curves() and history.ids[8] not in view.visible_curves()
    focus = view.focus_curves["train"]  # the new running trial, at full resolution
    np.testing.assert_array_equal(focus.yData, study.metrics[history.ids[8]]["train/loss"].values)
    assert view.plots["train"].legend.items[0][1].text == "trial 8 (running)"
    # A trial that ends within the colour bar's span is added to the bundle, not rebuilt.
    rebuilt: list[int] = []
    original = bundle.set_groups
    bundle.set_groups = lambda groups: (rebuilt.append(1), original(groups))  # type: ignore[method-assign]
    history.write_steps(8, 1500)
    history.writer.finish_trial(history.ids[8], "COMPLETE", value=0.2, test_value=0.2)
    assert model.poll()
    view.redraw()
    assert rebuilt == [] and history.ids[8] in bundle.trial_ids()
    assert sorted(bundle.trial_ids()) == sorted(t.id for t in study.trials.values())


def test_views_redraw_on_their_timer_once_per_change_and_only_while_shown(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    draws: list[int] = []
    original = view._draw
    view._draw = lambda study: (draws.append(1), original(study))  # type: ignore[method-assign]
    assert view.redraw_timer.isActive()
    qtbot.wait(150)
    assert draws == []  # nothing changed: nothing redrawn
    history.write_steps(7, 1000)  # eight new steps, one poll
    model.poll()
    qtbot.waitUntil(lambda: len(draws) == 1, timeout=2000)
    qtbot.wait(150)
    assert len(draws) == 1
    view.hide()
    assert not view.redraw_timer.isActive()
    view.show()
    assert view.redraw_timer.isActive()


def test_new_data_waits_while_the_gui_thread_is_busy_but_options_do_not(
    qtbot: QtBot, history: History, model: HistoryModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import metagui.qt.views._live_view as common

    class Load:
        busy = 1.0

        def busy_fraction(self) -> float:
            return self.busy

    load = Load()
    monkeypatch.setattr(common, "gui_thread_load", lambda: load)
    monkeypatch.setattr(common, "REDRAW_MAX_DEFER_S", 0.6)
    view = LossPlot(model)
    shown(qtbot, view, history.study_id)
    draws: list[float] = []
    original = view._draw
    view._draw = lambda study: (draws.append(1), original(study))  # type: ignore[method-assign]
    # New data while the GUI thread is busy: drawn only once the longest wait is over.
    history.write_steps(7, 1000)
    model.poll()
    qtbot.wait(300)
    assert draws == []
    qtbot.waitUntil(lambda: len(draws) == 1, timeout=2000)
    # The user's own change is drawn at the next tick, however busy.
    view.set_top_k(3)
    qtbot.waitUntil(lambda: len(draws) == 2, timeout=300)
    # Not busy: new data is drawn at the next tick.
    load.busy = 0.0
    history.write_steps(7, 1200)
    model.poll()
    qtbot.waitUntil(lambda: len(draws) == 3, timeout=300)


# -- trajectories -----------------------------------------------------------------------------
def test_sampled_log_parameter_by_trial_coloured_by_value(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_param("optimizer.lr")
    view.redraw()
    complete = [n for n, (s, _, _) in enumerate(TRIALS) if s == "COMPLETE"]
    points = view.points["COMPLETE"]
    np.testing.assert_array_equal(points.xData, complete)
    np.testing.assert_allclose(points.yData, [TRIALS[n][2]["optimizer.lr"] for n in complete])
    assert view.sampled_plot.getAxis("left").logMode
    assert list(view.points["FAILED"].xData) == [4]
    assert list(view.points["RUNNING"].xData) == [7]
    assert view.colorbar.levels() == (0.09, 0.42)
    brushes = points.opts["symbolBrush"]
    best = complete.index(5)
    worst = complete.index(0)
    assert brushes[best].color().lightness() > brushes[worst].color().lightness()


def test_sampled_categorical_and_conditional_parameters(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_param("algorithm.name")
    view.redraw()
    choices = ["maml", "fomaml", "metasgd", "mamlpp", "anil", "reptile", "cnp"]
    ticks = view.sampled_plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == choices
    complete = [n for n, (s, _, _) in enumerate(TRIALS) if s == "COMPLETE"]
    assert list(view.points["COMPLETE"].yData) == [
        choices.index(TRIALS[n][2]["algorithm.name"]) for n in complete
    ]
    assert not view.sampled_plot.getAxis("left").logMode
    view.set_param("algorithm.inner_lr")  # cnp (trial 3) has no inner learning rate
    view.redraw()
    assert 3 not in list(view.points["COMPLETE"].xData)


def test_learned_hyperparameters_of_the_selected_trial(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    assert view.learned_curves == {}  # the running trial (fomaml) learns none
    assert "learns no" in view.learned_plot.titleLabel.text
    view.set_trial(history.ids[1])
    view.redraw()
    learned = study_of(model, history).learned[history.ids[1]]
    assert (
        set(view.learned_curves)
        == set(learned)
        == {
            "inner_lr/body.0",
            "inner_lr/body.1",
            "inner_lr/head",
        }
    )
    curve = view.learned_curves["inner_lr/body.1"]
    np.testing.assert_array_equal(curve.xData, learned["inner_lr/body.1"].steps)
    np.testing.assert_array_equal(curve.yData, learned["inner_lr/body.1"].values)
    labels = [label.text for _, label in view.learned_legend.items]
    assert labels == ["body.0", "body.1", "head"]
    # MAML++: per layer and per inner step
    view.set_trial(history.ids[5])
    view.redraw()
    assert "inner_lr/head/step1" in view.learned_curves and len(view.learned_curves) == 6


def test_trajectory_follows_new_trials_and_learned_values(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    view.set_param("optimizer.lr")
    history.write_learned(7, 600)
    finish_running_trial_and_start_another(history, model)
    view.redraw()
    assert 7 in list(view.points["COMPLETE"].xData)
    assert list(view.points["RUNNING"].xData) == [8]
    view.set_trial(history.ids[7])
    view.redraw()
    assert len(view.learned_curves) == 3


def test_clicking_a_sampled_point_selects_its_trial(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    shown(qtbot, view, history.study_id)
    item = view.points["COMPLETE"]
    spots = item.scatter.points()
    with qtbot.waitSignal(view.trial_selected, timeout=1000) as blocker:
        item.sigPointsClicked.emit(item, [spots[1]], None)
    assert blocker.args == [history.ids[1]]


# -- best so far ------------------------------------------------------------------------------
def test_best_so_far_is_monotone_and_ends_at_the_best(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = BestSoFarPlot(model)
    shown(qtbot, view, history.study_id)
    ys = list(view.curve.yData)
    assert all(b <= a for a, b in itertools.pairwise(ys))  # minimising
    assert ys[0] == 0.42 and ys[-1] == 0.09
    assert set(ys) == {0.42, 0.15, 0.09}
    assert view.curve.xData[-1] == 7  # held to the latest trial
    assert sorted(view.points.yData) == sorted(v for s, v, _ in TRIALS if s == "COMPLETE")
    view.set_x_axis("wall time")
    view.redraw()
    xs = list(view.curve.xData)
    assert xs == sorted(xs) and xs[0] > 0
    assert "wall time" in view.plot.getAxis("bottom").labelText
    assert list(view.curve.yData)[-1] == 0.09


def test_best_so_far_follows_new_results_and_exclusions(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = BestSoFarPlot(model)
    shown(qtbot, view, history.study_id)
    finish_running_trial_and_start_another(history, model)
    view.redraw()
    assert view.curve.yData[-1] == 0.05 and view.curve.xData[-1] == 8
    history.writer.set_excluded(history.ids[7], True)
    history.writer.set_excluded(history.ids[5], True)
    model.poll()
    view.redraw()
    assert view.curve.yData[-1] == 0.15
    assert "0.15" in view.plot.titleLabel.text


def test_best_so_far_of_a_maximising_study_rises(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    accuracies = [0.61, 0.55, 0.72, 0.70, 0.80]
    trials = [("COMPLETE", v, dict(TRIALS[0][2])) for v in accuracies]
    built = write_study(tmp_path / "acc.db", clock, trials, direction="maximize")
    hm = HistoryModel()
    hm.open(built.path)
    try:
        view = BestSoFarPlot(hm)
        shown(qtbot, view, built.study_id)
        ys = list(view.curve.yData)
        assert all(b >= a for a, b in itertools.pairwise(ys))
        assert ys[-1] == 0.80 and set(ys) == {0.61, 0.72, 0.80}
    finally:
        hm.close()
        built.writer.close()


# -- parallel coordinates ---------------------------------------------------------------------
def test_parallel_coordinates_one_normalised_line_per_finished_trial(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = ParallelCoordinates(model)
    shown(qtbot, view, history.study_id)
    finished = {history.ids[n] for n, (s, _, _) in enumerate(TRIALS) if s != "RUNNING"}
    lines = view.visible_lines()
    assert set(lines) == finished
    names = [axis.name for axis in view.axes]
    assert names == [
        "algorithm.name",
        "algorithm.inner_lr",
        "algorithm.inner_steps",
        "optimizer.lr",
        "model.activation",
        "objective",
    ]
    for line in lines.values():
        ys = np.asarray(line.yData, dtype=float)
        assert len(ys) == len(names)
        finite = ys[np.isfinite(ys)]
        assert len(finite) >= 4 and ((finite >= 0) & (finite <= 1)).all()
    # log axis over the stored range 1e-4..1e-2: 1e-3 sits in the middle
    lr = lines[history.ids[0]].yData[names.index("optimizer.lr")]
    assert lr == pytest.approx(0.5)
    # the best (lowest MSE) trial at the bottom of the objective axis, the worst at the top
    assert lines[history.ids[5]].yData[-1] == pytest.approx(0.0)
    assert lines[history.ids[0]].yData[-1] == pytest.approx(1.0)
    assert math.isnan(lines[history.ids[3]].yData[1])  # cnp: no inner learning rate
    assert math.isnan(lines[history.ids[4]].yData[-1])  # failed: no value
    categorical = view.axes[0].ticks
    assert [label for _, label in categorical][:3] == ["maml", "fomaml", "metasgd"]
    view.show_unfinished_box.setChecked(False)
    view.redraw()
    assert set(view.visible_lines()) == finished - {history.ids[2], history.ids[4]}


def test_parallel_coordinates_follow_new_finished_trials(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = ParallelCoordinates(model)
    shown(qtbot, view, history.study_id)
    assert len(view.visible_lines()) == 7
    finish_running_trial_and_start_another(history, model)
    view.redraw()
    assert len(view.visible_lines()) == 8
    assert view.visible_lines()[history.ids[7]].yData[-1] == pytest.approx(0.0)


# -- comparing studies ------------------------------------------------------------------------
def test_compare_studies_draws_one_best_so_far_curve_per_study(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    clock = history.clock
    other = [("COMPLETE", v, dict(TRIALS[0][2])) for v in (0.5, 0.3, 0.35, 0.2)]
    second = write_study(history.path, clock, other, name="random-baseline", writer=history.writer)
    model.poll()
    view = CompareStudies(model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_studies([history.study_id, second.study_id])
    view.redraw()
    assert set(view.curves) == {history.study_id, second.study_id}
    labels = [label.text for _, label in view.legend.items]
    assert labels[0].startswith("sinusoid-search: best 0.09")
    assert labels[1].startswith("random-baseline: best 0.2")
    ys = list(view.curves[second.study_id].yData)
    assert ys == sorted(ys, reverse=True) and ys[-1] == 0.2
    view.set_studies([second.study_id])
    view.redraw()
    assert set(view.curves) == {second.study_id}


def test_selected_trial_is_marked_in_best_so_far_and_parallel_coordinates(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    best = BestSoFarPlot(model)
    shown(qtbot, best, history.study_id)
    assert best.selected_marker.xData is None or len(best.selected_marker.xData) == 0
    best.set_trial(history.ids[3])
    best.redraw()
    assert list(best.selected_marker.xData) == [3] and list(best.selected_marker.yData) == [0.31]

    parallel = ParallelCoordinates(model)
    shown(qtbot, parallel, history.study_id)
    line = parallel.lines[history.ids[6]]
    with qtbot.waitSignal(parallel.trial_selected, timeout=1000) as blocker:
        line.sigClicked.emit(line, None)
    assert blocker.args == [history.ids[6]]
    parallel.redraw()
    assert line.zValue() == 10.0
    assert line.opts["pen"].widthF() == 3.5


# -- grid -------------------------------------------------------------------------------------
def test_grid_lines_are_opaque_and_beneath_the_data(qtbot: QtBot) -> None:
    import pyqtgraph as pg
    from PySide6.QtGui import QColor, QPainter, QPalette

    from metagui.qt.views._axis_items import GRID_ALPHA, show_grid, style_plot, value_axes

    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Base, QColor("white"))
    palette.setColor(QPalette.ColorRole.Text, QColor("black"))
    widget = pg.PlotWidget(background="white", axisItems=value_axes())
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    plot = widget.getPlotItem()
    style_plot(plot, palette)
    show_grid(plot, palette)
    # A thick red band across the middle: the vertical grid lines cross it.
    plot.plot([0, 10], [5, 5], pen=pg.mkPen((255, 0, 0), width=14))
    plot.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)
    image = widget.grab().toImage()

    # Drawn opaque: every tick and grid line's pen, its colour the faint grey it stands for.
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        assert axis.zValue() < plot.getViewBox().zValue()  # beneath the data
        _axis_spec, ticks, _texts = axis.generateDrawSpecs(QPainter())
        assert ticks and all(pen.color().alpha() == 255 for pen, _a, _b in ticks)
        grid_grey = 255 * (1 - GRID_ALPHA)
        assert any(abs(pen.color().red() - grid_grey) <= 2 for pen, _a, _b in ticks)
    # Beneath the data: along the band's middle row no grid line shows through the red.
    middle = widget.mapFromScene(plot.getViewBox().mapViewToScene(pg.Point(5, 5)))
    left = widget.mapFromScene(plot.getViewBox().mapViewToScene(pg.Point(0.2, 5))).x()
    right = widget.mapFromScene(plot.getViewBox().mapViewToScene(pg.Point(9.8, 5))).x()
    row = {image.pixelColor(x, middle.y()).name() for x in range(left, right)}
    assert row == {"#ff0000"}
    # And the grid is there: the same row above the band crosses grey lines.
    above = widget.mapFromScene(plot.getViewBox().mapViewToScene(pg.Point(5, 8))).y()
    greys = {image.pixelColor(x, above).name() for x in range(left, right)}
    assert len(greys) > 1 and "#ffffff" in greys
