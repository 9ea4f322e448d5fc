"""The trials table's query filter (an expression over parameters, values and tags, applied
after a pause in typing, with what is wrong with a bad one beside it) and the checkpoints
kept, in the Strategy & budget tab."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from test_panels_support import EXAMPLES, type_into

from metagui.core.experiment_io import load_experiment
from metagui.core.history import HistoryWriter
from metagui.qt._document import ExperimentDocument
from metagui.qt.app import load_stylesheet
from metagui.qt.history_browser import HistoryBrowser
from metagui.qt.main_window import MainWindow
from metagui.qt.panels import StrategyPanel
from metagui.qt.views import TrialsTable
from metagui.qt.views._trials_table import QUERY_AFTER_MS

SPEC = json.dumps({"name": "notebook"})
WAIT_MS = QUERY_AFTER_MS + 5_000
# number: (algorithm, learning rate, value, tags)
TRIALS = {
    0: ("maml", 0.01, 0.9, ()),
    1: ("maml", 0.02, 0.4, ("baseline",)),
    2: ("protonet", 0.01, 0.3, ("baseline",)),
    3: ("maml", 0.03, 0.2, ("baseline", "lr-sweep")),
    4: ("protonet", 0.02, 0.6, ()),
    5: ("maml", 0.04, 0.45, ("lr-sweep",)),
}


def make_history(db: Path) -> int:
    """One finished study of the six :data:`TRIALS`; returns its id."""
    with HistoryWriter(db) as writer:
        study_id = writer.create_study("notebook", SPEC, "minimize", "random", 0)
        for number, (algorithm, lr, value, tags) in TRIALS.items():
            params = {"algorithm.name": algorithm, "optimizer.lr": lr}
            trial_id = writer.start_trial(study_id, number, params)
            writer.finish_trial(trial_id, "COMPLETE", value=value)
            if tags:
                writer.set_tags(study_id, list(tags), trial_id=trial_id)
        writer.set_study_status(study_id, "finished")
    return study_id


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    make_history(path)
    return path


@pytest.fixture
def browser(qtbot: QtBot, db: Path) -> Iterator[HistoryBrowser]:
    widget = HistoryBrowser()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    assert widget.open(db)
    study = widget.model.study_named("notebook")
    assert study is not None
    widget.select_studies([study.summary.id])
    yield widget
    widget.close_database()
    widget.close()


def numbers(table: TrialsTable) -> list[int]:
    """The trial numbers of the rows shown, in order."""
    study = table.study()
    assert study is not None
    return [study.trials[tid].number for tid in table.trial_ids_in_view_order()]


def type_query(qtbot: QtBot, table: TrialsTable, text: str) -> None:
    """Type ``text`` as the query (replacing what is there) and wait for the pause in typing."""
    table.query_edit.selectAll()
    if text:
        qtbot.keyClicks(table.query_edit, text)
    else:
        qtbot.keyClick(table.query_edit, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not table._query_pause.isActive(), timeout=WAIT_MS)
    table.redraw()  # the next tick


def test_a_typed_query_filters_the_rows_after_a_pause(
    qtbot: QtBot, browser: HistoryBrowser
) -> None:
    table = browser.views.table
    table.redraw()
    assert numbers(table) == [0, 1, 2, 3, 4, 5] and table.count_label.text() == "6 trials"
    assert "e.g." in table.query_edit.placeholderText()

    qtbot.keyClicks(table.query_edit, 'value < 0.5 and algorithm.name == "maml"')
    assert len(numbers(table)) == 6  # not at every keystroke
    type_query(qtbot, table, 'value < 0.5 and algorithm.name == "maml" and "baseline" in tags')
    assert numbers(table) == [1, 3]
    assert table.count_label.text() == "2 of 6 trials"
    assert table.query_problem() is None and table.query_error.isHidden()

    # With the other filters: all of them hold.
    table.set_tag_filter("lr-sweep")
    table.redraw()
    assert numbers(table) == [3] and table.count_label.text() == "1 of 6 trials"
    table.set_tag_filter(None)
    table.set_state_filter("Failed")
    assert numbers(table) == []
    table.set_state_filter("All states")

    type_query(qtbot, table, "optimizer.lr >= 0.02 or not tags")
    assert numbers(table) == [0, 1, 3, 4, 5]
    type_query(qtbot, table, "")
    assert numbers(table) == [0, 1, 2, 3, 4, 5] and table.count_label.text() == "6 trials"


def test_a_bad_query_says_why_with_its_column_and_filters_nothing(
    qtbot: QtBot, browser: HistoryBrowser
) -> None:
    table = browser.views.table
    type_query(qtbot, table, "value < 0.5")
    assert numbers(table) == [1, 2, 3, 5]

    type_query(qtbot, table, "value < ")
    problem = table.query_problem()
    assert problem is not None and problem.startswith("column 9: ")
    assert table.query_error.isVisible() and table.query_error.text() == problem
    assert table.query_edit.property("invalid") is True
    assert len(numbers(table)) == 6 and table.count_label.text() == "6 trials"

    type_query(qtbot, table, "optimizer.lrr > 0.01")
    assert table.query_problem() == (
        "column 1: unknown name 'optimizer.lrr'; did you mean 'optimizer.lr'?"
    )
    assert len(numbers(table)) == 6

    type_query(qtbot, table, "optimizer.lr > 0.01")  # fixed: the message goes
    assert numbers(table) == [1, 3, 4, 5]
    assert table.query_problem() is None and table.query_error.isHidden()
    assert table.query_edit.property("invalid") is False
    type_query(qtbot, table, "")
    assert len(numbers(table)) == 6 and table.query_problem() is None


def test_the_query_follows_new_trials_and_another_study(
    qtbot: QtBot, browser: HistoryBrowser, db: Path
) -> None:
    """As in the live run: trials arrive while the query stands; a parameter that no trial had
    is unknown until one has it."""
    table = browser.views.table
    study = table.study()
    assert study is not None
    study_id = study.summary.id
    table.set_query("model.width > 32")
    assert table.query_problem() is not None and len(numbers(table)) == 6
    with HistoryWriter(db) as writer:
        params = {"algorithm.name": "maml", "optimizer.lr": 0.01, "model.width": 64}
        trial_id = writer.start_trial(study_id, 6, params)
        writer.finish_trial(trial_id, "COMPLETE", value=0.1)
    browser.refresh()
    table.redraw()
    assert table.query_problem() is None
    assert numbers(table) == [6] and table.count_label.text() == "1 of 7 trials"

    with HistoryWriter(db) as writer:
        other = writer.create_study("other", SPEC, "minimize", "random", 0)
        trial_id = writer.start_trial(other, 0, {"optimizer.lr": 0.5})
        writer.finish_trial(trial_id, "COMPLETE", value=1.0)
    browser.refresh()
    browser.select_studies([other])
    table.redraw()
    assert table.query_problem() is not None  # no trial of "other" has a width
    assert table.count_label.text() == "1 trial"


def test_a_screenshot_of_the_history_tab_with_a_query(qtbot: QtBot, db: Path) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.centre.setCurrentWidget(window.history)
    assert window.history.open(db)
    study = window.history.model.study_named("notebook")
    assert study is not None
    window.history.select_studies([study.summary.id])
    table = window.history.views.table
    type_query(qtbot, table, 'value < 0.5 and algorithm.name == "maml"')
    assert table.count_label.text() == "3 of 6 trials"
    assert table.query_edit.isVisible() and table.count_label.isVisible()
    assert table.count_label.geometry().right() <= table.width()
    assert table.query_edit.geometry().right() <= table.width()
    shot = os.environ.get("METAGUI_QUERY_SHOT")  # a path: look at the tab with the app's style
    if shot:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        style = app.style().name()
        app.setStyle("Fusion")
        app.setStyleSheet(load_stylesheet())
        try:
            window.grab().save(shot)
            type_query(qtbot, table, "value < ")
            window.grab().save(shot.replace(".png", "-error.png"))
            type_query(qtbot, table, "")
            window.grab().save(shot.replace(".png", "-empty.png"))
        finally:
            app.setStyleSheet("")
            app.setStyle(style)
    window.history.close_database()
    window.close()


# -- checkpoints kept ----------------------------------------------------------------------------
def test_checkpoints_kept_edits_the_experiment_and_undoes(qtbot: QtBot) -> None:
    doc = ExperimentDocument(load_experiment(EXAMPLES / "sinusoid-search.yaml"))
    panel = StrategyPanel(doc, studies_provider=list)
    qtbot.addWidget(panel)
    panel.show()
    field = panel.checkpoints.editor("keep")
    assert doc.spec.checkpoints.keep == 1 and field.text() == "1"
    assert "best trials are kept" in field.toolTip()
    type_into(qtbot, field, "3")
    assert doc.spec.checkpoints.keep == 3
    type_into(qtbot, field, "0")  # at least one
    assert field.property("invalid") is True and not doc.is_valid
    assert doc.spec.checkpoints.keep == 3
    type_into(qtbot, field, "5")
    assert doc.spec.checkpoints.keep == 5 and doc.is_valid
    doc.undo_stack.undo()
    assert doc.spec.checkpoints.keep == 3 and field.text() == "3"
    doc.undo_stack.undo()
    assert doc.spec.checkpoints.keep == 1 and field.text() == "1"
    doc.set_value("checkpoints.keep", 4)  # the form follows the document
    assert field.text() == "4"
