"""The main window's actions, menus and toolbar (what they do lives in the window)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from metagui._resources import resources_dir

if TYPE_CHECKING:
    from metagui.qt.main_window import MainWindow

__all__ = ["Actions", "icon"]


def icon(name: str) -> QIcon:
    """One of the app's own SVG icons in ``resources/icons`` (an empty icon if missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


class Actions:
    """Every QAction of the window, built once and wired to the window's methods."""

    def __init__(self, window: MainWindow) -> None:
        w = window
        doc = w.doc

        def action(
            text: str,
            slot: object,
            shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
            icon_name: str | None = None,
            tip: str = "",
        ) -> QAction:
            act = QAction(text, w)
            if icon_name:
                act.setIcon(icon(icon_name))
            if shortcut is not None:
                act.setShortcut(shortcut)
            if tip:
                act.setStatusTip(tip)
                act.setToolTip(tip)
            act.triggered.connect(slot)
            return act

        Key = QKeySequence.StandardKey
        files = w.files
        self.new = action("&New", files.new, Key.New, "new", "Start a new experiment")
        self.open = action("&Open…", files.open_dialog, Key.Open, "open", "Open an experiment file")
        self.save = action("&Save", files.save, Key.Save, "save", "Save the experiment")
        self.save_as = action("Save &As…", files.save_as, Key.SaveAs, None, "Save under a new name")
        self.open_history = action(
            "Open &History Database…",
            w.open_history_dialog,
            "Ctrl+H",
            "history",
            "Open a history database (a live one too) in the History tab",
        )
        self.export = action(
            "&Export…",
            w.export_dialog,
            "Ctrl+E",
            "export",
            "Export the best (or selected) trial's settings, the model or the plots",
        )
        self.quit = action("&Quit", w.close, Key.Quit)

        self.undo = doc.undo_stack.createUndoAction(w, "&Undo")
        self.undo.setShortcut(Key.Undo)
        self.undo.setIcon(icon("undo"))
        self.redo = doc.undo_stack.createRedoAction(w, "&Redo")
        self.redo.setShortcut(Key.Redo)
        self.redo.setIcon(icon("redo"))

        self.run = action("&Run", w.start_run, "F5", "run", "Run the study of this experiment")
        self.pause = action(
            "&Pause",
            w.toggle_pause,
            "F6",
            "pause",
            "Pause the run (Resume goes on); a parallel run starts no new trial and lets the "
            "running ones finish",
        )
        self.stop = action(
            "S&top",
            w.stop_run,
            "Shift+F5",
            "stop",
            "Stop the run (the running trials are kept as interrupted)",
        )
        self.prune = action(
            "Prune &Trial",
            w.prune_trial,
            "Ctrl+K",
            "prune",
            "End the selected running trial now as pruned (none selected: every running "
            "trial); the study goes on",
        )
        self.choose_db = action(
            "Run &Database…", w.choose_run_database, None, None, "Where runs are recorded"
        )
        self.about = action("&About metagui", w.about)

        self.recent_menu = QMenu("Open &Recent", w)
        self.recent_menu.setObjectName("recentMenu")

    def set_running(
        self, running: bool, paused: bool, valid: bool, can_prune: bool | None = None
    ) -> None:
        """Enable what makes sense now (``can_prune`` None: while running and not paused)."""
        self.run.setEnabled(valid and not running)
        self.pause.setEnabled(running)
        self.pause.setText("&Resume" if paused else "&Pause")
        self.pause.setIcon(icon("run" if paused else "pause"))
        self.stop.setEnabled(running)
        self.prune.setEnabled(running and not paused if can_prune is None else can_prune)
        self.choose_db.setEnabled(not running)

    def build_menus(self, window: MainWindow) -> None:
        bar = window.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.new, self.open])
        file.addMenu(self.recent_menu)
        file.addActions([self.save, self.save_as])
        file.addSeparator()
        file.addActions([self.open_history, self.export])
        file.addSeparator()
        file.addAction(self.quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.undo, self.redo])
        run = bar.addMenu("&Run")
        run.addActions([self.run, self.pause, self.stop, self.prune])
        run.addSeparator()
        run.addAction(self.choose_db)
        view = bar.addMenu("&View")
        view.addAction(window.setup_dock.toggleViewAction())
        view.addAction(window.toolbar.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about)

    def build_toolbar(self, window: MainWindow) -> QToolBar:
        bar = QToolBar("Main toolbar", window)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.addActions([self.new, self.open, self.save])
        bar.addSeparator()
        bar.addActions([self.undo, self.redo])
        bar.addSeparator()
        bar.addActions([self.run, self.pause, self.stop, self.prune])
        bar.addSeparator()
        bar.addActions([self.export, self.open_history])
        return bar
