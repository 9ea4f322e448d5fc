"""Browse any metagui history database, including one a headless ``metagui run`` in another
process is writing right now: the browser follows it live through a :class:`HistoryModel`
(polling only what changed).

Above, the studies (name, strategy, status, best value, trials by state, tags), with what the
selected one learned from and where it was made (its provenance); below, the plots, the trials
table and the notes pane of the selected study. Selecting two or more studies compares them
(the Compare tabs): their best-so-far curves, a table of their settings, results and
provenance side by side, and their parameter importances. Studies are renamed, deleted,
archived and unarchived from the buttons above the list or its context menu; archived studies
are listed only when "Show archived" is ticked. The plots are built when first needed (a
history opened, or the browser shown), not with the window: the History tab is not what the
window shows first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from metagui.core.history import StudySummary
from metagui.qt import _study_actions
from metagui.qt._elided_label import ElidedLabel
from metagui.qt._history_model import HistoryModel
from metagui.qt._study_views import StudyViews

__all__ = ["HistoryBrowser", "StudyViews", "describe_experience", "describe_study_provenance"]

ARCHIVED_FOREGROUND = QColor(128, 128, 128)

_COLUMNS = (
    "Study",
    "Strategy",
    "Status",
    "Best",
    "Trials",
    "Complete",
    "Pruned",
    "Failed",
    "Running",
    "Tags",
    "Created",
)


def _cell(text: str, sort_value: object = None, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if sort_value is not None:
        item.setData(Qt.ItemDataRole.UserRole + 1, sort_value)
    return item


def _study_cells(s: StudySummary) -> list[QTableWidgetItem]:
    best = "–" if s.best_value is None or not math.isfinite(s.best_value) else f"{s.best_value:.4g}"
    arrow = "↓" if s.direction == "minimize" else "↑"
    created = datetime.fromtimestamp(s.created).strftime("%Y-%m-%d %H:%M")
    # A two-objective study has no one best trial: how many are on its Pareto front.
    best_cell = (
        _cell(f"{best} {arrow}", s.best_value, align_right=True)
        if s.front_size is None
        else _cell(f"front {s.front_size}", s.front_size, align_right=True)
    )
    cells = [
        _cell(s.name),
        _cell(s.strategy),
        _cell(s.status),
        best_cell,
        _cell(str(s.n_trials), s.n_trials, align_right=True),
    ]
    for state in ("COMPLETE", "PRUNED", "FAILED", "RUNNING"):
        n = s.counts.get(state, 0)
        cells.append(_cell(str(n) if n else "", n, align_right=True))
    cells.append(_cell(", ".join(s.tags)))
    cells.append(_cell(created, s.created))
    cells[0].setData(Qt.ItemDataRole.UserRole, s.id)
    cells[0].setToolTip(f"{s.name}: {s.direction} the objective, seed {s.seed}")
    cells[2].setData(Qt.ItemDataRole.UserRole + 2, s.status)
    if s.archived:
        cells[2].setText(f"{s.status} · archived")
        for item in cells:
            item.setForeground(QBrush(ARCHIVED_FOREGROUND))
        cells[0].setToolTip(f"{cells[0].toolTip()} (archived: Unarchive lists it again)")
    return cells


def describe_study_provenance(record: Mapping[str, Any] | None) -> tuple[str, str]:
    """Where a study was made, in one line for the browser and the full lines for its
    tooltip (:func:`~metagui.core.provenance.describe_provenance`)."""
    from metagui.core.provenance import describe_provenance

    if not record:
        text = "Made before metagui recorded provenance (versions, host, experiment file)."
        return text, text
    lines = describe_provenance(dict(record))
    return "Made with " + " · ".join(lines), "\n".join(lines)


def describe_experience(record: Mapping[str, object] | None) -> tuple[str, str] | None:
    """What a study learned from (its recorded experience pool, ``warm_start: auto``) in one
    line, and the details for its tooltip; None for a study that learned from none."""
    if not record or record.get("mode") != "auto":
        return None
    raw = record.get("studies")
    studies = [s for s in raw if isinstance(s, Mapping)] if isinstance(raw, list) else []
    note = str(record.get("note") or "").replace("warm_start auto: ", "")
    if not studies:
        return f"Learned from no past study: {note or 'none was similar enough'}", note

    def alike(s: Mapping[str, object]) -> str:
        value = s.get("similarity")
        return f"{value:.2f}" if isinstance(value, int | float) else "?"

    named = ", ".join(f"“{s.get('name')}” ({alike(s)})" for s in studies)
    uses = []
    if record.get("initial_design"):
        uses.append(f"their best {record.get('initial_configs')} settings run first")
    if record.get("prior"):
        uses.append("a prior for the sampler")
    if record.get("pruning"):
        uses.append("pruning against their curves")
    how = f" · {', '.join(uses)}" if uses else ""
    count = "study" if len(studies) == 1 else "studies"
    details = [
        f"“{s.get('name')}”: {alike(s)} similar, {s.get('trials_used', 0)} trials used "
        f"(up to #{s.get('last_trial')}); {s.get('explanation', '')}"
        for s in studies
    ]
    return f"Learned from {len(studies)} past {count}: {named}{how}", "\n".join(
        [*details, note]
    ).strip()


class HistoryBrowser(QWidget):
    """Studies of one history database, followed live, with their plots, trials and notes.

    The trials table's requests are forwarded (``exclude_requested(trial id, excluded)``,
    ``rerun_requested(trial id)``, ``export_requested(trial id)``) for the window to act on;
    ``study_deleted(study id)`` says a study of the open history is gone, for other models
    that follow the same file (the live run's) to read it afresh."""

    exclude_requested = Signal(int, bool)
    rerun_requested = Signal(int)
    export_requested = Signal(int)
    study_deleted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyBrowser")
        self.model = HistoryModel(self)
        self.path_label = QLabel("No history database open.")
        self.path_label.setObjectName("historyPath")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open database…")
        self.open_button.clicked.connect(self.open_dialog)
        top = QHBoxLayout()
        top.addWidget(self.path_label, 1)
        top.addWidget(self.open_button)
        self.path_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, self.path_label.sizePolicy().verticalPolicy()
        )

        self.studies = QTableWidget(0, len(_COLUMNS))
        self.studies.setObjectName("studiesTable")
        self.studies.setHorizontalHeaderLabels(list(_COLUMNS))
        self.studies.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.studies.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.studies.verticalHeader().hide()
        self.studies.setAlternatingRowColors(True)
        self.studies.setShowGrid(False)
        self.studies.setWordWrap(False)
        header = self.studies.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.studies.verticalHeader().setDefaultSectionSize(22)
        # Room for three studies whatever the splitter is dragged to: with one row visible, a
        # comparison of several selected studies cannot be seen for what it is.
        self.studies.setMinimumHeight(header.sizeHint().height() + 3 * 22 + 20)
        self.studies.setToolTip(
            "Select a study to see its trials; Ctrl/Shift+click several to compare them; "
            "right-click to rename, archive or delete"
        )
        self.studies.itemSelectionChanged.connect(self._on_selection)
        self.studies.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.studies.customContextMenuRequested.connect(self._on_studies_menu)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Give the selected study a new name")
        self.rename_button.clicked.connect(self.rename_selected)
        self.archive_button = QPushButton("Archive")
        self.archive_button.setToolTip(
            "Hide the selected studies from this list (their records stay; "
            "Show archived lists them again)"
        )
        self.archive_button.clicked.connect(self.archive_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected study, its trials and its files")
        self.delete_button.clicked.connect(self.delete_selected)
        self.show_archived = QCheckBox("Show archived")
        self.show_archived.setToolTip("List the archived studies too")
        self.show_archived.toggled.connect(self._fill_studies)
        for position, widget in enumerate(
            (self.rename_button, self.archive_button, self.delete_button, self.show_archived)
        ):
            top.insertWidget(1 + position, widget)
        self.experience_label = ElidedLabel()
        self.experience_label.setObjectName("studyExperience")
        self.experience_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.experience_label.hide()
        self.provenance_label = ElidedLabel()
        self.provenance_label.setObjectName("studyProvenance")
        self.provenance_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provenance_label.hide()
        listing = QWidget()
        listing_layout = QVBoxLayout(listing)
        listing_layout.setContentsMargins(0, 0, 0, 0)
        listing_layout.setSpacing(2)
        listing_layout.addWidget(self.studies, 1)
        listing_layout.addWidget(self.experience_label)
        listing_layout.addWidget(self.provenance_label)

        self._views: StudyViews | None = None
        # Studies above, full width (every column readable), the selected study below.
        self._split = split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(listing)
        split.addWidget(QWidget())  # the plots' place until they are built
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setSizes([170, 800])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.model.studies_changed.connect(self._fill_studies)
        self.model.error.connect(self._on_error)
        self._update_study_buttons()

    @property
    def views(self) -> StudyViews:
        """The selected study's plots and trials table (built on first use)."""
        if self._views is None:
            views = StudyViews(self.model, compare=True)
            views.table.exclude_requested.connect(self.exclude_requested)
            views.table.rerun_requested.connect(self.rerun_requested)
            views.table.export_requested.connect(self.export_requested)
            sizes = self._split.sizes()
            placeholder = self._split.replaceWidget(1, views)
            if placeholder is not None:
                placeholder.deleteLater()
            self._split.setSizes(sizes)
            self._views = views
        return self._views

    def showEvent(self, event: QShowEvent) -> None:
        self.views  # noqa: B018  (built now: the browser is seen)
        super().showEvent(event)

    # -- the database --------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        start = str(self.model.path or "")
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open history database",
            start,
            "History databases (*.sqlite *.sqlite3 *.db);;All files (*)",
        )
        if path:
            self.open(path)

    def open(self, path: str | Path) -> bool:
        """Follow ``path``; shows the newest study. False (and says why) if it cannot be read."""
        target = Path(path)
        if not target.is_file():
            self._on_error(f"{target}: no such file")
            return False
        self.views.set_study(None)
        self.views.set_compared([])
        self.studies.setRowCount(0)
        try:
            self.model.open(target)
        except Exception as exc:  # not a history: say so, keep the browser usable
            self.model.close()
            self.model.path = None
            self._on_error(f"{target} is not a metagui history ({exc})")
            return False
        self.path_label.setText(str(target))
        self.path_label.setProperty("error", False)
        self._repolish(self.path_label)
        if self.studies.rowCount():
            self._select_first_study()
        return True

    def refresh(self) -> None:
        """Read what changed now (instead of at the next poll)."""
        if self.model.path is not None:
            self.model.refresh()

    def close_database(self) -> None:
        self.model.close()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.path_label.setText(message)
        self.path_label.setProperty("error", True)
        self._repolish(self.path_label)

    @staticmethod
    def _repolish(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    # -- studies -------------------------------------------------------------------------------
    def study_ids(self) -> list[int]:
        """Every listed study, in the order shown (newest first)."""
        return [self._row_id(row) for row in range(self.studies.rowCount())]

    def selected_study_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.studies.selectedIndexes()})
        return [self._row_id(row) for row in rows]

    def select_studies(self, study_ids: list[int]) -> None:
        wanted = set(study_ids)
        self.studies.clearSelection()
        mode = self.studies.selectionMode()
        self.studies.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.studies.rowCount()):
            if self._row_id(row) in wanted:
                self.studies.selectRow(row)
        self.studies.setSelectionMode(mode)

    def _select_first_study(self) -> None:
        """Select the first row (the newest study) alone, whatever keys are held: selectRow
        would add to the selection with Shift held and toggle it with Ctrl."""
        index = self.studies.model().index(0, 0)
        flags = QItemSelectionModel.SelectionFlag
        self.studies.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)

    def _row_id(self, row: int) -> int:
        item = self.studies.item(row, 0)
        assert item is not None
        return int(item.data(Qt.ItemDataRole.UserRole))

    @Slot()
    def _fill_studies(self) -> None:
        before = self.selected_study_ids()
        archived = self.show_archived.isChecked()
        summaries = sorted(
            (s.summary for s in self.model.studies.values() if archived or not s.summary.archived),
            key=lambda s: -s.created,
        )
        shown = {s.id for s in summaries}
        selected = [study_id for study_id in before if study_id in shown]
        self.studies.blockSignals(True)
        try:
            self.studies.setRowCount(len(summaries))
            for row, summary in enumerate(summaries):
                for column, item in enumerate(_study_cells(summary)):
                    self.studies.setItem(row, column, item)
            if selected:
                self.select_studies(selected)
        finally:
            self.studies.blockSignals(False)
        if not selected and summaries:
            self._select_first_study()
        if selected != before:
            # A selected study left the list (archived, deleted): the selection may not have
            # changed row by row, so the views are told.
            self._on_selection()
        self._show_experience()
        self._update_study_buttons()

    @Slot()
    def _on_selection(self) -> None:
        ids = self.selected_study_ids()
        current = self.studies.currentRow()
        focus = self._row_id(current) if 0 <= current < self.studies.rowCount() else None
        if focus not in ids:
            focus = ids[0] if ids else None
        if focus != self.views.study_id:
            self.views.set_study(focus)
        self._show_experience()
        self._update_study_buttons()
        was_comparing = len(self.views.compared) > 1
        self.views.set_compared(ids)
        if len(ids) > 1 and not was_comparing and self.views.compare is not None:
            self.views.tabs.setCurrentWidget(self.views.compare)

    def _show_experience(self) -> None:
        """Say what the shown study learned from (the experience pool), if anything, and
        where it was made (its provenance)."""
        study_id = self._views.study_id if self._views is not None else None
        self._show_provenance(study_id)
        described = None
        if study_id is not None:
            try:
                described = describe_experience(self.model.study_experience(study_id))
            except Exception:  # a history that cannot be read says so through the model
                described = None
        if described is None:
            self.experience_label.hide()
            self.experience_label.setText("")
            return
        text, details = described
        self.experience_label.setText(text)
        self.experience_label.setToolTip(details)
        self.experience_label.show()

    def _show_provenance(self, study_id: int | None) -> None:
        if study_id is None:
            self.provenance_label.hide()
            self.provenance_label.setText("")
            return
        try:
            record = self.model.study_provenance(study_id)
        except Exception:  # a history that cannot be read says so through the model
            record = None
        text, details = describe_study_provenance(record)
        self.provenance_label.setText(text)
        self.provenance_label.setToolTip(details)
        self.provenance_label.show()

    # -- renaming, deleting, archiving -----------------------------------------------------------
    def _update_study_buttons(self) -> None:
        ids = self.selected_study_ids()
        one = len(ids) == 1
        self.rename_button.setEnabled(one)
        self.delete_button.setEnabled(one)
        self.archive_button.setEnabled(bool(ids))
        archived = bool(ids) and all(self._archived(study_id) for study_id in ids)
        self.archive_button.setText("Unarchive" if archived else "Archive")

    def _archived(self, study_id: int) -> bool:
        study = self.model.studies.get(study_id)
        return study is not None and study.summary.archived

    def _leave_notes(self) -> None:
        """Write a note being edited before the studies change under it."""
        if self._views is not None:
            self._views.notes.save()

    @Slot()
    def rename_selected(self) -> bool:
        """Rename the selected study (asks for the name); True if it was renamed."""
        ids = self.selected_study_ids()
        if len(ids) != 1:
            return False
        self._leave_notes()
        study_id = ids[0]
        renamed = _study_actions.rename_study(self.model, study_id, self)
        if renamed:
            self.select_studies([study_id])
        return renamed

    @Slot()
    def delete_selected(self) -> bool:
        """Delete the selected study after asking; True if it was deleted."""
        ids = self.selected_study_ids()
        if len(ids) != 1:
            return False
        self._leave_notes()
        deleted = _study_actions.delete_study(self.model, ids[0], self)
        if ids[0] not in self.model.studies:  # also when its files could not all be removed
            self.study_deleted.emit(ids[0])
        return deleted

    @Slot()
    def archive_selected(self) -> bool:
        """Archive the selected studies, or unarchive them if all of them are archived."""
        ids = self.selected_study_ids()
        if not ids:
            return False
        archive = not all(self._archived(study_id) for study_id in ids)
        return _study_actions.set_archived(self.model, ids, archive, self)

    def studies_menu(self) -> QMenu:
        """The right-click menu of the selected studies (the caller shows and deletes it)."""
        menu = QMenu(self)
        for button in (self.rename_button, self.archive_button, self.delete_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        return menu

    @Slot(QPoint)
    def _on_studies_menu(self, pos: QPoint) -> None:
        if not self.studies.indexAt(pos).isValid():
            return
        menu = self.studies_menu()
        menu.exec(self.studies.viewport().mapToGlobal(pos))
        menu.deleteLater()
