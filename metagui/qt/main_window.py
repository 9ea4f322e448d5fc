"""The main window: set up an experiment on the left, watch its study train in the centre,
browse every recorded study in the History tab.

The window is a view over three models: the :class:`ExperimentDocument` (what the panels edit
and Run runs), the live :class:`HistoryModel` (the database the run writes, followed by
polling) and the :class:`RunController` (the worker thread). Torch and Optuna are imported
only once a run starts, in the worker thread.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, Slot
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from metagui.core.errors import MetaguiError
from metagui.core.reports import format_value
from metagui.qt._actions import Actions, icon
from metagui.qt._document import ExperimentDocument
from metagui.qt._experiment_files import EXPERIMENT_FILTER, ExperimentFiles
from metagui.qt._history_model import HistoryModel
from metagui.qt._pending_edit import finish_pending_edit
from metagui.qt._run_controller import RunController
from metagui.qt._settings import AppSettings, load_settings, save_settings
from metagui.qt._status import RunStatus
from metagui.qt._trial_actions import TrialActions
from metagui.qt._window_size import available_geometry, first_geometry, fits, setup_dock_width
from metagui.qt.error_dialog import show_error
from metagui.qt.history_browser import HistoryBrowser, StudyViews

__all__ = ["EXPERIMENT_FILTER", "MainWindow", "window_title"]

log = logging.getLogger(__name__)

HISTORY_FILTER = "History databases (*.sqlite *.sqlite3 *.db);;All files (*)"


def window_title(
    experiment: str, path: Path | None, study: str | None = None, paused: bool = False
) -> str:
    """``demo (demo.yaml)[*] — metagui``; an experiment never saved says so; while a study
    runs, ``… · study “demo-2” running``. ``[*]`` is where Qt marks unsaved changes."""
    where = path.name if path is not None else "not saved"
    title = f"{experiment} ({where})[*]"
    if study is not None:
        title += f" · study “{study}” {'paused' if paused else 'running'}"
    return f"{title} — metagui"


class MainWindow(QMainWindow):
    """metagui's window. ``settings`` default to the stored ones; ``database`` overrides the
    settings' database for runs (``metagui --db``)."""

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        database: str | Path | None = None,
        restore: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowIcon(icon("app"))
        warning: str | None = None
        if settings is None:
            settings, warning = load_settings()
        self.settings = settings
        self.persist_settings = True
        self._database = Path(database) if database is not None else None
        self.doc = ExperimentDocument(parent=self)
        self.model = HistoryModel(self)
        self.run = RunController(self)
        self.files = ExperimentFiles(self)
        self._build()
        self.trial_actions = TrialActions(self)
        self.status = RunStatus(self.run, self.statusBar(), self.model)
        self._connect()
        self._fit_dock_on_show = False
        if restore:
            self._restore(warning)
        else:
            self.size_to_screen()
        self._update_title()
        self._update_actions()

    # -- construction --------------------------------------------------------------------------
    def _build(self) -> None:
        from metagui.qt.panels import SearchPanel, StrategyPanel, TaskSetPanel, guard_wheel

        self.setDockNestingEnabled(False)
        self.setup_tabs = QTabWidget()
        self.setup_tabs.setObjectName("setupTabs")
        self.taskset_panel = TaskSetPanel(self.doc)
        self.search_panel = SearchPanel(self.doc)
        self.strategy_panel = StrategyPanel(
            self.doc, studies_provider=self.known_studies, history_provider=self.run_database
        )
        for panel, title in (
            (self.taskset_panel, "Task set"),
            (self.search_panel, "Algorithm && search space"),
            (self.strategy_panel, "Strategy && budget"),
        ):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidget(panel)
            self.setup_tabs.addTab(scroll, title)
        guard_wheel(self.setup_tabs)  # the wheel scrolls the panels, never edits a value
        self.setup_dock = QDockWidget("Setup", self)
        self.setup_dock.setObjectName("setupDock")
        self.setup_dock.setWidget(self.setup_tabs)
        self.setup_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)

        self.live = StudyViews(self.model)
        self.live_header = QLabel("No run yet: set up the experiment and press Run (F5).")
        self.live_header.setObjectName("liveHeader")
        self.live_header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        live_page = QWidget()
        live_layout = QVBoxLayout(live_page)
        live_layout.setContentsMargins(6, 6, 6, 6)
        live_layout.addWidget(self.live_header)
        live_layout.addWidget(self.live, 1)
        self.history = HistoryBrowser()
        self.centre = QTabWidget()
        self.centre.setObjectName("centreTabs")
        self.centre.setDocumentMode(True)
        self.centre.addTab(live_page, "Live run")
        self.centre.addTab(self.history, icon("history"), "History")
        self.setCentralWidget(self.centre)

        self.commands = Actions(self)
        self.toolbar = self.commands.build_toolbar(self)
        self.addToolBar(self.toolbar)
        self.commands.build_menus(self)

    def _connect(self) -> None:
        self.doc.validity_changed.connect(self._update_actions)
        self.doc.path_changed.connect(self._update_title)
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self.doc.changed.connect(self._update_title)  # the experiment's name
        self.run.running_changed.connect(self._update_title)
        self.run.paused_changed.connect(self._update_title)
        self.run.running_changed.connect(self._update_actions)
        self.run.paused_changed.connect(self._update_actions)
        self.run.study_started.connect(self._on_study_started)
        self.run.trial_ended.connect(self._on_trial_ended)
        self.run.failed.connect(self._on_run_failed)
        self.run.finished.connect(self._on_run_finished)
        self.model.error.connect(self._on_model_error)
        self.history.study_deleted.connect(self._on_study_deleted)
        self.centre.currentChanged.connect(self._on_centre_tab)
        self.files.use_recent_menu(self.commands.recent_menu)

    # -- state for others ----------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.run.is_running()

    def run_database(self) -> Path:
        return self._database or self.settings.run_database()

    def known_studies(self) -> list[str]:
        """Names of the studies in the run database (warm-start choices)."""
        from metagui.core.history import HistoryReader

        path = self.run_database()
        if not path.is_file():
            return []
        try:
            with HistoryReader(path) as reader:
                return [s.name for s in reader.studies()]
        except Exception as exc:  # a damaged file only means no choices
            log.warning("cannot list studies of %s: %s", path, exc)
            return []

    # -- files (the work is done by ``self.files``) -----------------------------------------
    def open_experiment(self, path: str | Path) -> bool:
        """Open an experiment file (as ``metagui run`` reads it); errors are shown, not raised."""
        return self.files.open(path)

    def save_experiment_to(self, path: str | Path) -> bool:
        return self.files.save_to(path)

    def open_copy(self, path: str | Path) -> bool:
        """Open an experiment as a new, untitled one (Save asks where): the built-in demo is
        never overwritten by a Save."""
        return self.files.open_copy(path)

    # -- running -------------------------------------------------------------------------------
    @Slot()
    def start_run(self) -> None:
        if self.run.is_running():
            return
        finish_pending_edit(self)  # F5 while typing runs what is typed, not what was there
        if not self.doc.is_valid:
            return
        try:
            # The file is recorded only when what runs is what it holds (no unsaved edits).
            source = self.doc.path if self.doc.undo_stack.isClean() else None
            self.run.start(self.doc.spec, self.run_database(), experiment_path=source)
        except (MetaguiError, OSError) as exc:
            show_error("Cannot start the run", str(exc), parent=self)
            return
        self.centre.setCurrentIndex(0)
        self.live_header.setText(f"Starting study {self.run.progress.study!r}…")

    @Slot()
    def toggle_pause(self) -> None:
        if self.run.paused:
            self.run.resume()
        else:
            self.run.pause()

    @Slot()
    def stop_run(self) -> None:
        self.run.stop()
        self.status.refresh()

    def prune_target(self) -> int | None:
        """The trial Prune ends: the running trial selected in the live trials table, else
        None (every running trial)."""
        trial_id = self.live.table.selected_trial()
        study = self.live.study()
        trial = None if study is None or trial_id is None else study.trials.get(trial_id)
        if trial is None or trial.number not in self.run.progress.running:
            return None
        return trial.number

    @Slot()
    def prune_trial(self) -> None:
        number = self.prune_target()
        self.run.prune(number)
        running = len(self.run.progress.running)
        if number is not None:
            text = f"Pruning trial {number}…"
        elif running > 1:
            text = f"Pruning the {running} running trials…"
        else:
            text = "Pruning the running trial…"
        self.statusBar().showMessage(text, 3000)

    def space_edit_target(self) -> tuple[Path, str] | None:
        """The study Edit Search Space acts on, as (history, study name): the one selected in
        the History tab while it shows, else the live run's study (None: neither)."""
        if self.centre.currentWidget() is self.history:
            ids = self.history.selected_study_ids()
            study = self.history.model.studies.get(ids[0]) if len(ids) == 1 else None
            path = self.history.model.path
            return None if study is None or path is None else (path, study.name)
        p = self.run.progress
        return None if p.study_id is None or not p.db_path else (Path(p.db_path), p.study)

    @Slot()
    def edit_search_space(self) -> None:
        """Edit the search space of a paused or stopped study and continue it (a paused run
        of this window is stopped first)."""
        from metagui.qt._study_actions import edit_search_space

        target = self.space_edit_target()
        if target is None:
            self.statusBar().showMessage("Select a study in the History tab, or run one", 8000)
            return
        db, name = target
        p = self.run.progress
        live = (
            self.run.is_running() and p.study == name and Path(p.db_path).resolve() == db.resolve()
        )
        if live and not self.run.paused:
            self.statusBar().showMessage(f"Pause the run of “{name}” first", 8000)
            return
        if self.run.is_running() and not live:  # one study runs at a time in the window
            self.statusBar().showMessage(f"Stop the run of “{p.study}” first", 8000)
            return
        runner = edit_search_space(db, name, self, paused_run=live)
        if runner is None:
            return
        self.run.continue_with(runner)
        self.centre.setCurrentIndex(0)
        self.live_header.setText(f"Continuing study “{name}” with the edited search space…")

    @Slot(object)
    def _on_study_started(self, report: Any) -> None:
        db = Path(report.db_path)
        if self.model.path is None or self.model.path.resolve() != db.resolve():
            self.model.open(db)
        else:
            self.model.refresh()
        self.live.set_study(report.study_id)
        verb = "Resuming" if report.resumed else "Running"
        where = ""
        if report.on_ray:
            at_once = f"{report.parallel} trials at once" if report.parallel > 1 else "trials"
            where = f" · {at_once} on {report.where}"
        self.live_header.setText(f"{verb} study “{report.study}”{where} · {db}")
        self.live_header.setToolTip(str(db))

    @Slot(object)
    def _on_trial_ended(self, report: Any) -> None:
        self._update_actions()  # the last running trial of a paused parallel run may be gone
        detail = report.error or report.pruned_reason or ""
        result = f"value {format_value(report.value)}"
        study = self.status.study()
        if study is not None and study.multi_objective and report.values:
            from metagui.core.objectives import objectives_text

            result = objectives_text(study.objectives, report.values)
        text = f"Trial {report.number} {report.state.lower()}, {result}"
        self.statusBar().showMessage(f"{text}  {detail}".rstrip(), 8000)

    @Slot(str, str)
    def _on_run_failed(self, message: str, details: str) -> None:
        show_error("The run stopped on an error", message, details, self)

    @Slot()
    def _on_run_finished(self) -> None:
        self.trial_actions.apply_queued()
        if self.model.path is not None:
            self.model.refresh()
        p = self.run.progress
        counts = ", ".join(f"{n} {s.lower()}" for s, n in p.counts.items() if n)
        best = f"best {format_value(p.best_value)}" + (
            f" (trial {p.best_number})" if p.best_number is not None else ""
        )
        study = self.status.study()
        if study is not None and study.multi_objective:
            front = len(study.front())
            best = f"{front} trial{'' if front == 1 else 's'} on the Pareto front"
        self.live_header.setText(
            f"Study “{p.study}” ended ({p.end_reason}){': ' + counts if counts else ''} · {best}"
        )
        self.history.refresh()
        self.strategy_panel.warm_start.reload()  # a study more to learn from

    @Slot(int)
    def _on_study_deleted(self, study_id: int) -> None:
        """A study was deleted in the History tab. The live run's model, if it follows the same
        history, reads it afresh (its polls follow what is added, not what is gone: it would
        keep the deleted study's rows, and mix them with a new study's that takes its id)."""
        deleted_from = self.history.model.path
        if self.model.path is None or deleted_from is None:
            return
        if self.model.path.resolve() != deleted_from.resolve():
            return
        shown = self.live.study()
        self.model.reload()
        if shown is not None and self.live.study_id not in self.model.studies:
            self.live.set_study(None)
            self.live_header.setText(f"The study “{shown.name}” was deleted in the History tab.")

    @Slot(str)
    def _on_model_error(self, message: str) -> None:
        self.statusBar().showMessage(f"History: {message}", 10_000)

    def show_setup(self, page: str) -> None:
        """Bring a setup tab to the front: ``"taskset"``, ``"search"`` or ``"strategy"``."""
        panels = {
            "taskset": self.taskset_panel,
            "search": self.search_panel,
            "strategy": self.strategy_panel,
        }
        for i in range(self.setup_tabs.count()):
            tab = self.setup_tabs.widget(i)
            if tab is not None and tab.isAncestorOf(panels[page]):
                self.setup_tabs.setCurrentIndex(i)

    # -- history, export -----------------------------------------------------------------------
    @Slot()
    def open_history_dialog(self) -> None:
        start = str(self.history.model.path or self.run_database())
        path, _ = QFileDialog.getOpenFileName(self, "Open history database", start, HISTORY_FILTER)
        if path:
            self.open_history(path)

    def open_history(self, path: str | Path) -> bool:
        self.centre.setCurrentWidget(self.history)
        if not self.history.open(path):
            return False
        self.settings.history_database = str(Path(path).resolve())
        return True

    @Slot(int)
    def _on_centre_tab(self, index: int) -> None:
        if self.centre.widget(index) is self.history and self.history.model.path is None:
            stored = self.settings.history_database
            path = Path(stored) if stored else self.run_database()
            if path.is_file():
                self.history.open(path)

    @Slot()
    def export_dialog(self) -> None:
        self.trial_actions.export_current()

    @Slot()
    def choose_run_database(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Record runs in",
            str(self.run_database()),
            HISTORY_FILTER,
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self._database = None
            self.settings.database = path
            self.save_settings()
            self.strategy_panel.warm_start.reload()
            self.statusBar().showMessage(f"Runs are recorded in {path}", 5000)

    @Slot()
    def about(self) -> None:
        from metagui import __version__

        QMessageBox.about(
            self,
            "About metagui",
            f"<b>metagui {__version__}</b><p>A desktop experiment manager for meta-learning: "
            "task sets, MAML-family learners, hyperparameter search and live plots.</p>"
            f"<p>Runs are recorded in<br><code>{self.run_database()}</code></p>",
        )

    # -- window state --------------------------------------------------------------------------
    @Slot()
    def _update_actions(self, *_: object) -> None:
        self.commands.set_running(
            self.run.is_running(), self.run.paused, self.doc.is_valid, self.run.can_prune()
        )
        invalid = self.doc.invalid_fields
        reasons = [
            reason if reason.startswith(name) else f"{name}: {reason}"
            for name, reason in invalid.items()
        ]
        self.commands.run.setToolTip(
            "Fix the setup first: " + "; ".join(reasons)
            if reasons
            else "Run the study of this experiment (F5)"
        )

    @Slot()
    def _update_title(self, *_: object) -> None:
        running = self.run.is_running()
        self.setWindowTitle(
            window_title(
                self.doc.spec.name,
                self.doc.path,
                self.run.progress.study if running else None,
                self.run.paused,
            )
        )
        self.setWindowModified(not self.doc.undo_stack.isClean())

    def size_to_screen(self) -> None:
        """Size and place the window for the screen it opens on (first start, or a saved
        geometry that does not fit); the setup dock takes its share when the window shows."""
        self.setGeometry(first_geometry(available_geometry(self)))
        self._fit_dock_on_show = True

    def showEvent(self, event: QShowEvent) -> None:
        if self._fit_dock_on_show:  # now that the window has its final size
            self._fit_dock_on_show = False
            width = setup_dock_width(self.width())
            self.resizeDocks([self.setup_dock], [width], Qt.Orientation.Horizontal)
        super().showEvent(event)

    def _restore(self, warning: str | None) -> None:
        s = self.settings
        restored = False
        if s.geometry:
            self.restoreGeometry(QByteArray(base64.b64decode(s.geometry)))
            restored = fits(self.frameGeometry(), available_geometry(self))
        if s.window_state:
            self.restoreState(QByteArray(base64.b64decode(s.window_state)))
        if not restored:  # first start, or saved on a larger screen
            self.size_to_screen()
        messages = [warning] if warning else []
        if s.last_experiment:
            try:
                self.doc.open(s.last_experiment)
            except (MetaguiError, OSError) as exc:
                messages.append(f"could not reopen the last experiment: {exc}")
        if s.unsaved_experiment is not None:
            spec, error = self.doc.try_data(s.unsaved_experiment)
            if spec is not None:
                self.doc.replace(spec, "unsaved edits")
            else:
                messages.append(f"could not restore the unsaved edits: {error}")
        if messages:
            self.statusBar().showMessage("; ".join(messages), 15_000)

    def save_settings(self) -> None:
        if not self.persist_settings:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("cannot save the settings: %s", exc)
            self.statusBar().showMessage(f"Cannot save the settings: {exc}", 10_000)

    def store_state(self) -> None:
        """Write geometry, the open experiment and any unsaved edits to the settings."""
        s = self.settings
        s.geometry = base64.b64encode(self.saveGeometry().data()).decode("ascii")
        s.window_state = base64.b64encode(self.saveState().data()).decode("ascii")
        s.last_experiment = str(self.doc.path.resolve()) if self.doc.path else None
        s.unsaved_experiment = None if self.doc.undo_stack.isClean() else self.doc.data()
        self.save_settings()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.run.is_running():
            answer = QMessageBox.question(
                self,
                "Stop the run?",
                f"Study “{self.run.progress.study}” is still running. Stop it and quit? "
                "The running trials are recorded as interrupted; the study can be resumed with "
                "metagui run --resume.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.statusBar().showMessage("Stopping the run…")
            if not self.run.stop_and_wait():
                show_error("The run did not stop", "The worker did not end in 60 s.", "", self)
                event.ignore()
                return
            self.trial_actions.apply_queued()
        self.store_state()
        self.model.close()
        self.history.close_database()
        super().closeEvent(event)
