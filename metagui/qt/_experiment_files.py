"""New, Open, Save, Save As and Open Recent for the main window's experiment document.

Files are read and written by the same functions as the command line
(``metagui.core.experiment_io`` through :meth:`ExperimentDocument.open` / ``save``), so a file
saved here runs with ``metagui run`` and the other way round. Every file opened or saved goes
to the front of the recent files and becomes the experiment the app reopens next time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QStatusBar, QWidget

from metagui.core.errors import MetaguiError
from metagui.qt._pending_edit import finish_pending_edit
from metagui.qt._settings import start_folder

if TYPE_CHECKING:
    from metagui.qt._document import ExperimentDocument
    from metagui.qt._settings import AppSettings

__all__ = ["EXPERIMENT_FILTER", "ExperimentFiles", "FilesWindow"]

EXPERIMENT_FILTER = "Experiments (*.yaml *.yml *.json *.toml);;All files (*)"


class FilesWindow(Protocol):
    """What the file commands use of the window."""

    @property
    def doc(self) -> ExperimentDocument: ...

    @property
    def settings(self) -> AppSettings: ...

    def save_settings(self) -> None: ...

    def statusBar(self) -> QStatusBar: ...

    def window(self) -> QWidget:
        """The top-level widget: the parent of the dialogs and of the commands object."""
        ...


class ExperimentFiles(QObject):
    """The window's file commands over ``window.doc`` and ``window.settings``."""

    def __init__(self, window: FilesWindow) -> None:
        super().__init__(window.window())
        self._window = window

    @Slot()
    def new(self) -> None:
        if not self.may_discard_changes():
            return
        from metagui.core.experiment import ExperimentSpec

        self._window.doc.reset(ExperimentSpec())

    @Slot()
    def open_dialog(self) -> None:
        if not self.may_discard_changes():
            return
        doc = self._window.doc
        start = str(doc.path.parent if doc.path else self.start_folder())
        path, _ = QFileDialog.getOpenFileName(
            self._window.window(), "Open experiment", start, EXPERIMENT_FILTER
        )
        if path:
            self.open(path)

    def open(self, path: str | Path) -> bool:
        """Open an experiment file; a file that does not load is reported and changes
        nothing."""
        try:
            self._window.doc.open(path)
        except (MetaguiError, OSError) as exc:
            QMessageBox.warning(self._window.window(), "Cannot open the experiment", str(exc))
            return False
        self._remember(Path(path))
        self._window.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def open_copy(self, path: str | Path) -> bool:
        """Load ``path`` as an untitled experiment (not remembered, saved under a new name)."""
        from metagui.core.experiment_io import load_experiment

        try:
            spec = load_experiment(path, check_resources=False)
        except (MetaguiError, OSError) as exc:
            QMessageBox.warning(self._window.window(), "Cannot open the experiment", str(exc))
            return False
        self._window.doc.reset(spec)
        self._window.statusBar().showMessage(f"A copy of {path}: Save asks for a file name", 8000)
        return True

    @Slot()
    def save(self) -> bool:
        finish_pending_edit(self._window.window())  # Ctrl+S while typing saves what is typed
        path = self._window.doc.path
        return self.save_as() if path is None else self.save_to(path)

    @Slot()
    def save_as(self) -> bool:
        finish_pending_edit(self._window.window())
        doc = self._window.doc
        start = str(doc.path or self.start_folder() / f"{doc.spec.name}.yaml")
        path, _ = QFileDialog.getSaveFileName(
            self._window.window(), "Save experiment", start, EXPERIMENT_FILTER
        )
        if not path:
            return False
        if not Path(path).suffix:
            path += ".yaml"
        return self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        try:
            saved = self._window.doc.save(path)
        except (MetaguiError, OSError) as exc:
            QMessageBox.warning(self._window.window(), "Cannot save the experiment", str(exc))
            return False
        self._remember(saved)
        self._window.statusBar().showMessage(f"Saved {saved}", 5000)
        return True

    def start_folder(self) -> Path:
        """Where Open and Save As start for an experiment without a file: the folder last
        used for experiments, else the documents folder."""
        return start_folder(self._window.settings.experiment_dir)

    def _remember(self, path: Path) -> None:
        settings = self._window.settings
        settings.add_recent(path)
        settings.last_experiment = str(path.resolve())
        settings.experiment_dir = str(path.resolve().parent)
        self._window.save_settings()

    def use_recent_menu(self, menu: QMenu) -> None:
        """Fill ``menu`` with the recent files each time it opens."""
        menu.aboutToShow.connect(lambda: self._fill_recent_menu(menu))

    def _fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        for entry in self._window.settings.recent_files:
            action = menu.addAction(entry)
            action.triggered.connect(lambda _=False, p=entry: self._open_recent(p))
        if not self._window.settings.recent_files:
            menu.addAction("No recent files").setEnabled(False)

    def _open_recent(self, path: str) -> None:
        if self.may_discard_changes():
            self.open(path)

    def may_discard_changes(self) -> bool:
        """Ask before unsaved edits are thrown away (True: go on)."""
        if self._window.doc.undo_stack.isClean():
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self._window.window(),
            "Unsaved changes",
            "The experiment has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard
