"""A two-objective study in the app: the Pareto-front view draws the front the core computes,
selects a trial on a click and follows trials as they finish; its tab is there only for such a
study; the trials table has a column per objective and marks the front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pareto_data import OBJECTIVES, write_pareto_study
from PySide6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot
from test_views_data import Clock, History, shown

from metagui.core.pareto import front_trials
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._study_views import StudyViews
from metagui.qt.views import BestSoFarPlot, ParetoPlot, TrialsTable
from metagui.qt.views._trials_model import FIXED_COLUMNS, FRONT_MARK


@pytest.fixture
def pareto(tmp_path: Path, clock: Clock) -> Iterator[History]:
    """The Omniglot study scored by accuracy and size (:mod:`pareto_data`), trial 5 excluded
    and trial 30 running, its writer still open."""
    built = write_pareto_study(tmp_path / "pareto.db", clock, excluded=(5,))
    yield built
    built.writer.close()


@pytest.fixture
def pareto_model(pareto: History) -> Iterator[HistoryModel]:
    hm = HistoryModel()
    hm.open(pareto.path)
    yield hm
    hm.close()


def the_front(study: StudyData) -> list[int]:
    """The oracle: the core's front of the study's trials, as trial ids in trial order."""
    return [t.id for t in front_trials(study.ordered_trials(), [o.direction for o in OBJECTIVES])]


def finish_running_trial(pareto: History, values: tuple[float, float]) -> None:
    trial_id = pareto.ids[30]
    pareto.writer.finish_trial(trial_id, "COMPLETE", value=values[0], values=values)


# -- the plot ------------------------------------------------------------------------------------
def test_the_plot_draws_the_completed_trials_and_outlines_the_cores_front(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    view = ParetoPlot(pareto_model)
    shown(qtbot, view, pareto.study_id)
    study = pareto_model.studies[pareto.study_id]
    assert study.multi_objective and study.objectives == OBJECTIVES
    front = the_front(study)
    assert len(front) >= 4
    assert view.front_trial_ids() == front
    completed = [t for t in study.ordered_trials() if t.state == "COMPLETE"]
    assert view.point_trial_ids() == [t.id for t in completed]
    excluded = pareto.ids[5]
    assert excluded not in front
    assert excluded in view.excluded_points.scatter.data["data"].tolist()
    # Each point sits at the trial's two values.
    for t in completed:
        assert view.point_of(t.id) == t.values
    assert view.plot.getAxis("bottom").labelText == "validation accuracy (higher is better)"
    assert view.plot.getAxis("left").labelText == "parameters (lower is better)"
    assert f"{len(front)} trials of {len(completed)} completed" in view.plot.titleLabel.text
    # Hovering over a point names its trial and values.
    tip = view._tip(0.0, 0.0, front[0])
    values = study.trials[front[0]].values or (0.0, 0.0)
    assert f"trial {study.trials[front[0]].number} · on the front" in tip
    assert f"parameters {round(values[1]):,}" in tip
    # The step line passes through every front point.
    line = set(zip(view.front_line.xData.tolist(), view.front_line.yData.tolist(), strict=True))
    assert {study.trials[tid].values for tid in front} <= line


def test_points_are_coloured_by_trial_number(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    view = ParetoPlot(pareto_model)
    shown(qtbot, view, pareto.study_id)
    ids = view._trials_of[view.points]
    brushes = view.points.scatter.data["brush"]
    study = pareto_model.studies[pareto.study_id]
    numbers = [study.trials[tid].number for tid in ids]
    first, last = numbers.index(min(numbers)), numbers.index(max(numbers))
    # viridis: the first trial dark, the last bright
    assert brushes[first].color().lightness() < brushes[last].color().lightness()
    assert view.colorbar.levels() == (0.0, 29.0)


def test_clicking_a_point_selects_its_trial_and_rings_it(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    view = ParetoPlot(pareto_model)
    shown(qtbot, view, pareto.study_id)
    view.grab()  # laid out and ranged, as on screen
    study = pareto_model.studies[pareto.study_id]
    target = the_front(study)[1]
    x, y = study.trials[target].values or (0.0, 0.0)
    where = view.graphics.mapFromScene(view.plot.vb.mapViewToScene(QPointF(x, y)))
    with qtbot.waitSignal(view.trial_selected, timeout=1000) as blocker:
        qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert blocker.args == [target]
    assert view.selected_trial() == target
    view.redraw()
    assert (view.selected_marker.xData.tolist(), view.selected_marker.yData.tolist()) == (
        [x],
        [y],
    )


def test_the_front_follows_trials_as_they_finish(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    view = ParetoPlot(pareto_model)
    shown(qtbot, view, pareto.study_id)
    study = pareto_model.studies[pareto.study_id]
    before = the_front(study)
    finish_running_trial(pareto, (0.95, 20_000.0))  # beats the front's middle
    assert pareto_model.poll()
    assert view.needs_redraw()
    view.redraw()
    after = the_front(study)
    assert pareto.ids[30] in after and set(before) - set(after)
    assert view.front_trial_ids() == after
    assert pareto.ids[30] in view.point_trial_ids()


def test_a_wide_second_objective_is_shown_on_a_log_axis(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    trials = [
        ("COMPLETE", (0.6 + 0.05 * i, 10.0**i), {"model.filters": 8 * (i + 1)}) for i in range(6)
    ]
    built = write_pareto_study(tmp_path / "wide.db", clock, trials=trials, running=False)
    model = HistoryModel()
    model.open(built.path)
    view = ParetoPlot(model)
    shown(qtbot, view, built.study_id)
    assert view.log_y_box.isChecked()
    assert view.plot.getAxis("left").logMode
    view.log_y_box.setChecked(False)  # the user's choice holds
    view.redraw()
    assert not view.plot.getAxis("left").logMode and not view.log_y_box.isChecked()
    model.close()
    built.writer.close()


def test_one_wild_first_objective_does_not_squash_the_rest_across(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    """A diverged trial's huge error is as far off across as a huge model is up: the x range
    follows the bulk of the trials, not that one."""
    trials = [
        ("COMPLETE", (0.5 + 0.04 * i, 1000.0 + 100 * i), {"model.filters": 8 * (i + 1)})
        for i in range(12)
    ]
    trials.append(("COMPLETE", (1e9, 1500.0), {"model.filters": 64}))
    built = write_pareto_study(tmp_path / "wild.db", clock, trials=trials, running=False)
    model = HistoryModel()
    model.open(built.path)
    view = ParetoPlot(model)
    shown(qtbot, view, built.study_id)
    view.grab()
    (x_low, x_high), _ = view.plot.getViewBox().viewRange()
    assert x_low < 0.5 and 0.94 < x_high < 10
    model.close()
    built.writer.close()


def test_a_study_of_one_objective_has_no_front_to_draw(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = ParetoPlot(model)
    shown(qtbot, view, history.study_id)
    assert view.point_trial_ids() == [] and view.front_trial_ids() == []
    assert "one objective" in view.plot.titleLabel.text


def test_best_so_far_of_a_two_objective_study_is_the_first_objectives(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    view = BestSoFarPlot(pareto_model)
    shown(qtbot, view, pareto.study_id)
    study = pareto_model.studies[pareto.study_id]
    best = max(
        (t for t in study.ordered_trials() if t.state == "COMPLETE" and not t.excluded),
        key=lambda t: t.value or 0.0,
    )
    assert view.plot.titleLabel.text.startswith(
        "Best validation accuracy so far (objective 1 of 2): "
    )
    assert view.plot.getAxis("left").labelText == "validation accuracy (higher is better)"
    assert view.curve.yData[-1] == best.value


# -- the tab -------------------------------------------------------------------------------------
def test_the_pareto_tab_is_there_only_for_a_two_objective_study(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    from test_views_data import write_study

    single = write_study(tmp_path / "both.db", clock)
    double = write_pareto_study(tmp_path / "both.db", clock, writer=single.writer)
    model = HistoryModel()
    model.open(single.path)
    views = StudyViews(model)
    qtbot.addWidget(views)
    views.show()
    index = [views.tabs.tabText(i) for i in range(views.tabs.count())].index("Pareto front")
    views.set_study(single.study_id)
    assert not views.tabs.isTabVisible(index)
    views.set_study(double.study_id)
    assert views.tabs.isTabVisible(index)
    views.show_plot("pareto")
    assert isinstance(views.tabs.currentWidget(), ParetoPlot)  # built when shown
    assert views.tabs.isTabVisible(index)
    views.set_study(single.study_id)
    assert not views.tabs.isTabVisible(index)
    assert not isinstance(views.tabs.currentWidget(), ParetoPlot)
    model.close()
    single.writer.close()


def test_a_click_on_the_front_selects_the_trial_in_the_table_and_notes(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    views = StudyViews(pareto_model)
    qtbot.addWidget(views)
    views.resize(1200, 800)
    views.show()
    views.set_study(pareto.study_id)
    views.show_plot("pareto")
    plot = views.plots["pareto"]
    assert isinstance(plot, ParetoPlot)
    plot.redraw()
    target = the_front(pareto_model.studies[pareto.study_id])[0]
    plot._select(target)  # what a click does (the click itself: test above)
    assert views.table.selected_trial() == target
    assert views.selected_trial_id == target
    assert (views.notes.study_id, views.notes.trial_id) == (pareto.study_id, target)
    views.table.select_trial(None)
    views.table.view.selectRow(0)  # trial 0, chosen in the table: ringed in the plot
    assert plot.selected_trial() == views.table.selected_trial()


# -- the trials table ----------------------------------------------------------------------------
def table_on(qtbot: QtBot, model: HistoryModel, study_id: int) -> TrialsTable:
    table = TrialsTable(model)
    shown(qtbot, table, study_id)
    return table


def column_texts(table: TrialsTable, column: int) -> dict[int, str]:
    """Trial id -> the text of ``column`` in its row."""
    m = table.table_model
    return {
        m.trial_at(row).id: m.index(row, column).data()  # type: ignore[union-attr]
        for row in range(m.rowCount())
    }


def test_the_table_has_a_column_per_objective_and_marks_the_front(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    table = table_on(qtbot, pareto_model, pareto.study_id)
    m = table.table_model
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert headers[:5] == ["#", "State", "validation accuracy ↑", "parameters ↓", "On front"]
    assert headers[5:9] == ["Test value", "Duration", "Started", "Tags"]
    value2 = m.column_of("value2")
    assert value2 == 3
    tip = m.headerData(value2, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert tip == "Objective 2 of 2: parameters (lower is better)"
    study = pareto_model.studies[pareto.study_id]
    front = set(the_front(study))
    marks = column_texts(table, m.column_of("front") or 0)
    assert {tid for tid, text in marks.items() if text == FRONT_MARK} == front
    sizes = column_texts(table, value2)
    for tid, text in sizes.items():
        values = study.trials[tid].values
        assert text == ("" if values is None else f"{round(values[1]):,}")
    # Front rows are bold and say why; no row is "the best" (no ★).
    row = m.row_of(min(front)) or 0
    assert m.index(row, 0).data(Qt.ItemDataRole.FontRole).bold()
    assert "Pareto front" in m.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert not [text for text in column_texts(table, 0).values() if "★" in text]
    menu = table.context_menu(min(front))
    assert "Exclude from the front" in [action.text() for action in menu.actions()]
    menu.deleteLater()


def test_the_table_sorts_by_front_and_by_the_second_objective(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    table = table_on(qtbot, pareto_model, pareto.study_id)
    m = table.table_model
    study = pareto_model.studies[pareto.study_id]
    front = set(the_front(study))
    table.view.sortByColumn(m.column_of("front") or 0, Qt.SortOrder.DescendingOrder)
    order = table.trial_ids_in_view_order()
    assert set(order[: len(front)]) == front
    table.view.sortByColumn(m.column_of("value2") or 0, Qt.SortOrder.AscendingOrder)
    sizes = [study.trials[tid].values for tid in table.trial_ids_in_view_order()]
    valued = [v[1] for v in sizes if v is not None]
    assert valued == sorted(valued) and sizes[len(valued) :] == [None] * (len(sizes) - len(valued))


def test_where_front_keeps_the_trials_of_the_front(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    table = table_on(qtbot, pareto_model, pareto.study_id)
    study = pareto_model.studies[pareto.study_id]
    table.set_query("front")
    assert table.query_problem() is None
    assert sorted(table.trial_ids_in_view_order()) == the_front(study)
    table.set_query('not front and state == "complete"')
    shown_ids = set(table.trial_ids_in_view_order())
    complete = {t.id for t in study.ordered_trials() if t.state == "COMPLETE"}
    assert shown_ids == complete - set(the_front(study))


def test_the_front_marker_follows_a_trial_that_joins_the_front(
    qtbot: QtBot, pareto: History, pareto_model: HistoryModel
) -> None:
    table = table_on(qtbot, pareto_model, pareto.study_id)
    m = table.table_model
    study = pareto_model.studies[pareto.study_id]
    before = set(the_front(study))
    finish_running_trial(pareto, (0.95, 20_000.0))
    assert pareto_model.poll()
    table.redraw()
    marks = column_texts(table, m.column_of("front") or 0)
    after = {tid for tid, text in marks.items() if text == FRONT_MARK}
    assert after == set(the_front(study)) and after != before
    assert pareto.ids[30] in after


def test_a_single_objective_table_is_unchanged(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = table_on(qtbot, model, history.study_id)
    m = table.table_model
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(len(FIXED_COLUMNS))]
    assert headers == list(FIXED_COLUMNS) and m.column_of("front") is None
    study = model.studies[history.study_id]
    best = study.best_trial()
    assert best is not None
    assert m.index(m.row_of(best.id) or 0, 0).data().startswith("★")
    table.set_query("front")  # in a study of one objective: its best trial
    assert table.trial_ids_in_view_order() == [best.id]
