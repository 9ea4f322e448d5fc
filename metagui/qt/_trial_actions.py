"""What the trials tables' actions do: exclude/include a trial, re-run it, export it.

**Exclude / include** writes the trial's ``excluded`` flag with a short-lived
:class:`HistoryWriter`. The history has one writer at a time: while the app's own run is writing
that database, the change is queued and applied when the run ends (the status bar says so).

**Re-run with these settings** does what a researcher checking a result expects: it trains
*that* configuration again. The experiment becomes the study's experiment with the trial's
sampled values as fixed settings, its seed, the study's evaluation tasks, one trial and no
search (``ExperimentSpec.with_params``), named ``<study>-trial<N>``; then Run starts (when no
run is on). It is one undoable edit: Undo brings the search back. A re-run therefore lands
next to the original as its own study, where the two can be compared.

**Export** opens the export dialog on that trial.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QStatusBar, QTabWidget, QWidget

from metagui.qt.error_dialog import show_error

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.qt._document import ExperimentDocument
    from metagui.qt._history_model import HistoryModel
    from metagui.qt._run_controller import RunController
    from metagui.qt._settings import AppSettings
    from metagui.qt.history_browser import HistoryBrowser, StudyViews

__all__ = ["TrialActions", "TrialsWindow", "rerun_spec", "write_excluded"]

log = logging.getLogger(__name__)


def write_excluded(db_path: Path, trial_id: int, excluded: bool) -> None:
    """Set one trial's ``excluded`` flag in ``db_path`` (opens and closes its own writer)."""
    from metagui.core.history import HistoryWriter

    with HistoryWriter(db_path) as writer:
        writer.set_excluded(trial_id, excluded)


def rerun_spec(
    study_spec: dict[str, object],
    study_name: str,
    params: dict[str, object],
    number: int,
    seed: int | None,
) -> ExperimentSpec:
    """The one-trial experiment that trains trial ``number``'s configuration again."""
    from metagui.core.experiment import ExperimentSpec

    spec = ExperimentSpec.model_validate(study_spec).with_params(params, seed=seed)
    name = f"{study_name}-trial{number}"[:200]
    return spec.model_copy(update={"name": name})


class TrialsWindow(Protocol):
    """What the trials tables' actions use of the window."""

    @property
    def doc(self) -> ExperimentDocument: ...

    @property
    def settings(self) -> AppSettings: ...

    @property
    def run(self) -> RunController: ...

    @property
    def model(self) -> HistoryModel:
        """The live run's history."""
        ...

    @property
    def live(self) -> StudyViews: ...

    @property
    def history(self) -> HistoryBrowser: ...

    @property
    def centre(self) -> QTabWidget:
        """The tabs of the live run and the history (the one in front is exported)."""
        ...

    def start_run(self) -> None: ...

    def statusBar(self) -> QStatusBar: ...

    def window(self) -> QWidget:
        """The top-level widget: the parent of the dialogs and of the actions object."""
        ...


class TrialActions(QObject):
    """Connects the live and the history trials tables to the window."""

    def __init__(self, window: TrialsWindow) -> None:
        super().__init__(window.window())
        self._queued: dict[tuple[Path, int], bool] = {}
        # The history browser passes its table's requests on (its plots and table are built
        # when first shown): its views are looked up when a request comes.
        for source, views in (
            (window.live.table, lambda: self._window.live),
            (window.history, lambda: self._window.history.views),
        ):
            source.exclude_requested.connect(
                lambda trial_id, excluded, v=views: self.exclude(v(), trial_id, excluded)
            )
            source.rerun_requested.connect(lambda trial_id, v=views: self.rerun(v(), trial_id))
            source.export_requested.connect(lambda trial_id, v=views: self.export(v(), trial_id))

    @property
    def _window(self) -> TrialsWindow:
        """The window this object belongs to (its Qt parent: no Python reference is kept, so
        that the window is not kept alive by a cycle through the tables' connections)."""
        return cast("TrialsWindow", self.parent())

    # -- exclude -------------------------------------------------------------------------------
    def exclude(self, views: StudyViews, trial_id: int, excluded: bool) -> None:
        db = views.model.path
        if db is None:
            return
        run_db = self._window.run.db_path
        if self._window.run.is_running() and run_db is not None and _same(run_db, db):
            self._queued[(db, trial_id)] = excluded
            verb = "excluded" if excluded else "included"
            self._window.statusBar().showMessage(
                f"The trial will be {verb} when the run ends (the run is writing the history).",
                8000,
            )
            return
        self._write(db, trial_id, excluded)

    @property
    def queued(self) -> dict[tuple[Path, int], bool]:
        return dict(self._queued)

    def apply_queued(self) -> None:
        """Write the exclusions queued during the run (call once the run has ended)."""
        queued, self._queued = self._queued, {}
        for (db, trial_id), excluded in queued.items():
            self._write(db, trial_id, excluded)

    def _write(self, db: Path, trial_id: int, excluded: bool) -> None:
        try:
            write_excluded(db, trial_id, excluded)
        except Exception as exc:
            show_error(
                "Cannot change the trial", f"{type(exc).__name__}: {exc}", "", self._window.window()
            )
            return
        for model in (self._window.model, self._window.history.model):
            if model.path is not None and _same(model.path, db):
                model.refresh()

    # -- re-run --------------------------------------------------------------------------------
    def rerun(self, views: StudyViews, trial_id: int) -> None:
        study = views.study()
        trial = None if study is None else study.trials.get(trial_id)
        if study is None or trial is None:
            return
        try:
            spec = rerun_spec(study.spec, study.name, trial.params, trial.number, trial.seed)
        except Exception as exc:  # e.g. a study recorded by an older, incompatible version
            message = f"{type(exc).__name__}: {exc}"
            show_error("Cannot re-run this trial", message, "", self._window.window())
            return
        w = self._window
        w.doc.replace(spec, f"re-run trial {trial.number} of {study.name}")
        if w.run.is_running():
            w.statusBar().showMessage(
                f"The experiment now re-runs trial {trial.number}; press Run when the current "
                "study has ended.",
                10_000,
            )
            return
        w.start_run()

    # -- export --------------------------------------------------------------------------------
    def export(self, views: StudyViews, trial_id: int | None) -> None:
        from metagui.qt.export_dialog import ExportDialog

        study = views.study()
        db = views.model.path
        if study is None or db is None:
            QMessageBox.information(
                self._window.window(),
                "Nothing to export yet",
                "Run a study, or open a history database and select a study, first.",
            )
            return
        trial = None if trial_id is None else study.trials.get(trial_id)
        dialog = ExportDialog(
            db,
            study.name,
            None if trial is None else trial.number,
            plots=views.plots,
            start_dir=self._window.settings.export_dir,
            parent=self._window.window(),
        )
        dialog.exec()
        if dialog.last_dir:
            self._window.settings.export_dir = dialog.last_dir
        dialog.deleteLater()

    def export_current(self) -> None:
        """Export from the tab in front: the selected trial, else the study's best."""
        w = self._window
        views = w.history.views if w.centre.currentWidget() is w.history else w.live
        self.export(views, views.selected_trial_id)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b
