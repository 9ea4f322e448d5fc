"""The trials table: rows, sorting, state filter, the best and the failed trials, the context
menu's requests, and following the history without losing the selection."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot
from test_views_data import ERROR, PRUNED_REASON, TRIALS, History

from metagui.qt._history_model import HistoryModel
from metagui.qt.views import TrialsTable
from metagui.qt.views._trials_model import FIXED_COLUMNS, STATE, VALUE

DISPLAY = Qt.ItemDataRole.DisplayRole


def shown_table(qtbot: QtBot, model: HistoryModel, history: History) -> TrialsTable:
    table = TrialsTable(model)
    qtbot.addWidget(table)
    table.resize(900, 500)
    table.show()
    table.set_study(history.study_id)
    table.redraw()
    return table


def cell(table: TrialsTable, row: int, column: int, role: int = DISPLAY) -> object:
    return table.proxy.index(row, column).data(role)


def row_of(table: TrialsTable, trial_id: int) -> int:
    return table.trial_ids_in_view_order().index(trial_id)


def action(menu: QMenu, text: str):  # type: ignore[no-untyped-def]
    matches = [a for a in menu.actions() if a.text() == text]
    assert matches, f"no {text!r} in {[a.text() for a in menu.actions()]}"
    return matches[0]


def test_one_row_per_trial_with_parameter_columns(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = shown_table(qtbot, model, history)
    assert table.proxy.rowCount() == len(TRIALS)
    headers = [
        table.proxy.headerData(c, Qt.Orientation.Horizontal)
        for c in range(table.proxy.columnCount())
    ]
    assert headers[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert "algorithm\ninner_lr" in headers and "optimizer\nlr" in headers
    assert headers[-1] == "Error / why pruned"
    assert table.trial_ids_in_view_order() == [history.ids[n] for n in range(len(TRIALS))]
    lr = table.table_model.param_column("optimizer.lr")
    assert cell(table, 0, lr) == "0.001"
    assert cell(table, 3, table.table_model.param_column("algorithm.inner_lr")) == ""  # cnp
    assert cell(table, 7, STATE) == "running"
    assert table.count_label.text() == "8 trials"


def test_sorting_by_value_puts_blank_values_last(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = shown_table(qtbot, model, history)
    table.view.sortByColumn(VALUE, Qt.SortOrder.AscendingOrder)
    values = [cell(table, r, VALUE) for r in range(table.proxy.rowCount())]
    assert values[:5] == ["0.09", "0.15", "0.27", "0.31", "0.42"]
    assert values[5:] == ["", "", ""]
    table.view.sortByColumn(VALUE, Qt.SortOrder.DescendingOrder)
    values = [cell(table, r, VALUE) for r in range(table.proxy.rowCount())]
    assert values[:5] == ["0.42", "0.31", "0.27", "0.15", "0.09"] and values[5:] == ["", "", ""]


def test_state_filter(qtbot: QtBot, history: History, model: HistoryModel) -> None:
    table = shown_table(qtbot, model, history)
    table.set_state_filter("Failed")
    table.redraw()
    assert table.trial_ids_in_view_order() == [history.ids[4]]
    assert table.count_label.text() == "1 of 8 trials"
    table.set_state_filter("Complete")
    assert table.proxy.rowCount() == 5
    table.set_state_filter("All states")
    assert table.proxy.rowCount() == 8


def test_best_failed_pruned_and_excluded_rows_say_so(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = shown_table(qtbot, model, history)
    best = row_of(table, history.ids[5])
    assert cell(table, best, 0) == "★ 5"
    assert cell(table, best, VALUE, Qt.ItemDataRole.BackgroundRole) is not None
    assert cell(table, best, VALUE, Qt.ItemDataRole.FontRole).bold()  # type: ignore[union-attr]
    assert cell(table, 0, VALUE, Qt.ItemDataRole.BackgroundRole) is None
    failed = row_of(table, history.ids[4])
    error_column = table.table_model.error_column
    assert cell(table, failed, error_column) == ERROR.splitlines()[0]
    assert ERROR in str(cell(table, failed, VALUE, Qt.ItemDataRole.ToolTipRole))
    pruned = row_of(table, history.ids[2])
    assert PRUNED_REASON in str(cell(table, pruned, error_column))
    assert "at step 500" in str(cell(table, pruned, 0, Qt.ItemDataRole.ToolTipRole))

    history.writer.set_excluded(history.ids[5], True)
    model.poll()
    table.redraw()
    assert cell(table, best, STATE) == "complete (excluded)"
    assert cell(table, best, 0) == "5"  # no longer the best ...
    assert cell(table, row_of(table, history.ids[1]), 0) == "★ 1"  # ... trial 1 is
    assert cell(table, best, VALUE, Qt.ItemDataRole.FontRole).italic()  # type: ignore[union-attr]


def test_selecting_a_row_emits_its_trial(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = shown_table(qtbot, model, history)
    with qtbot.waitSignal(table.trial_selected, timeout=1000) as blocker:
        table.view.selectRow(3)
    assert blocker.args == [history.ids[3]]
    with qtbot.assertNotEmitted(table.trial_selected):
        table.select_trial(history.ids[6])  # from elsewhere: no echo
    assert table.selected_trial() == history.ids[6]


def test_context_menu_requests(qtbot: QtBot, history: History, model: HistoryModel) -> None:
    table = shown_table(qtbot, model, history)
    menu = table.context_menu(history.ids[5])
    with qtbot.waitSignal(table.exclude_requested, timeout=1000) as blocker:
        action(menu, "Exclude from best").trigger()
    assert blocker.args == [history.ids[5], True]
    with qtbot.waitSignal(table.rerun_requested, timeout=1000) as blocker:
        action(menu, "Re-run with these settings").trigger()
    assert blocker.args == [history.ids[5]]
    with qtbot.waitSignal(table.export_requested, timeout=1000) as blocker:
        action(menu, "Export…").trigger()
    assert blocker.args == [history.ids[5]]
    assert not action(table.context_menu(history.ids[4]), "Exclude from best").isEnabled()

    history.writer.set_excluded(history.ids[5], True)
    model.poll()
    table.redraw()
    with qtbot.waitSignal(table.exclude_requested, timeout=1000) as blocker:
        action(table.context_menu(history.ids[5]), "Include in best").trigger()
    assert blocker.args == [history.ids[5], False]


def test_table_follows_the_history_incrementally_keeping_the_selection(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    table = shown_table(qtbot, model, history)
    table.view.sortByColumn(VALUE, Qt.SortOrder.AscendingOrder)
    table.select_trial(history.ids[6])
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    changed: list[int] = []
    source = table.table_model
    source.modelReset.connect(lambda: resets.append(1))
    source.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    source.dataChanged.connect(
        lambda top, _bottom, _roles=(): changed.append(source.trial_at(top.row()).number)
    )

    history.write_steps(7, 1500, value=0.05)
    history.writer.finish_trial(history.ids[7], "COMPLETE", value=0.05, test_value=0.06)
    history.start(8, dict(TRIALS[3][2]))
    model.poll()
    table.redraw()

    assert resets == [] and inserted == [(8, 8)]
    assert set(changed) == {7, 5}  # trial 7 finished and became the best; 5 no longer is
    assert table.selected_trial() == history.ids[6]
    assert table.proxy.rowCount() == 9
    assert cell(table, 0, 0) == "★ 7"  # sorted by value: the new best on top
    assert table.view.selectionModel().selectedRows()[0].data(DISPLAY) == "6"
    assert not source.index(0, 0).parent().isValid()
    assert source.rowCount(QModelIndex()) == 9


def test_scroll_position_is_kept_while_trials_arrive(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    for number in range(8, 60):
        trial_id = history.start(number, dict(TRIALS[0][2]))
        history.writer.finish_trial(trial_id, "COMPLETE", value=0.5 + number / 100)
    model.poll()
    table = shown_table(qtbot, model, history)
    table.resize(600, 300)
    qtbot.wait(10)
    bar = table.view.verticalScrollBar()
    assert bar.maximum() > 20
    bar.setValue(bar.maximum() // 2)
    table.select_trial(history.ids[30])
    position = bar.value()
    for number in range(60, 70):
        trial_id = history.start(number, dict(TRIALS[0][2]))
        history.writer.finish_trial(trial_id, "COMPLETE", value=0.9)
    model.poll()
    table.redraw()
    assert table.proxy.rowCount() == 70
    assert bar.value() == position
    assert table.selected_trial() == history.ids[30]
