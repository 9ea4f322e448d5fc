"""An error the user can act on (here a damaged history) reaches them in the app as a dialog
with the one line that says what to do, without a traceback; the app then goes on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from test_main_window import db_trials, tiny_spec, wait_until_done  # tests/qt is on sys.path

from metagui.qt.error_dialog import ErrorDialog
from metagui.qt.main_window import MainWindow


def _damage(db: Path) -> None:
    """Overwrite the page of the (small) trials table with garbage."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trials'")
        (page,) = root.fetchone()
    finally:
        conn.close()
    with db.open("r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(b"\xa5" * page_size)


def test_a_damaged_history_is_one_line_in_a_dialog_and_the_app_goes_on(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[ErrorDialog] = []
    monkeypatch.setattr(ErrorDialog, "exec", lambda self: shown.append(self) or 0)
    db = tmp_path / "history.sqlite"
    window: Any = MainWindow(database=db, restore=False)
    qtbot.addWidget(window)
    window.show()
    window.doc.reset(tiny_spec("first", trials=1))
    window.start_run()
    wait_until_done(qtbot, window)
    assert [t.state for t in db_trials(db, "first")] == ["COMPLETE"]
    assert not shown

    _damage(db)
    before = db.read_bytes()
    window.doc.reset(tiny_spec("second", trials=1))
    window.start_run()
    wait_until_done(qtbot, window)
    assert len(shown) == 1
    text = shown[0].text()
    assert text.startswith(f"{db}: the history file is damaged (")
    assert "nothing was written to it" in text and "\n" not in text
    assert "MetaguiError" not in text and not shown[0].detailedText()
    assert shown[0].informativeText() == "metagui keeps running."
    assert db.read_bytes() == before

    # The app goes on: a run into a sound history works.
    shutil.move(db, tmp_path / "damaged.sqlite")
    assert window.commands.run.isEnabled()
    window.doc.reset(tiny_spec("third", trials=1))
    window.start_run()
    wait_until_done(qtbot, window)
    assert [t.state for t in db_trials(db, "third")] == ["COMPLETE"]
    assert len(shown) == 1
    window.close()
