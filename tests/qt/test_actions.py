"""The window's actions are declared in a table: the table is consistent, the menus and the
toolbar come out as declared, the enabled rules hold, and every action reaches its slot through
the narrow ``ActionsWindow`` protocol (a stand-in window here, not the real one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QDockWidget, QMainWindow
from pytestqt.qtbot import QtBot

from metagui.qt._actions import ACTIONS, MENUS, SEPARATOR, TOOLBAR, ActionInfo, Actions
from metagui.qt._document import ExperimentDocument


class _Files(QObject):
    """Records the file commands instead of opening dialogs."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def new(self) -> None:
        self.calls.append("files.new")

    def open_dialog(self) -> None:
        self.calls.append("files.open_dialog")

    def save(self) -> None:
        self.calls.append("files.save")

    def save_as(self) -> None:
        self.calls.append("files.save_as")


class _StandInWindow(QMainWindow):
    """Only what ``ActionsWindow`` asks for; every command records its name."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.doc = ExperimentDocument(parent=self)
        self.files = _Files(self.calls)
        self.setup_dock = QDockWidget("Setup", self)
        self.commands = Actions(self)
        self.toolbar = self.commands.build_toolbar(self)
        self.commands.build_menus(self)

    def open_history_dialog(self) -> None:
        self.calls.append("open_history_dialog")

    def export_dialog(self) -> None:
        self.calls.append("export_dialog")

    def start_run(self) -> None:
        self.calls.append("start_run")

    def toggle_pause(self) -> None:
        self.calls.append("toggle_pause")

    def stop_run(self) -> None:
        self.calls.append("stop_run")

    def prune_trial(self) -> None:
        self.calls.append("prune_trial")

    def edit_search_space(self) -> None:
        self.calls.append("edit_search_space")

    def choose_run_database(self) -> None:
        self.calls.append("choose_run_database")

    def about(self) -> None:
        self.calls.append("about")


@pytest.fixture
def stand_in(qtbot: QtBot) -> Iterator[_StandInWindow]:
    window = _StandInWindow()
    qtbot.addWidget(window)
    yield window


def _entries(actions: list[QAction]) -> list[str]:
    """Each entry's text; a submenu's title; SEPARATOR for a separator."""
    entries = []
    for action in actions:
        submenu = action.menu()
        entries.append(
            SEPARATOR if action.isSeparator() else submenu.title() if submenu else action.text()
        )
    return entries


def _pixels(icon: QIcon) -> bytes:
    return bytes(icon.pixmap(16, 16).toImage().constBits())


def test_the_table_matches_the_actions_attributes() -> None:
    keys = [info.key for info in ACTIONS]
    assert len(keys) == len(set(keys))
    declared = {name for name, kind in Actions.__annotations__.items() if kind == "QAction"}
    assert set(keys) == declared
    shortcuts = [str(info.shortcut) for info in ACTIONS if info.shortcut is not None]
    assert len(shortcuts) == len(set(shortcuts))
    placed = {key for _, keys_ in MENUS for key in keys_} | set(TOOLBAR)
    assert set(keys) <= placed, "every action is in a menu or on the toolbar"
    assert placed - set(keys) <= {SEPARATOR, "recent", "setup_dock", "toolbar"}


def test_an_action_has_a_trigger_or_comes_from_the_undo_stack() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ActionInfo("odd", "Odd")
    with pytest.raises(ValueError, match="exactly one"):
        ActionInfo("odd", "Odd", lambda w: w.about, undo_stack="undo")


def test_menus_and_toolbar_are_built_as_declared(stand_in: _StandInWindow) -> None:
    menus = {a.text(): _entries(a.menu().actions()) for a in stand_in.menuBar().actions()}
    assert menus == {
        "&File": [
            "&New", "&Open…", "Open &Recent", "&Save", "Save &As…", SEPARATOR,
            "Open &History Database…", "&Export…", SEPARATOR, "&Quit",
        ],
        "&Edit": ["&Undo", "&Redo"],
        "&Run": ["&Run", "&Pause", "S&top", "Prune &Trial", SEPARATOR,
                 "Edit Search &Space…", SEPARATOR, "Run &Database…"],
        "&View": ["Setup", "Main toolbar"],
        "&Help": ["&About metagui"],
    }  # fmt: skip
    assert _entries(stand_in.toolbar.actions()) == [
        "&New", "&Open…", "&Save", SEPARATOR, "&Undo", "&Redo", SEPARATOR,
        "&Run", "&Pause", "S&top", "Prune &Trial", SEPARATOR,
        "&Export…", "Open &History Database…",
    ]  # fmt: skip
    commands = stand_in.commands
    assert commands.run.shortcut().toString() == "F5"
    assert commands.prune.shortcut().toString() == "Ctrl+K"
    assert commands.export.statusTip() == commands.export.toolTip() != ""
    assert not commands.run.icon().isNull() and commands.save_as.icon().isNull()


def test_every_action_calls_its_slot_on_the_window(stand_in: _StandInWindow) -> None:
    commands = stand_in.commands
    commands.set_running(running=True, paused=False, valid=True)
    for key in ("new", "open", "save", "save_as", "open_history", "export"):
        commands[key].trigger()
    for key in ("pause", "stop", "prune"):
        commands[key].trigger()
    commands.set_running(running=False, paused=False, valid=True)
    for key in ("run", "edit_space", "choose_db", "about"):
        commands[key].trigger()
    assert stand_in.calls == [
        "files.new", "files.open_dialog", "files.save", "files.save_as",
        "open_history_dialog", "export_dialog", "toggle_pause", "stop_run", "prune_trial",
        "start_run", "edit_search_space", "choose_run_database", "about",
    ]  # fmt: skip
    stand_in.doc.set_value("training.iterations", 42)
    assert commands.undo.isEnabled() and commands.undo.text().startswith("&Undo")


def test_the_enabled_rules_follow_the_run(stand_in: _StandInWindow) -> None:
    commands = stand_in.commands
    run, pause, stop, prune, where = (
        commands.run, commands.pause, commands.stop, commands.prune, commands.choose_db
    )  # fmt: skip

    commands.set_running(running=False, paused=False, valid=True)
    assert run.isEnabled() and where.isEnabled() and commands.edit_space.isEnabled()
    assert not (pause.isEnabled() or stop.isEnabled() or prune.isEnabled())
    commands.set_running(running=False, paused=False, valid=False)
    assert not run.isEnabled()

    commands.set_running(running=True, paused=False, valid=True)
    assert not run.isEnabled() and not where.isEnabled() and not commands.edit_space.isEnabled()
    assert pause.isEnabled() and stop.isEnabled() and prune.isEnabled()
    assert pause.text() == "&Pause"

    commands.set_running(running=True, paused=True, valid=True)
    assert pause.text() == "&Resume" and not prune.isEnabled()
    assert commands.edit_space.isEnabled()  # a paused study's space may be edited
    resume_icon = _pixels(pause.icon())
    commands.set_running(running=True, paused=True, valid=True, can_prune=True)
    assert prune.isEnabled()  # a paused parallel run with trials still running
    commands.set_running(running=True, paused=False, valid=True)
    assert pause.text() == "&Pause" and _pixels(pause.icon()) != resume_icon
