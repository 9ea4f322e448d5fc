"""Browse any metagui history database, including one a headless ``metagui run`` in another
process is writing right now: the browser follows it live through a :class:`HistoryModel`
(polling only what changed).

Above, the studies (name, strategy, status, best value, trials by state); below, the plots and
the trials table of the selected study. Selecting two or more studies compares their
best-so-far curves. The plots are built when first needed (a history opened, or the browser
shown), not with the window: the History tab is not what the window shows first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from metagui.core.history import StudySummary
from metagui.qt._history_model import HistoryModel, StudyData

if TYPE_CHECKING:
    from metagui.qt.views import CompareStudies, LiveView

__all__ = ["HistoryBrowser", "StudyViews", "describe_experience"]

_PLOTS = (
    ("loss", "Loss"),
    ("hyperparameters", "Hyperparameters"),
    ("best_so_far", "Best so far"),
    ("parallel_coordinates", "Parallel coordinates"),
    ("importance", "Importance"),
)


class _Plots(Mapping[str, "LiveView"]):
    """The plots of a :class:`StudyViews` by key, each built the first time it is asked for
    (or its tab shown): a window opens without building the plots nobody looks at yet."""

    def __init__(self, keys: list[str], build: Callable[[str], LiveView]) -> None:
        self._keys = keys
        self._build = build
        self._views: dict[str, LiveView] = {}

    def __getitem__(self, key: str) -> LiveView:
        if key not in self._keys:
            raise KeyError(key)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self._build(key)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def built(self) -> dict[str, LiveView]:
        """The plots built so far (none is built)."""
        return dict(self._views)


class StudyViews(QSplitter):
    """The plots of one study (tabs) over its trials table; with ``compare``, a last tab that
    compares the best-so-far curves of several studies. Used for the live run and the
    history browser alike. A plot is built when its tab is first shown or it is first asked
    for (``plots[key]``)."""

    def __init__(
        self, model: HistoryModel, *, compare: bool = False, parent: QWidget | None = None
    ) -> None:
        from metagui.qt.views import (
            BestSoFarPlot,
            CompareStudies,
            ImportancePlot,
            LossPlot,
            ParallelCoordinates,
            TrajectoryPlot,
            TrialsTable,
        )

        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("studyViews")
        self.setChildrenCollapsible(False)
        self.model = model
        self.selected_trial_id: int | None = None
        self._study_id: int | None = None
        self.compared: list[int] = []
        classes = (LossPlot, TrajectoryPlot, BestSoFarPlot, ParallelCoordinates, ImportancePlot)
        self._classes: dict[str, type[LiveView]] = {
            key: cls for (key, _), cls in zip(_PLOTS, classes, strict=True)
        }
        self._titles = dict(_PLOTS)
        if compare:
            self._classes["compare"] = CompareStudies
            self._titles["compare"] = "Compare studies"
        self.plots = _Plots(list(self._classes), self._build_plot)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("plotTabs")
        self.tabs.setDocumentMode(True)
        for key in self._classes:
            self.tabs.addTab(QWidget(), self._titles[key])  # the plot's place until built
        self.tabs.currentChanged.connect(self._on_tab)
        self.table = TrialsTable(model)
        self.table.trial_selected.connect(self._on_trial_selected)
        self.addWidget(self.tabs)
        self.addWidget(self.table)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self.setSizes([600, 320])
        self._on_tab(self.tabs.currentIndex())

    @property
    def compare(self) -> CompareStudies | None:
        """The comparison of studies, if these views have one."""
        from metagui.qt.views import CompareStudies

        if "compare" not in self._classes:
            return None
        view = self.plots["compare"]
        assert isinstance(view, CompareStudies)
        return view

    def _build_plot(self, key: str) -> LiveView:
        """Make plot ``key``, put it in its tab and bring it up to date."""
        from metagui.qt.views import CompareStudies

        view = self._classes[key](self.model)
        index = list(self._classes).index(key)
        current = self.tabs.currentIndex()
        placeholder = self.tabs.widget(index)
        self.tabs.blockSignals(True)
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, view, self._titles[key])
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(False)
        if placeholder is not None:
            placeholder.deleteLater()
        selected = getattr(view, "trial_selected", None)
        if selected is not None:
            selected.connect(self._on_trial_selected)
        if isinstance(view, CompareStudies):
            view.set_studies(self.compared)
        else:
            view.set_study(self._study_id)
            focus = getattr(view, "set_trial", None)
            if focus is not None and self.selected_trial_id is not None:
                focus(self.selected_trial_id)
        return view

    @Slot(int)
    def _on_tab(self, index: int) -> None:
        keys = list(self._classes)
        if 0 <= index < len(keys):
            self.plots[keys[index]]

    def show_plot(self, key: str) -> None:
        """Bring the plot ``key`` (``loss``, ``hyperparameters``, ``best_so_far``,
        ``parallel_coordinates``, ``importance``) to the front."""
        keys = [k for k, _ in _PLOTS]
        if key not in keys:
            raise ValueError(f"no plot {key!r} (have {', '.join(keys)})")
        self.tabs.setCurrentIndex(keys.index(key))

    @property
    def study_id(self) -> int | None:
        return self._study_id

    def study(self) -> StudyData | None:
        sid = self.study_id
        return None if sid is None else self.model.studies.get(sid)

    def set_study(self, study_id: int | None) -> None:
        """Show ``study_id`` in every plot and the table."""
        self._study_id = study_id
        self.selected_trial_id = None
        for key, view in self.plots.built().items():
            if key != "compare":
                view.set_study(study_id)
        self.table.set_study(study_id)

    def set_compared(self, study_ids: list[int]) -> None:
        from metagui.qt.views import CompareStudies

        self.compared = list(study_ids)
        compare = self.plots.built().get("compare")
        if isinstance(compare, CompareStudies):
            compare.set_studies(study_ids)

    @Slot(int)
    def _on_trial_selected(self, trial_id: int) -> None:
        """A trial picked in one view (a table row, a curve, a point) is focused in all."""
        self.selected_trial_id = trial_id
        source = self.sender()
        for view in self.plots.built().values():
            focus = getattr(view, "set_trial", None)
            if focus is not None and view is not source:
                focus(trial_id)
        if source is not self.table:
            self.table.select_trial(trial_id)

    def selected_trial_number(self) -> int | None:
        study = self.study()
        if study is None or self.selected_trial_id is None:
            return None
        trial = study.trials.get(self.selected_trial_id)
        return None if trial is None else trial.number


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
    cells = [
        _cell(s.name),
        _cell(s.strategy),
        _cell(s.status),
        _cell(f"{best} {arrow}", s.best_value, align_right=True),
        _cell(str(s.n_trials), s.n_trials, align_right=True),
    ]
    for state in ("COMPLETE", "PRUNED", "FAILED", "RUNNING"):
        n = s.counts.get(state, 0)
        cells.append(_cell(str(n) if n else "", n, align_right=True))
    cells.append(_cell(created, s.created))
    cells[0].setData(Qt.ItemDataRole.UserRole, s.id)
    cells[0].setToolTip(f"{s.name}: {s.direction} the objective, seed {s.seed}")
    cells[2].setData(Qt.ItemDataRole.UserRole + 2, s.status)
    return cells


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
    """Studies of one history database, followed live, with their plots and trials.

    The trials table's requests are forwarded (``exclude_requested(trial id, excluded)``,
    ``rerun_requested(trial id)``, ``export_requested(trial id)``) for the window to act on."""

    exclude_requested = Signal(int, bool)
    rerun_requested = Signal(int)
    export_requested = Signal(int)

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
        self.studies.setToolTip("Select a study to see its trials; select several to compare")
        self.studies.itemSelectionChanged.connect(self._on_selection)
        hint = QLabel("Select two or more studies (Ctrl/Shift+click) to compare them.")
        hint.setObjectName("hint")
        top.insertWidget(1, hint)
        self.experience_label = QLabel()
        self.experience_label.setObjectName("studyExperience")
        self.experience_label.setWordWrap(True)
        self.experience_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.experience_label.hide()
        listing = QWidget()
        listing_layout = QVBoxLayout(listing)
        listing_layout.setContentsMargins(0, 0, 0, 0)
        listing_layout.setSpacing(2)
        listing_layout.addWidget(self.studies, 1)
        listing_layout.addWidget(self.experience_label)

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
        selected = self.selected_study_ids()
        summaries = sorted(
            (s.summary for s in self.model.studies.values()), key=lambda s: -s.created
        )
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
        self._show_experience()

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
        was_comparing = len(self.views.compared) > 1
        self.views.set_compared(ids)
        if len(ids) > 1 and not was_comparing and self.views.compare is not None:
            self.views.tabs.setCurrentWidget(self.views.compare)

    def _show_experience(self) -> None:
        """Say what the shown study learned from (the experience pool), if anything."""
        study_id = self._views.study_id if self._views is not None else None
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
