"""Comparing studies side by side in the views: the comparison table (rows from the core's
``compare_studies``, differences tinted, cells copied as tab-separated text, the table as CSV)
and the parameter importances of several studies as grouped bars, each study in the colour it
has in the best-so-far comparison."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, History, write_study

from metagui.core.study_comparison import RESULTS, SETTINGS
from metagui.qt._history_model import HistoryModel
from metagui.qt.views import CompareImportance, CompareStudies, CompareTable
from metagui.qt.views._compare_importance import importance_order
from metagui.qt.views._compare_table import DIFFERS_TINT
from metagui.qt.views._importance import Importances, compute_importances
from metagui.qt.views._studies_view import study_color

PARAMS = dict(TRIALS[1][2])  # metasgd, inner_lr 0.05, 3 steps, lr 0.003, relu


def _baseline(history: History, model: HistoryModel, completed: int, name: str) -> int:
    """A second study in the same history: ``completed`` complete trials of varied settings
    (the best, the last, with the same activation and optimiser lr as ``history``'s best)."""
    trials: list[tuple[str, float | None, dict[str, Any]]] = []
    for n in range(completed):
        params = {
            **PARAMS,
            "algorithm.inner_steps": 1 + n % 5,
            "algorithm.inner_lr": 0.01 * (n + 1),
        }
        trials.append(("COMPLETE", 0.5 - 0.05 * n, params))
    trials[-1][2].update({"model.activation": "relu", "optimizer.lr": 0.002})
    second = write_study(history.path, history.clock, trials, name=name, writer=history.writer)
    model.poll()
    return second.study_id


def _shown(qtbot: QtBot, view: Any, study_ids: list[int]) -> None:
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    view.set_studies(study_ids)
    view.redraw()


def _row_of(table: CompareTable, label: str) -> int:
    for row in range(table.table.rowCount()):
        item = table.table.item(row, 0)
        if item is not None and item.text() == label:
            return row
    raise KeyError(label)


def test_the_table_has_a_column_per_study_and_the_rows_of_the_comparison(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    other = _baseline(history, model, 4, "baseline")
    view = CompareTable(model)
    _shown(qtbot, view, [history.study_id, other])
    widget = view.table
    headers = [widget.horizontalHeaderItem(c).text() for c in range(widget.columnCount())]  # type: ignore[union-attr]
    assert headers == ["", "sinusoid-search", "baseline"]
    comparison = view.comparison
    assert comparison is not None and comparison.studies == ("sinusoid-search", "baseline")
    for row in comparison.rows:
        r = _row_of(view, row.label)
        shown = [widget.item(r, 1 + c).text() for c in range(2)]  # type: ignore[union-attr]
        assert shown == list(row.cells)
        tinted = widget.item(r, 1).background().color() == DIFFERS_TINT  # type: ignore[union-attr]
        assert tinted == row.differs
    # The first study's best is trial 5 (0.09); the baseline's its last (0.35).
    assert comparison.row("Best value").cells == ("0.09 (trial 5)", "0.35 (trial 3)")
    assert comparison.row("Trials: complete / pruned / failed").cells[0] == "5 / 1 / 1 of 8"
    assert comparison.row("model.activation").cells == ("relu", "relu")
    assert not comparison.row("model.activation").differs
    assert comparison.row("algorithm.name").differs  # mamlpp against metasgd
    assert comparison.row("Algorithm").cells == ("searched (mlp)",) * 2  # see its setting
    # Colour swatches: the study's colour in every comparison.
    icon = widget.horizontalHeaderItem(2).icon()  # type: ignore[union-attr]
    assert icon.pixmap(12, 12).toImage().pixelColor(6, 6) == study_color(1)


def test_only_differences_hides_the_settings_that_agree_but_keeps_the_results(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    other = _baseline(history, model, 4, "baseline")
    view = CompareTable(model)
    _shown(qtbot, view, [history.study_id, other])
    comparison = view.comparison
    assert comparison is not None
    view.only_differences.setChecked(True)
    for row in comparison.rows:
        hidden = view.table.isRowHidden(_row_of(view, row.label))
        assert hidden == (row.section != RESULTS and not row.differs), row.label
    assert not view.table.isRowHidden(_row_of(view, SETTINGS))  # a heading with rows shown
    view.only_differences.setChecked(False)
    assert not any(view.table.isRowHidden(r) for r in range(view.table.rowCount()))


def test_ctrl_c_copies_the_selected_cells_as_tab_separated_text(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    other = _baseline(history, model, 4, "baseline")
    view = CompareTable(model)
    _shown(qtbot, view, [history.study_id, other])
    widget = view.table
    selection = widget.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select
    for label in ("Best value", "model.activation"):
        for column in (0, 1, 2):
            selection.select(widget.model().index(_row_of(view, label), column), flags)
    widget.setFocus()
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(widget, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyRelease(widget, Qt.Key.Key_Control)  # Ctrl up: no later test finds it held
    assert QGuiApplication.clipboard().text() == (
        "\tsinusoid-search\tbaseline\n"
        "Best value\t0.09 (trial 5)\t0.35 (trial 3)\n"
        "model.activation\trelu\trelu"
    )
    # One cell alone: its text, no header.
    widget.clearSelection()
    selection.select(widget.model().index(_row_of(view, "Best value"), 2), flags)
    view.copy()
    assert QGuiApplication.clipboard().text() == "0.35 (trial 3)"


def test_the_table_exports_as_csv_and_follows_a_live_study(
    qtbot: QtBot, history: History, model: HistoryModel, tmp_path: Path
) -> None:
    other = _baseline(history, model, 4, "baseline")
    view = CompareTable(model)
    _shown(qtbot, view, [other, history.study_id])
    path = view.export_csv(tmp_path / "comparison.csv")
    lines = list(csv.reader(io.StringIO(path.read_text())))
    assert view.comparison is not None and lines == view.comparison.table()
    assert lines[0] == ["section", "", "baseline", "sinusoid-search"]
    # The running trial 7 of the first study completes, the best so far.
    history.write_steps(7, 1500, value=0.01)
    history.writer.finish_trial(history.ids[7], "COMPLETE", value=0.01)
    model.poll()
    assert view.needs_redraw()
    view.redraw()
    assert view.comparison.row("Best value").cells[1] == "0.01 (trial 7)"


def test_importances_side_by_side_are_each_studys_own_in_its_colour(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    other = _baseline(history, model, 6, "baseline")
    few = _baseline(history, model, 3, "too-few")
    view = CompareImportance(model)
    view.min_interval_s = 0.0
    _shown(qtbot, view, [history.study_id, few, other])
    qtbot.waitUntil(lambda: bool(view.results) and not view.busy(), timeout=20_000)
    assert not view.showing_message()
    assert set(view.results) == {history.study_id, other}
    # The same computation as for one study (compute_importances), over the same trials.
    for study_id in (history.study_id, other):
        data = model.studies[study_id]
        completed = [t for t in data.counted() if t.params]
        expected = compute_importances(
            list(data.search_params()),
            [(dict(t.params), float(t.value or 0.0)) for t in completed],
            data.maximize,
        )
        found = view.results[study_id]
        assert isinstance(found, Importances)
        assert found.values == pytest.approx(expected.values)
    # Each study's bars in the colour it has in the best-so-far comparison (by position).
    curves = CompareStudies(model)
    _shown(qtbot, curves, [history.study_id, few, other])
    for study_id in (history.study_id, other):
        bars = view.bars[study_id].opts["brush"].color()
        assert bars == curves.curves[study_id].opts["pen"].color()
    assert [label.text for _, label in view.legend.items] == ["sinusoid-search", "baseline"]
    # Parameters by mean importance, the most important on top.
    shown = [r for r in view.results.values() if isinstance(r, Importances)]
    order = importance_order(shown)
    ticks = [name for _, name in view.plot.getAxis("left")._tickLevels[0]]
    assert ticks == order
    assert "“too-few”: parameter importance needs at least 4 completed trials (3 so far)" in (
        view.note_label.text()
    )


def test_importance_order_is_by_mean_importance_then_name() -> None:
    a = Importances({"x": 0.6, "y": 0.4}, "PED-ANOVA", 5)
    b = Importances({"y": 0.5, "z": 0.5}, "PED-ANOVA", 5)
    assert importance_order([a, b]) == ["y", "x", "z"]  # 0.45, 0.3, 0.25


def test_importances_wait_for_enough_trials_in_any_study(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    few = _baseline(history, model, 2, "few")
    view = CompareImportance(model)
    _shown(qtbot, view, [few])
    assert view.showing_message() and not view.busy()
    assert "(2 so far)" in view.message_label.text()


def test_a_study_that_searches_nothing_is_named_under_the_chart(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    other = _baseline(history, model, 5, "baseline")
    plain = history.writer.create_study("plain", '{"name": "plain"}', "minimize", "tpe", 0)
    for number in range(5):
        trial = history.writer.start_trial(plain, number, {})
        history.writer.finish_trial(trial, "COMPLETE", value=1.0 + number)
    model.poll()
    view = CompareImportance(model)
    view.min_interval_s = 0.0
    _shown(qtbot, view, [plain, other])
    qtbot.waitUntil(lambda: bool(view.results) and not view.busy(), timeout=20_000)
    assert set(view.results) == {other} and set(view.bars) == {other}
    assert view.note_label.text().splitlines()[0] == "“plain” searches no parameter."
