"""The history as a lab notebook, in the app: notes and tags on studies and trials edited in the
notes pane beside the trials table, the trials filtered by tag, studies renamed, deleted and
archived from the history browser, and a study's provenance shown with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from metagui.core.history import (
    HistoryReader,
    HistoryWriter,
    StudyFootprint,
    artifact_folder,
    check_tag,
)
from metagui.core.provenance import capture_provenance
from metagui.qt import _study_actions
from metagui.qt._notes_pane import SAVE_AFTER_MS
from metagui.qt.error_dialog import ErrorDialog
from metagui.qt.history_browser import HistoryBrowser, StudyViews
from metagui.qt.views._trials_model import TAGS

SPEC = json.dumps({"name": "x"})
WAIT_MS = 5_000


def make_history(db: Path, experiment: Path | None = None) -> dict[str, int]:
    """Two studies, "alpha" (made from ``experiment``, with its provenance) then "beta",
    three finished trials each; returns their ids by name."""
    ids = {}
    with HistoryWriter(db) as writer:
        for name in ("alpha", "beta"):
            provenance = None
            if name == "alpha" and experiment is not None:
                provenance = json.dumps(capture_provenance(experiment, device=None))
            study_id = writer.create_study(
                name, SPEC, "minimize", "random", 0, provenance_json=provenance
            )
            for number in range(3):
                params = {"optimizer.lr": 0.01 * (1 + number)}
                trial_id = writer.start_trial(study_id, number, params)
                writer.finish_trial(trial_id, "COMPLETE", value=1.0 - 0.1 * number)
            writer.set_study_status(study_id, "finished")
            ids[name] = study_id
    return ids


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text("name: alpha\n")
    db = tmp_path / "history.sqlite"
    return db, make_history(db, experiment)


@pytest.fixture
def browser(qtbot: QtBot, history: tuple[Path, dict[str, int]]) -> Iterator[HistoryBrowser]:
    widget = HistoryBrowser()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    assert widget.open(history[0])
    yield widget
    widget.close_database()
    widget.close()


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[ErrorDialog]:
    """The error dialogs shown (not run: a test has nobody to close them)."""
    shown: list[ErrorDialog] = []

    def record(dialog: ErrorDialog) -> int:
        shown.append(dialog)
        return 0

    monkeypatch.setattr(ErrorDialog, "exec", record)
    return shown


def listed(browser: HistoryBrowser) -> list[str]:
    names = []
    for row in range(browser.studies.rowCount()):
        item = browser.studies.item(row, 0)
        assert item is not None
        names.append(item.text())
    return names


def select_study(browser: HistoryBrowser, name: str) -> int:
    study = browser.model.study_named(name)
    assert study is not None
    browser.select_studies([study.summary.id])
    assert browser.views.study_id == study.summary.id
    return study.summary.id


def select_trial(views: StudyViews, number: int) -> int:
    """Select the row of trial ``number`` as a click would (the table says so)."""
    study = views.study()
    assert study is not None
    trial = next(t for t in study.trials.values() if t.number == number)
    views.table.redraw()
    row = views.table.trial_ids_in_view_order().index(trial.id)
    views.table.view.selectRow(row)
    assert views.notes.trial_id == trial.id
    return trial.id


def leave_editor(views: StudyViews) -> None:
    """The note editor loses the focus (the user clicks elsewhere)."""
    event = QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.MouseFocusReason)
    QApplication.sendEvent(views.notes.editor, event)


def stored_trial(db: Path, trial_id: int) -> tuple[str | None, tuple[str, ...]]:
    with HistoryReader(db) as reader:
        trial = reader.trial(trial_id)
    assert trial is not None
    return trial.notes, trial.tags


# -- notes ---------------------------------------------------------------------------------------
def test_a_trial_note_typed_in_the_pane_is_saved_and_survives_a_reload(
    qtbot: QtBot, browser: HistoryBrowser, history: tuple[Path, dict[str, int]]
) -> None:
    db, _ = history
    views = browser.views
    select_study(browser, "alpha")
    assert views.notes.trial_id is None and "alpha" in views.notes.title.text()
    trial_id = select_trial(views, 1)
    assert views.notes.title.text() == "Notes on trial #1"

    qtbot.keyClicks(views.notes.editor, "lr too high: diverged")
    assert stored_trial(db, trial_id)[0] is None  # not at every keystroke
    leave_editor(views)
    assert stored_trial(db, trial_id)[0] == "lr too high: diverged"
    assert views.notes.saved_label.text() == "Saved"

    # After a pause in typing, saved without leaving the editor.
    qtbot.keyClicks(views.notes.editor, "; try 3e-3")
    qtbot.waitUntil(
        lambda: stored_trial(db, trial_id)[0] == "lr too high: diverged; try 3e-3",
        timeout=SAVE_AFTER_MS + WAIT_MS,
    )

    # Another trial shows its own (empty) note; the study's note is its own too.
    select_trial(views, 2)
    assert views.notes.editor.toPlainText() == ""
    views.notes.study_button.click()
    assert views.notes.trial_id is None and views.table.selected_trial() is None
    qtbot.keyClicks(views.notes.editor, "alpha: the baseline")
    select_trial(views, 0)  # switching saves the note being edited
    with HistoryReader(db) as reader:
        study = reader.study("alpha")
        assert study is not None and study.notes == "alpha: the baseline"

    assert browser.open(db)  # read afresh
    select_study(browser, "alpha")
    assert views.notes.editor.toPlainText() == "alpha: the baseline"
    select_trial(views, 1)
    assert views.notes.editor.toPlainText() == "lr too high: diverged; try 3e-3"


def test_a_note_written_elsewhere_shows_up_unless_one_is_being_edited(
    qtbot: QtBot, browser: HistoryBrowser, history: tuple[Path, dict[str, int]]
) -> None:
    db, ids = history
    views = browser.views
    select_study(browser, "alpha")
    trial_id = select_trial(views, 0)
    with HistoryWriter(db) as writer:
        writer.set_note(ids["alpha"], "from the command line", trial_id=trial_id)
    browser.refresh()
    assert views.notes.editor.toPlainText() == "from the command line"


# -- tags ----------------------------------------------------------------------------------------
def test_tag_chips_add_and_remove_tags_and_a_bad_tag_is_refused_with_the_reason(
    qtbot: QtBot, browser: HistoryBrowser, history: tuple[Path, dict[str, int]]
) -> None:
    db, _ = history
    views = browser.views
    select_study(browser, "alpha")
    trial_id = select_trial(views, 2)
    chips = views.notes.chips

    for tag in ("baseline", "lr-sweep"):
        qtbot.keyClicks(chips.editor, tag)
        qtbot.keyClick(chips.editor, Qt.Key.Key_Return)
    assert stored_trial(db, trial_id)[1] == ("baseline", "lr-sweep")
    assert [chip.tag for chip in chips.chips()] == ["baseline", "lr-sweep"]
    assert chips.editor.text() == ""
    views.table.redraw()
    row = views.table.trial_ids_in_view_order().index(trial_id)
    assert views.table.proxy.index(row, TAGS).data() == "baseline, lr-sweep"

    qtbot.keyClicks(chips.editor, "two words")
    qtbot.keyClick(chips.editor, Qt.Key.Key_Return)
    with pytest.raises(Exception) as refused:
        check_tag("two words")
    assert chips.error() == str(refused.value)
    assert chips.editor.text() == "two words"  # kept, to be corrected
    assert stored_trial(db, trial_id)[1] == ("baseline", "lr-sweep")
    qtbot.keyClicks(chips.editor, "x")
    assert chips.error() == ""  # typing clears the reason

    chips.chip("baseline").remove_button.click()
    assert stored_trial(db, trial_id)[1] == ("lr-sweep",)
    assert [chip.tag for chip in chips.chips()] == ["lr-sweep"]

    # The study's tags are its own, and listed with it.
    views.notes.study_button.click()
    assert chips.chips() == []
    chips.editor.clear()
    qtbot.keyClicks(chips.editor, "keep")
    qtbot.keyClick(chips.editor, Qt.Key.Key_Return)
    with HistoryReader(db) as reader:
        study = reader.study("alpha")
        assert study is not None and study.tags == ("keep",)
    row = listed(browser).index("alpha")
    tags_column = browser.studies.columnCount() - 2
    item = browser.studies.item(row, tags_column)
    assert item is not None and item.text() == "keep"


def test_the_tag_filter_shows_only_the_trials_with_the_tag(
    qtbot: QtBot, browser: HistoryBrowser, history: tuple[Path, dict[str, int]]
) -> None:
    db, ids = history
    select_study(browser, "alpha")
    table = browser.views.table
    study = browser.model.studies[ids["alpha"]]
    by_number = {t.number: t.id for t in study.trials.values()}
    with HistoryWriter(db) as writer:
        writer.set_tags(ids["alpha"], ["good"], trial_id=by_number[0])
        writer.set_tags(ids["alpha"], ["good", "odd"], trial_id=by_number[2])
    browser.refresh()
    table.redraw()
    assert table.tag_filters() == ["good", "odd"]
    table.set_tag_filter("good")
    assert table.trial_ids_in_view_order() == [by_number[0], by_number[2]]
    table.redraw()  # the next tick
    assert table.count_label.text() == "2 of 3 trials"
    table.set_tag_filter("odd")
    assert table.trial_ids_in_view_order() == [by_number[2]]
    # A tag taken off a trial: the filter follows.
    with HistoryWriter(db) as writer:
        writer.set_tags(ids["alpha"], [], trial_id=by_number[2])
    browser.refresh()
    table.redraw()
    assert table.tag_filters() == ["good"]
    assert len(table.trial_ids_in_view_order()) == 3  # "odd" is gone: all shown again
    table.set_tag_filter(None)
    assert len(table.trial_ids_in_view_order()) == 3


# -- renaming, deleting, archiving ---------------------------------------------------------------
def test_rename_renames_the_study_and_its_folder_and_the_list_shows_it(
    browser: HistoryBrowser,
    history: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    errors: list[ErrorDialog],
) -> None:
    db, ids = history
    folder = artifact_folder(db, "alpha")
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights")
    asked: list[str] = []

    def ask(parent: object, current: str) -> str:
        asked.append(current)
        return "gamma"

    monkeypatch.setattr(_study_actions, "ask_new_name", ask)
    select_study(browser, "alpha")
    assert browser.rename_button.isEnabled()
    assert browser.rename_selected()
    assert asked == ["alpha"] and not errors
    assert sorted(listed(browser)) == ["beta", "gamma"]
    assert browser.selected_study_ids() == [ids["alpha"]]
    with HistoryReader(db) as reader:
        assert [s.name for s in reader.studies()] == ["gamma", "beta"]
    assert not folder.exists()
    assert (artifact_folder(db, "gamma") / "best.pt").read_bytes() == b"weights"


def test_delete_asks_with_the_count_of_trials_and_files_then_removes_them(
    browser: HistoryBrowser,
    history: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    errors: list[ErrorDialog],
) -> None:
    db, ids = history
    folder = artifact_folder(db, "alpha")
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights")
    asked: list[StudyFootprint] = []

    def confirm(parent: object, footprint: StudyFootprint) -> bool:
        asked.append(footprint)
        return True

    monkeypatch.setattr(_study_actions, "confirm_delete", confirm)
    select_study(browser, "alpha")
    assert browser.delete_selected()
    assert not errors
    assert [(f.name, f.trials, len(f.files)) for f in asked] == [("alpha", 3, 1)]
    text = _study_actions.describe_footprint(asked[0])
    assert "3 trials and 1 artifact file" in text
    assert listed(browser) == ["beta"]
    assert browser.views.study_id == ids["beta"]
    with HistoryReader(db) as reader:
        assert [s.name for s in reader.studies()] == ["beta"]
    assert not folder.exists()


def test_a_study_being_run_is_neither_deleted_nor_renamed_and_the_app_says_why(
    browser: HistoryBrowser,
    history: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    errors: list[ErrorDialog],
) -> None:
    db, ids = history
    folder = artifact_folder(db, "alpha")
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights")

    def never(*_: object) -> object:
        raise AssertionError("asked although the study is being run")

    monkeypatch.setattr(_study_actions, "confirm_delete", never)
    monkeypatch.setattr(_study_actions, "ask_new_name", lambda parent, current: "gamma")
    with HistoryWriter(db) as run:
        lease = run.acquire_lease(ids["alpha"])
        select_study(browser, "alpha")
        assert not browser.delete_selected()
        assert not browser.rename_selected()
        run.release_lease(lease)
    assert len(errors) == 2
    for dialog, verb in zip(errors, ("deleted", "renamed"), strict=True):
        text = dialog.text()
        assert "'alpha' is being run by" in text and f"cannot be {verb}" in text
        assert "\n" not in text and not dialog.detailedText()
    assert sorted(listed(browser)) == ["alpha", "beta"]
    with HistoryReader(db) as reader:
        assert sorted(s.name for s in reader.studies()) == ["alpha", "beta"]
        assert len(reader.trials(ids["alpha"])) == 3
    assert (folder / "best.pt").is_file()


def test_an_archived_study_is_listed_only_when_show_archived_is_ticked(
    browser: HistoryBrowser, history: tuple[Path, dict[str, int]], errors: list[ErrorDialog]
) -> None:
    db, ids = history
    select_study(browser, "alpha")
    assert browser.archive_button.text() == "Archive"
    assert browser.archive_selected()
    assert listed(browser) == ["beta"]
    assert browser.views.study_id == ids["beta"]
    with HistoryReader(db) as reader:
        assert [s.name for s in reader.studies(archived=False)] == ["beta"]

    browser.show_archived.setChecked(True)
    assert listed(browser) == ["beta", "alpha"]
    row = listed(browser).index("alpha")
    status = browser.studies.item(row, 2)
    assert status is not None and status.text() == "finished · archived"
    select_study(browser, "alpha")
    assert browser.archive_button.text() == "Unarchive"
    menu = browser.studies_menu()
    assert [a.text() for a in menu.actions()] == ["Rename…", "Unarchive", "Delete…"]
    menu.deleteLater()
    assert browser.archive_selected()
    browser.show_archived.setChecked(False)
    assert listed(browser) == ["beta", "alpha"]
    assert not errors


# -- provenance ----------------------------------------------------------------------------------
def test_a_study_shows_where_it_was_made(
    browser: HistoryBrowser, history: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    db, _ = history
    select_study(browser, "alpha")
    label = browser.provenance_label
    assert label.isVisible()
    with HistoryReader(db) as reader:
        record = reader.provenance("alpha")
    assert record is not None
    text = label.text()
    assert text.startswith(f"Made with metagui {record['metagui']}, Python {record['python']}")
    assert f"on {record['host']}" in text
    experiment = (tmp_path / "experiment.yaml").resolve()
    assert f"experiment {experiment} (sha256 {record['experiment']['sha256'][:12]})" in text
    assert label.toolTip().count("\n") == 2  # versions, where, the experiment file

    select_study(browser, "beta")
    assert "before metagui recorded provenance" in label.text()


def test_a_run_from_an_experiment_file_records_the_file_in_its_provenance(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from test_main_window import tiny_spec, wait_until_done  # tests/qt is on sys.path

    from metagui.core.experiment_io import save_experiment
    from metagui.qt.main_window import MainWindow

    experiment = tmp_path / "tiny.yaml"
    save_experiment(tiny_spec("from-file", trials=1, iterations=2), experiment)
    db = tmp_path / "history.sqlite"
    window = MainWindow(database=db, restore=False)
    qtbot.addWidget(window)
    window.show()
    assert window.open_experiment(experiment)
    window.start_run()
    wait_until_done(qtbot, window)
    # Edited and not saved: what runs is not the file, so no file is recorded.
    window.doc.undo_stack.push(tiny_spec("edited", trials=1, iterations=2), "Rename")
    assert window.doc.path == experiment and window.doc.spec.name == "edited"
    window.start_run()
    wait_until_done(qtbot, window)
    with HistoryReader(db) as reader:
        from_file, edited = reader.provenance("from-file"), reader.provenance("edited")
    assert from_file is not None and edited is not None
    assert from_file["experiment"]["path"] == str(experiment.resolve())
    assert edited["experiment"] is None
    window.close()


def test_a_trial_with_a_note_is_marked_in_the_table_and_its_tooltip_shows_it(
    browser: HistoryBrowser, history: tuple[Path, dict[str, int]]
) -> None:
    db, ids = history
    select_study(browser, "alpha")
    table = browser.views.table
    trial_id = browser.views.study().ordered_trials()[1].id  # type: ignore[union-attr]
    with HistoryWriter(db) as writer:
        writer.set_note(ids["alpha"], "diverged at step 3", trial_id=trial_id)
        writer.set_tags(ids["alpha"], ["odd"], trial_id=trial_id)
    browser.refresh()
    table.redraw()
    index = table.proxy.index(table.trial_ids_in_view_order().index(trial_id), TAGS)
    assert index.data() == "odd ✎"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "odd\n\ndiverged at step 3"


def test_deleting_the_study_of_the_live_run_clears_the_live_views_and_a_new_run_shows_alone(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors: list[ErrorDialog]
) -> None:
    from test_main_window import tiny_spec, wait_until_done  # tests/qt is on sys.path

    from metagui.qt.main_window import MainWindow

    db = tmp_path / "history.sqlite"
    window = MainWindow(database=db, restore=False)
    qtbot.addWidget(window)
    window.show()
    window.doc.undo_stack.push(tiny_spec("live", trials=2, iterations=2), "Set up")
    window.start_run()
    wait_until_done(qtbot, window)
    study_id = window.live.study_id
    assert study_id is not None and len(window.model.studies[study_id].trials) == 2

    monkeypatch.setattr(_study_actions, "confirm_delete", lambda parent, footprint: True)
    assert window.open_history(db)
    select_study(window.history, "live")
    assert window.history.delete_selected()
    assert not errors
    # The live run's own model read the history afresh: the study is gone from it too.
    assert study_id not in window.model.studies
    assert window.live.study_id is None
    window.live.table.redraw()
    assert window.live.table.trial_ids_in_view_order() == []
    assert "deleted" in window.live_header.text()

    # A new study may take the deleted one's id: the live views show its trials alone.
    window.doc.undo_stack.push(tiny_spec("live", trials=1, iterations=2), "Set up")
    window.start_run()
    wait_until_done(qtbot, window)
    new_id = window.live.study_id
    assert new_id is not None
    window.live.table.redraw()
    with HistoryReader(db) as reader:
        expected = [t.id for t in reader.trials(new_id)]
    assert len(expected) == 1
    assert window.live.table.trial_ids_in_view_order() == expected
    assert list(window.model.studies[new_id].trials) == expected
    window.close()
