"""The trials table: every trial of a study, sortable and filterable by state, by tag and by a
query over parameters, values and tags, with the best (a two-objective study: the trials of
its Pareto front) highlighted and a context menu to exclude, re-run or export a trial."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from metagui.core.trial_filter import FilterError, parse_filter
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.panels._editors import set_invalid
from metagui.qt.views._labels import counted
from metagui.qt.views._live_view import LiveView
from metagui.qt.views._trials_model import TRIAL_ID_ROLE, TrialsFilterProxy, TrialsTableModel

__all__ = ["TrialsTable"]

FIT_ROWS = 50
"""Rows a column's width is fitted to (Qt's default is a thousand)."""

STATE_FILTERS: dict[str, set[str] | None] = {
    "All states": None,
    "Complete": {"COMPLETE"},
    "Running": {"RUNNING"},
    "Pruned": {"PRUNED"},
    "Failed": {"FAILED"},
    "Pruned or failed": {"PRUNED", "FAILED"},
}
ANY_TAG = "Any tag"
"""The tag filter's first entry: trials tagged or not."""
QUERY_AFTER_MS = 300
"""The pause in typing after which the query is applied."""
QUERY_EXAMPLE = 'value < 0.5 and algorithm.name == "maml"'
"""In the query line while it is empty (short enough to show whole beside the notes)."""


class TrialsTable(LiveView):
    """A sortable table of the study's trials, filtered by state, by tag and by a query (see
    :mod:`metagui.core.trial_filter`; a query that cannot be read says why under it and
    filters nothing), that follows the history incrementally (selection and scroll position
    are kept while rows arrive and change).

    Signals (the main window acts on the requests): ``trial_selected(trial id)`` when the user
    selects a row; ``exclude_requested(trial id, exclude)``, ``rerun_requested(trial id)`` and
    ``export_requested(trial id)`` from the right-click menu."""

    trial_selected = Signal(int)
    exclude_requested = Signal(int, bool)
    rerun_requested = Signal(int)
    export_requested = Signal(int)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self._selecting = False
        self.table_model = TrialsTableModel(model, self)
        self.proxy = TrialsFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)

        self.state_box = QComboBox()
        self.state_box.addItems(list(STATE_FILTERS))
        self.state_box.currentTextChanged.connect(self._on_state_filter)
        self.tag_box = QComboBox()
        self.tag_box.setObjectName("tagFilter")
        self.tag_box.addItem(ANY_TAG)
        self.tag_box.setToolTip("Show only the trials with this tag")
        self.tag_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.tag_box.currentIndexChanged.connect(self._on_tag_filter)
        # The study and its trials' revision the tag filter was filled from.
        self._tags_of: tuple[StudyData | None, int] = (None, -1)
        self.query_edit = QLineEdit()
        self.query_edit.setObjectName("trialQuery")
        self.query_edit.setPlaceholderText(f"e.g. {QUERY_EXAMPLE}")
        self.query_edit.setToolTip(
            "Show only the trials for which this holds: comparisons (== != < <= > >= in) of\n"
            "value, test_value, state, number, duration, seed, excluded, tags, notes, front\n"
            "(on the Pareto front; the best in a study of one objective) and the parameters\n"
            "by name, joined by and, or, not; e.g.\n"
            'value < 0.5 and algorithm.name == "maml" and "baseline" in tags'
        )
        self.query_edit.setClearButtonEnabled(True)
        # Applied after a pause in typing, not at each keystroke; parsing is cheap, but
        # filtering a big study again is not.
        self._query_pause = QTimer(self)
        self._query_pause.setSingleShot(True)
        self._query_pause.setInterval(QUERY_AFTER_MS)
        self._query_pause.timeout.connect(self._apply_query)
        self.query_edit.textChanged.connect(self._query_pause.start)
        self.query_error = QLabel()
        self.query_error.setObjectName("fieldError")
        self.query_error.setWordWrap(True)
        self.query_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.query_error.hide()
        # The parameter names the query was read against (a name unknown then may be known
        # once more trials arrived).
        self._query_names: tuple[str, ...] = ()
        self.count_label = QLabel()
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show:"))
        controls.addWidget(self.state_box)
        controls.addWidget(QLabel("tagged:"))
        controls.addWidget(self.tag_box)
        controls.addStretch(1)
        controls.addWidget(self.count_label)
        # The query on a line of its own: the table is narrow beside the notes in the History
        # tab, and a query is long.
        query_line = QHBoxLayout()
        query_line.addWidget(QLabel("where:"))
        query_line.addWidget(self.query_edit, 1)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # Fit columns to the first rows, not to a thousand (a second for a big study).
        header.setResizeContentsPrecision(FIT_ROWS)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.table_model.columnsInserted.connect(self._fit_columns)
        self.table_model.modelReset.connect(self._fit_columns)
        self.table_model.rowsInserted.connect(self._on_rows_inserted)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(query_line)
        layout.addWidget(self.query_error)
        layout.addWidget(self.view, 1)

    # -- public ---------------------------------------------------------------------------------
    def set_state_filter(self, label: str) -> None:
        """One of :data:`STATE_FILTERS`' labels, e.g. ``'Failed'``."""
        if label not in STATE_FILTERS:
            raise ValueError(f"state filter must be one of {list(STATE_FILTERS)}")
        self.state_box.setCurrentText(label)

    def set_tag_filter(self, tag: str | None) -> None:
        """Show only the trials tagged ``tag`` (one of the study's trials' tags), or all (None)."""
        self.redraw()  # the tag may be new since the last tick
        index = 0 if tag is None else self.tag_box.findText(tag)
        if index < 0:
            raise ValueError(f"no trial of this study is tagged {tag!r}")
        self.tag_box.setCurrentIndex(index)

    def set_query(self, text: str) -> None:
        """Show only the trials for which ``text`` holds (see :mod:`metagui.core.trial_filter`;
        empty: all), now rather than after the pause in typing."""
        self.query_edit.setText(text)
        self._apply_query()

    def query_problem(self) -> str | None:
        """Why the query typed cannot be read (``"column 7: ..."``), or None."""
        return self.query_error.text() if not self.query_error.isHidden() else None

    def tag_filters(self) -> list[str]:
        """The tags offered by the tag filter (every tag of the study's trials), in order."""
        return [self.tag_box.itemText(i) for i in range(1, self.tag_box.count())]

    def selected_trial(self) -> int | None:
        rows = self.view.selectionModel().selectedRows()
        return rows[0].data(TRIAL_ID_ROLE) if rows else None

    def select_trial(self, trial_id: int | None) -> None:
        """Select (and scroll to) trial ``trial_id`` without emitting ``trial_selected``."""
        self.redraw()  # the trial may have arrived since the last tick
        selection = self.view.selectionModel()
        self._selecting = True
        try:
            row = None if trial_id is None else self.table_model.row_of(trial_id)
            index = None
            if row is not None:
                index = self.proxy.mapFromSource(self.table_model.index(row, 0))
            if index is None or not index.isValid():
                selection.clearSelection()
                return
            selection.select(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.view.scrollTo(index)
        finally:
            self._selecting = False

    def trial_ids_in_view_order(self) -> list[int]:
        """Trial ids of the rows as shown (filtered and sorted)."""
        return [
            self.proxy.index(row, 0).data(TRIAL_ID_ROLE) for row in range(self.proxy.rowCount())
        ]

    def context_menu(self, trial_id: int) -> QMenu:
        """The right-click menu of trial ``trial_id`` (the caller shows and deletes it)."""
        menu = QMenu(self)
        study = self.study()
        trial = study.trials.get(trial_id) if study else None
        if trial is None:
            return menu
        what = "the front" if study is not None and study.multi_objective else "best"
        if trial.excluded:
            include = menu.addAction(f"Include in {what}")
            include.triggered.connect(lambda: self.exclude_requested.emit(trial_id, False))
        else:
            exclude = menu.addAction(f"Exclude from {what}")
            exclude.setEnabled(trial.state == "COMPLETE")
            exclude.triggered.connect(lambda: self.exclude_requested.emit(trial_id, True))
        menu.addSeparator()
        rerun = menu.addAction("Re-run with these settings")
        rerun.triggered.connect(lambda: self.rerun_requested.emit(trial_id))
        export = menu.addAction("Export…")
        export.triggered.connect(lambda: self.export_requested.emit(trial_id))
        return menu

    # -- following the model --------------------------------------------------------------------
    def _study_changed(self) -> None:
        self.table_model.set_study(self.study_id)

    def _draw(self, study: StudyData | None) -> None:
        self.table_model.refresh()
        self._offer_tags(study)
        if self.query_edit.text().strip() and self._known_names(study) != self._query_names:
            self._apply_query()
        total = self.table_model.rowCount()
        shown = self.proxy.rowCount()
        self.count_label.setText(
            counted(total, "trial") if shown == total else f"{shown} of {counted(total, 'trial')}"
        )

    # -- events ---------------------------------------------------------------------------------
    def _fit_columns(self, *_: object) -> None:
        self.view.resizeColumnsToContents()
        for column in range(self.table_model.columnCount()):
            if self.view.columnWidth(column) > 220:
                self.view.setColumnWidth(column, 220)

    def _on_rows_inserted(self, _parent: object, first: int, _last: int) -> None:
        # Fit the columns to the first rows only: later, keep the widths the user chose.
        if first == 0:
            self._fit_columns()

    def _offer_tags(self, study: StudyData | None) -> None:
        """Offer every tag of the study's trials in the tag filter (read again only when the
        trials changed); the chosen one stays chosen while any trial still has it."""
        revision = -1 if study is None else study.trials_revision
        if study is self._tags_of[0] and revision == self._tags_of[1]:
            return
        self._tags_of = (study, revision)
        tags = sorted({tag for t in study.trials.values() for tag in t.tags}) if study else []
        if tags == self.tag_filters():
            return
        chosen = self.proxy.tag
        self.tag_box.blockSignals(True)
        try:
            self.tag_box.clear()
            self.tag_box.addItems([ANY_TAG, *tags])
            self.tag_box.setCurrentIndex(tags.index(chosen) + 1 if chosen in tags else 0)
        finally:
            self.tag_box.blockSignals(False)
        if chosen is not None and chosen not in tags:
            self.proxy.set_tag(None)

    def _known_names(self, study: StudyData | None) -> tuple[str, ...]:
        return tuple(study.param_names()) if study is not None else ()

    def _apply_query(self) -> None:
        """Read the query typed and filter by it; one that cannot be read says why under it
        and filters nothing until it is fixed."""
        self._query_pause.stop()
        text = self.query_edit.text()
        self._query_names = self._known_names(self.study())
        problem = None
        query = None
        if text.strip():
            try:
                query = parse_filter(text, self._query_names)
            except FilterError as exc:
                problem = str(exc)
        if query is not None or self.proxy.query is not None:
            self.proxy.set_query(query)
        self.query_error.setText(problem or "")
        self.query_error.setVisible(problem is not None)
        set_invalid(self.query_edit, problem is not None)
        self.invalidate()

    def _on_tag_filter(self, index: int) -> None:
        self.proxy.set_tag(self.tag_box.itemText(index) if index > 0 else None)
        self.invalidate()

    def _on_state_filter(self, label: str) -> None:
        self.proxy.set_states(STATE_FILTERS.get(label))
        self.invalidate()

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        trial_id = self.selected_trial()
        if trial_id is not None and not self._selecting:
            self.trial_selected.emit(trial_id)

    def _on_context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        trial_id = index.data(TRIAL_ID_ROLE)
        menu = self.context_menu(trial_id)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()
