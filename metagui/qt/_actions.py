"""The main window's actions, menus and toolbar, declared as data.

Each action is one :class:`ActionInfo` in :data:`ACTIONS` (its text, shortcut, icon, tip, what
it triggers on the window and when it is enabled); :data:`MENUS` and :data:`TOOLBAR` say where
they go. :class:`Actions` builds the QActions from these tables. What an action does lives in
the window, reached through the narrow :class:`ActionsWindow` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QToolBar, QWidget

from metagui._resources import resources_dir

if TYPE_CHECKING:
    from metagui.qt._document import ExperimentDocument
    from metagui.qt._experiment_files import ExperimentFiles

__all__ = [
    "ACTIONS",
    "MENUS",
    "SEPARATOR",
    "TOOLBAR",
    "ActionInfo",
    "Actions",
    "ActionsWindow",
    "RunState",
    "icon",
]


def icon(name: str) -> QIcon:
    """One of the app's own SVG icons in ``resources/icons`` (an empty icon if missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


class ActionsWindow(Protocol):
    """What the actions, menus and toolbar use of the window."""

    @property
    def doc(self) -> ExperimentDocument:
        """The experiment (its undo stack makes Undo and Redo)."""
        ...

    @property
    def files(self) -> ExperimentFiles: ...

    @property
    def setup_dock(self) -> QDockWidget: ...

    @property
    def toolbar(self) -> QToolBar: ...

    def open_history_dialog(self) -> None: ...

    def export_dialog(self) -> None: ...

    def start_run(self) -> None: ...

    def toggle_pause(self) -> None: ...

    def stop_run(self) -> None: ...

    def prune_trial(self) -> None: ...

    def edit_search_space(self) -> None: ...

    def choose_run_database(self) -> None: ...

    def about(self) -> None: ...

    def close(self) -> bool: ...

    def menuBar(self) -> QMenuBar: ...

    def window(self) -> QWidget:
        """The top-level widget: the parent of the actions and of the toolbar."""
        ...


@dataclass(frozen=True)
class RunState:
    """What the actions' enabled state depends on."""

    running: bool
    paused: bool
    valid: bool
    can_prune: bool


Shortcut = QKeySequence.StandardKey | str
WindowSlot = Callable[[], object]


@dataclass(frozen=True)
class ActionInfo:
    """One action of the window, as data.

    ``key`` is its attribute on :class:`Actions`; ``trigger`` picks the window's slot that the
    action calls, unless ``undo_stack`` says that the document's undo stack makes the action
    (its text then names the edit to undo or redo, and it is enabled while there is one).
    ``enabled_when`` is the rule :meth:`Actions.set_running` applies (None: always enabled);
    ``paused_text`` and ``paused_icon`` replace the text and the icon while a run is paused.
    """

    key: str
    text: str
    trigger: Callable[[ActionsWindow], WindowSlot] | None = None
    shortcut: Shortcut | None = None
    icon: str | None = None
    tip: str = ""
    checkable: bool = False
    undo_stack: Literal["undo", "redo"] | None = None
    enabled_when: Callable[[RunState], bool] | None = None
    paused_text: str | None = None
    paused_icon: str | None = None

    def __post_init__(self) -> None:
        if (self.trigger is None) == (self.undo_stack is None):
            raise ValueError(f"action {self.key!r}: give exactly one of trigger and undo_stack")


Key = QKeySequence.StandardKey

# fmt: off
ACTIONS: tuple[ActionInfo, ...] = (
    ActionInfo("new", "&New", lambda w: w.files.new,
               shortcut=Key.New, icon="new", tip="Start a new experiment"),
    ActionInfo("open", "&Open…", lambda w: w.files.open_dialog,
               shortcut=Key.Open, icon="open", tip="Open an experiment file"),
    ActionInfo("save", "&Save", lambda w: w.files.save,
               shortcut=Key.Save, icon="save", tip="Save the experiment"),
    ActionInfo("save_as", "Save &As…", lambda w: w.files.save_as,
               shortcut=Key.SaveAs, tip="Save under a new name"),
    ActionInfo("open_history", "Open &History Database…", lambda w: w.open_history_dialog,
               shortcut="Ctrl+H", icon="history",
               tip="Open a history database (a live one too) in the History tab"),
    ActionInfo("export", "&Export…", lambda w: w.export_dialog,
               shortcut="Ctrl+E", icon="export",
               tip="Export the best (or selected) trial's settings, the model or the plots"),
    ActionInfo("quit", "&Quit", lambda w: w.close, shortcut=Key.Quit),
    ActionInfo("undo", "&Undo", undo_stack="undo", shortcut=Key.Undo, icon="undo"),
    ActionInfo("redo", "&Redo", undo_stack="redo", shortcut=Key.Redo, icon="redo"),
    ActionInfo("run", "&Run", lambda w: w.start_run,
               shortcut="F5", icon="run", tip="Run the study of this experiment",
               enabled_when=lambda s: s.valid and not s.running),
    ActionInfo("pause", "&Pause", lambda w: w.toggle_pause,
               shortcut="F6", icon="pause",
               tip="Pause the run (Resume goes on); a parallel run starts no new trial and "
                   "lets the running ones finish",
               enabled_when=lambda s: s.running, paused_text="&Resume", paused_icon="run"),
    ActionInfo("stop", "S&top", lambda w: w.stop_run,
               shortcut="Shift+F5", icon="stop",
               tip="Stop the run (the running trials are kept as interrupted)",
               enabled_when=lambda s: s.running),
    ActionInfo("prune", "Prune &Trial", lambda w: w.prune_trial,
               shortcut="Ctrl+K", icon="prune",
               tip="End the selected running trial now as pruned (none selected: every "
                   "running trial); the study goes on",
               enabled_when=lambda s: s.can_prune),
    ActionInfo("edit_space", "Edit Search &Space…", lambda w: w.edit_search_space,
               tip="Change the search space of the paused or stopped study (the live run's, "
                   "or the one selected in the History tab) and continue it",
               enabled_when=lambda s: not s.running or s.paused),
    ActionInfo("choose_db", "Run &Database…", lambda w: w.choose_run_database,
               tip="Where runs are recorded", enabled_when=lambda s: not s.running),
    ActionInfo("about", "&About metagui", lambda w: w.about),
)

SEPARATOR = "-"

# Entries are action keys, SEPARATOR, "recent" (the Open Recent menu) and the view toggles
# "setup_dock" and "toolbar".
MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("new", "open", "recent", "save", "save_as", SEPARATOR,
               "open_history", "export", SEPARATOR,
               "quit")),
    ("&Edit", ("undo", "redo")),
    ("&Run", ("run", "pause", "stop", "prune", SEPARATOR, "edit_space", SEPARATOR, "choose_db")),
    ("&View", ("setup_dock", "toolbar")),
    ("&Help", ("about",)),
)

TOOLBAR: tuple[str, ...] = (
    "new", "open", "save", SEPARATOR,
    "undo", "redo", SEPARATOR,
    "run", "pause", "stop", "prune", SEPARATOR,
    "export", "open_history",
)
# fmt: on


class Actions:
    """Every QAction of the window, built once from :data:`ACTIONS` and wired to the
    window's slots."""

    # One attribute per entry of ACTIONS (tests/qt/test_actions.py keeps the two in step).
    new: QAction
    open: QAction
    save: QAction
    save_as: QAction
    open_history: QAction
    export: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    run: QAction
    pause: QAction
    stop: QAction
    prune: QAction
    edit_space: QAction
    choose_db: QAction
    about: QAction

    def __init__(self, window: ActionsWindow) -> None:
        self._by_key: dict[str, QAction] = {}
        for info in ACTIONS:
            action = _make_action(info, window)
            setattr(self, info.key, action)
            self._by_key[info.key] = action
        self.recent_menu = QMenu("Open &Recent", window.window())
        self.recent_menu.setObjectName("recentMenu")

    def __getitem__(self, key: str) -> QAction:
        """The action of ``ACTIONS`` entry ``key``."""
        return self._by_key[key]

    def set_running(
        self, running: bool, paused: bool, valid: bool, can_prune: bool | None = None
    ) -> None:
        """Enable what makes sense now (``can_prune`` None: while running and not paused)."""
        prunable = running and not paused if can_prune is None else can_prune
        state = RunState(running=running, paused=paused, valid=valid, can_prune=prunable)
        for info in ACTIONS:
            action = self._by_key[info.key]
            if info.enabled_when is not None:
                action.setEnabled(info.enabled_when(state))
            if info.paused_text is not None:
                action.setText(info.paused_text if paused else info.text)
            if info.paused_icon is not None:
                action.setIcon(icon(info.paused_icon if paused else info.icon or ""))

    def build_menus(self, window: ActionsWindow) -> None:
        """Fill the window's menu bar as :data:`MENUS` says."""
        entries: dict[str, QAction | QMenu] = {
            **self._by_key,
            "recent": self.recent_menu,
            "setup_dock": window.setup_dock.toggleViewAction(),
            "toolbar": window.toolbar.toggleViewAction(),
        }
        bar = window.menuBar()
        for title, keys in MENUS:
            menu = bar.addMenu(title)
            for key in keys:
                entry = None if key == SEPARATOR else entries[key]
                if entry is None:
                    menu.addSeparator()
                elif isinstance(entry, QMenu):
                    menu.addMenu(entry)
                else:
                    menu.addAction(entry)

    def build_toolbar(self, window: ActionsWindow) -> QToolBar:
        """The main toolbar as :data:`TOOLBAR` says (the window adds it)."""
        bar = QToolBar("Main toolbar", window.window())
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        for key in TOOLBAR:
            if key == SEPARATOR:
                bar.addSeparator()
            else:
                bar.addAction(self._by_key[key])
        return bar


def _make_action(info: ActionInfo, window: ActionsWindow) -> QAction:
    parent = window.window()
    if info.undo_stack == "undo":
        action = window.doc.undo_stack.createUndoAction(parent, info.text)
    elif info.undo_stack == "redo":
        action = window.doc.undo_stack.createRedoAction(parent, info.text)
    else:
        action = QAction(info.text, parent)
    if info.icon:
        action.setIcon(icon(info.icon))
    if info.shortcut is not None:
        action.setShortcut(info.shortcut)
    if info.tip:
        action.setStatusTip(info.tip)
        action.setToolTip(info.tip)
    action.setCheckable(info.checkable)
    if info.trigger is not None:
        action.triggered.connect(info.trigger(window))
    return action
