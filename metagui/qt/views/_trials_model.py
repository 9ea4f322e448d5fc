"""The trials of one study as a Qt table model that follows a :class:`HistoryModel`
incrementally: new trials are inserted rows, changed trials are changed rows.

The model sorts itself (:meth:`TrialsTableModel.sort`: one key per row, one Python sort),
and the proxy only filters by state: a proxy that sorted would ask the model for two values per
comparison, seconds for a study of 10,000 trials."""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from metagui.core.history import TrialRow
from metagui.core.objectives import format_objective
from metagui.core.trial_filter import TrialFilter
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._colors import STATE_COLORS
from metagui.qt.views._labels import objective_label
from metagui.qt.views._param_axis import format_number
from metagui.qt.views._pareto_info import axis_label, column_label

__all__ = ["SORT_ROLE", "TRIAL_ID_ROLE", "TrialsFilterProxy", "TrialsTableModel"]

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
"""The raw value a column sorts by (a number, or None for a blank cell)."""
TRIAL_ID_ROLE = Qt.ItemDataRole.UserRole + 2

FIXED_COLUMNS = ("#", "State", "Value", "Test value", "Duration", "Started", "Tags")
"""The first columns of a single-objective study's table (the indices below are theirs)."""
NUMBER, STATE, VALUE, TEST, DURATION, STARTED, TAGS = range(len(FIXED_COLUMNS))
_SINGLE_KEYS = ("number", "state", "value", "test", "duration", "started", "tags")
_MULTI_KEYS = ("number", "state", "value", "value2", "front", "test", "duration", "started", "tags")
"""A two-objective study's first columns: one value per objective (titled by the objective)
where a study of one has its value, then whether the trial is on the Pareto front."""
FRONT_MARK = "●"
"""In the "On front" column of a trial on the Pareto front."""
FRONT_TIP = (
    "On the Pareto front: no other trial is at least as good on both objectives and better on one"
)
TAIL_COLUMNS = ("Host", "Device", "Error / why pruned")
"""After the parameters: where each trial trained, and why it failed or was pruned."""
BEST_BACKGROUND = QColor(255, 200, 0, 70)
EXCLUDED_FOREGROUND = QColor(128, 128, 128)
SEEDED_MARK = "↺"
"""Next to the number of a trial whose settings came from the experience pool."""
OUTSIDE_TIP = "Outside the current search space: still a result, no longer steering the search"
"""The tooltip line of a trial whose settings the study's edited search space excludes."""
NOTE_MARK = "✎"
"""In the Tags column of a trial with a note (its tooltip shows the note)."""
_STATE_ORDER = {"RUNNING": 0, "QUEUED": 1, "COMPLETE": 2, "PRUNED": 3, "FAILED": 4}

Index = QModelIndex | QPersistentModelIndex


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_time(stamp: float | None, full: bool = False) -> str:
    """A start time, short for the table (``Jun 15 15:06``) or ``full`` for its tooltip."""
    if stamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S" if full else "%b %d %H:%M", time.localtime(stamp))


def why_not(trial: TrialRow) -> str:
    """The error of a failed trial, or why a pruned one was pruned."""
    if trial.state == "FAILED":
        return trial.error or "failed"
    if trial.state == "PRUNED":
        where = f" at step {trial.pruned_at_step}" if trial.pruned_at_step is not None else ""
        return f"pruned{where}: {trial.pruned_reason}" if trial.pruned_reason else f"pruned{where}"
    return ""


class TrialsTableModel(QAbstractTableModel):
    """Rows: the study's trials in the order they started (several may be running at once).
    Columns: number, state, value, test value, duration, start time, the researcher's tags,
    one per sampled parameter, the host and the device it trained on, and the error (or why
    the trial was pruned). The best trial has a ★, bold text and a highlighted background;
    excluded trials are grey and say so in their state; trials outside the study's search
    space (edited since they ran) are grey and italic and say so in their tooltip; a trial
    seeded from the experience pool has a ↺ after its number and says where from in its
    tooltip.

    A two-objective study's table has no best: an "On front" column marks the trials of the
    Pareto front (bold and highlighted as the best is), and a value column per objective,
    titled by it, takes the place of "Value"."""

    def __init__(self, model: HistoryModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._study_id: int | None = None
        self._study: StudyData | None = None
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._seq: dict[int, int] = {}
        self._params: list[str] = []
        self._best: int | None = None
        self._keys: tuple[str, ...] = _SINGLE_KEYS
        self._front: frozenset[int] = frozenset()  # of a two-objective study
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._trials_revision = -1  # of the study's trials as shown

    # -- following the history -------------------------------------------------------------------
    def set_study(self, study_id: int | None) -> None:
        self._study_id = study_id
        self._reset()

    def _reset(self) -> None:
        self.beginResetModel()
        self._study = None if self._study_id is None else self.model.studies.get(self._study_id)
        self._ids, self._row_of, self._seq, self._params, self._best = [], {}, {}, [], None
        self._front = frozenset()
        multi = self._study is not None and self._study.multi_objective
        self._keys = _MULTI_KEYS if multi else _SINGLE_KEYS
        if self._study is not None:
            self._params = self._study.param_names()
            for trial in self._study.ordered_trials():
                self._row_of[trial.id] = len(self._ids)
                self._ids.append(trial.id)
                self._seq[trial.id] = trial.updated_seq
            best = self._study.best_trial()
            self._best = best.id if best else None
            self._front = self._study.front_ids() if multi else frozenset()
            self._ids = self._sorted(self._ids)
            self._row_of = {tid: row for row, tid in enumerate(self._ids)}
            self._trials_revision = self._study.trials_revision
        self.endResetModel()

    def refresh(self) -> None:
        """Catch up with the history: insert new trials and parameters, update changed rows."""
        study = None if self._study_id is None else self.model.studies.get(self._study_id)
        if study is not self._study:  # another study, or the file was reopened
            self._reset()
            return
        if study is None or study.trials_revision == self._trials_revision:
            return  # only series changed: nothing the table shows
        self._trials_revision = study.trials_revision
        new_params = [p for p in study.param_names() if p not in self._params]
        if new_params:
            first = len(self._keys) + len(self._params)
            self.beginInsertColumns(QModelIndex(), first, first + len(new_params) - 1)
            self._params.extend(new_params)
            self.endInsertColumns()
        new = sorted(
            (t for t in study.trials.values() if t.id not in self._row_of), key=lambda t: t.number
        )
        if new:
            first = len(self._ids)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for trial in new:
                self._row_of[trial.id] = len(self._ids)
                self._ids.append(trial.id)
                self._seq[trial.id] = trial.updated_seq
            self.endInsertRows()
        changed = [tid for tid in self._ids if study.trials[tid].updated_seq != self._seq.get(tid)]
        best = study.best_trial()
        best_id = best.id if best else None
        if best_id != self._best:
            changed += [tid for tid in (self._best, best_id) if tid is not None]
            self._best = best_id
        if study.multi_objective:
            front = study.front_ids()
            changed += sorted(front ^ self._front)  # joined or left the front
            self._front = front
        last = self.columnCount() - 1
        for tid in dict.fromkeys(changed):
            self._seq[tid] = study.trials[tid].updated_seq
            row = self._row_of[tid]
            self.dataChanged.emit(self.index(row, 0), self.index(row, last))
        touched = [t.id for t in new] + changed
        if touched and self._sort_column >= 0 and not self._still_sorted(touched):
            self._resort()

    # -- sorting ---------------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` (its :data:`SORT_ROLE` values; blank cells last either
        way, ties by trial number); kept while trials arrive and change."""
        self._sort_column, self._sort_order = column, order
        self._resort()

    def _resort(self) -> None:
        order = self._sorted(self._ids)
        if order == self._ids:
            return
        self.layoutAboutToBeChanged.emit()
        before = self._ids
        self._ids = order
        self._row_of = {tid: row for row, tid in enumerate(order)}
        # Selections and the current cell follow their trials.
        for index in self.persistentIndexList():
            row = self._row_of[before[index.row()]]
            self.changePersistentIndex(index, self.index(row, index.column()))
        self.layoutChanged.emit()

    def _still_sorted(self, trial_ids: list[int]) -> bool:
        """Whether the rows of these trials (new or changed) are still in order with their
        neighbours (then nothing needs sorting again, which takes a while for a big study)."""
        rows = sorted({r for tid in trial_ids for r in (self._row_of[tid] - 1, self._row_of[tid])})
        return all(
            self._sorted([self._ids[r], self._ids[r + 1]]) == [self._ids[r], self._ids[r + 1]]
            for r in rows
            if 0 <= r < len(self._ids) - 1
        )

    def _sorted(self, ids: list[int]) -> list[int]:
        """``ids`` in the order of the sort column (as they are without one)."""
        study = self._study
        if study is None or self._sort_column < 0 or self._sort_column >= self.columnCount():
            return list(ids)
        column = self._sort_column
        trials = [study.trials[tid] for tid in ids]
        keys = [_sort_value(self._sort_key(t, column)) for t in trials]
        by_number = sorted(range(len(ids)), key=lambda i: trials[i].number)
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        # Values in the chosen direction, then blanks (and text after numbers) last.
        by_value = sorted(by_number, key=lambda i: keys[i][1], reverse=descending)
        ranked = sorted(by_value, key=lambda i: keys[i][0])
        return [ids[i] for i in ranked]

    # -- lookup ----------------------------------------------------------------------------------
    def trial_at(self, row: int) -> TrialRow | None:
        if self._study is None or not 0 <= row < len(self._ids):
            return None
        return self._study.trials.get(self._ids[row])

    def row_of(self, trial_id: int) -> int | None:
        return self._row_of.get(trial_id)

    def best_trial_id(self) -> int | None:
        return self._best

    def front_ids(self) -> frozenset[int]:
        """The trials on the study's Pareto front (a study of one objective: its best)."""
        return frozenset() if self._study is None else self._study.front_ids()

    def column_of(self, key: str) -> int | None:
        """The column of ``number``, ``state``, ``front``, ``value``, ``value2``, ``test``,
        ``duration``, ``started`` or ``tags`` in this study's table (None: not in it)."""
        return self._keys.index(key) if key in self._keys else None

    def _key(self, column: int) -> str | None:
        return self._keys[column] if 0 <= column < len(self._keys) else None

    def _highlighted(self, trial: TrialRow) -> bool:
        """The best trial, or in a two-objective study those on the front."""
        return trial.id in self._front if self._keys is _MULTI_KEYS else trial.id == self._best

    @property
    def host_column(self) -> int:
        return len(self._keys) + len(self._params)

    @property
    def device_column(self) -> int:
        return self.host_column + 1

    @property
    def error_column(self) -> int:
        return self.host_column + 2

    def param_column(self, name: str) -> int:
        return len(self._keys) + self._params.index(name)

    # -- QAbstractTableModel ---------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys) + len(self._params) + len(TAIL_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        names = [*self._titles(), *self._params, *TAIL_COLUMNS]
        if not 0 <= section < len(names):
            return None
        name = names[section]
        if role == Qt.ItemDataRole.DisplayRole:
            # "algorithm.inner_lr" on two lines: unambiguous and still narrow.
            return name.replace(".", "\n", 1) if name in self._params else name
        if role == Qt.ItemDataRole.ToolTipRole:
            key = self._key(section)
            study = self._study
            if study is not None and study.multi_objective and key in ("value", "value2"):
                which = 0 if key == "value" else 1
                return (
                    f"Objective {which + 1} of {len(study.objectives)}: "
                    f"{axis_label(study.objectives[which])}"
                )
            if key == "value" and study is not None:
                return f"Objective: {objective_label(study)}"
            if key == "front":
                return FRONT_TIP
            return name
        return None

    def _titles(self) -> list[str]:
        """The titles of the first columns (before the parameters)."""
        study = self._study
        if self._keys is not _MULTI_KEYS or study is None:
            return list(FIXED_COLUMNS)
        first, second = study.objectives[:2]
        titles = {"front": "On front", "value": column_label(first), "value2": column_label(second)}
        plain = dict(zip(_SINGLE_KEYS, FIXED_COLUMNS, strict=True))
        return [titles.get(key) or plain[key] for key in self._keys]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        trial = self.trial_at(index.row()) if index.isValid() else None
        if trial is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(trial, column)
        if role == SORT_ROLE:
            return self._sort_key(trial, column)
        if role == TRIAL_ID_ROLE:
            return trial.id
        key = self._key(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "started" and trial.started is not None:
                return f"Started {format_time(trial.started, full=True)}"
            if column in (self.host_column, self.device_column):
                return _where(trial)
            if key == "tags" and (trial.tags or trial.notes):
                return "\n\n".join(
                    text
                    for text in (", ".join(trial.tags), trial.notes and trial.notes[:500])
                    if text
                )
            return self._tooltip(trial)
        if role == Qt.ItemDataRole.FontRole:
            highlighted = self._highlighted(trial)
            if highlighted or trial.excluded or trial.outside_space:
                font = QFont()
                font.setBold(highlighted)
                font.setItalic(trial.excluded or trial.outside_space)
                return font
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(BEST_BACKGROUND) if self._highlighted(trial) else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if trial.excluded or trial.outside_space:
                return QBrush(EXCLUDED_FOREGROUND)
            if key == "state":
                return QBrush(STATE_COLORS.get(trial.state, EXCLUDED_FOREGROUND))
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if key == "front":
                return int(Qt.AlignmentFlag.AlignCenter)
            if key in ("number", "value", "value2", "test", "duration") or isinstance(
                self._raw(trial, column), int | float
            ):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        return None

    def _raw(self, trial: TrialRow, column: int) -> Any:
        if column < len(self._keys):
            return None
        if column < self.host_column:
            return trial.params.get(self._params[column - len(self._keys)])
        if column == self.host_column:
            return trial.host or ""
        if column == self.device_column:
            return trial.device or ""
        return why_not(trial)

    def _display(self, trial: TrialRow, column: int) -> str:
        key = self._key(column)
        if key == "number":
            best = trial.id == self._best and self._keys is _SINGLE_KEYS
            text = f"★ {trial.number}" if best else str(trial.number)
            return f"{text} {SEEDED_MARK}" if trial.seeded_from else text
        if key == "state":
            state = trial.state.lower()
            return f"{state} (excluded)" if trial.excluded else state
        if key == "front":
            return FRONT_MARK if trial.id in self._front else ""
        if key in ("value", "value2") and self._keys is _MULTI_KEYS:
            value = self._objective_value(trial, key)
            which = 1 if key == "value2" else 0
            name = self._study.objectives[which].name if self._study else ""
            return "" if value is None else format_objective(name, value)
        if key in ("value", "test"):
            value = trial.value if key == "value" else trial.test_value
            return "" if value is None else format_number(value)
        if key == "duration":
            return "running" if trial.state == "RUNNING" else format_duration(trial.duration)
        if key == "started":
            return format_time(trial.started)
        if key == "tags":
            tags = ", ".join(trial.tags)
            return f"{tags} {NOTE_MARK}".lstrip() if trial.notes else tags
        raw = self._raw(trial, column)
        if column == self.error_column:
            return str(raw).splitlines()[0] if raw else ""
        if raw is None:
            return ""
        if isinstance(raw, float):
            return format_number(raw)
        return str(raw)

    def _sort_key(self, trial: TrialRow, column: int) -> Any:
        key = self._key(column)
        if key == "number":
            return trial.number
        if key == "state":
            return _STATE_ORDER.get(trial.state, 9)
        if key == "front":
            return int(trial.id in self._front)
        if key in ("value", "value2"):
            return self._objective_value(trial, key)
        if key == "test":
            return trial.test_value
        if key == "duration":
            return trial.duration
        if key == "started":
            return trial.started
        if key == "tags":
            return ", ".join(trial.tags) or None
        raw = self._raw(trial, column)
        return None if raw == "" else raw

    def _objective_value(self, trial: TrialRow, key: str) -> float | None:
        """The trial's value of the first (``value``) or the second (``value2``) objective."""
        if key == "value":
            return trial.value
        values = trial.values
        return values[1] if values is not None and len(values) > 1 else None

    def _tooltip(self, trial: TrialRow) -> str | None:
        lines = []
        if trial.state in ("FAILED", "PRUNED"):
            lines.append(why_not(trial))
        if trial.excluded:
            what = "the front" if self._keys is _MULTI_KEYS else "best"
            lines.append(f"Excluded from {what} (right-click to include it again)")
        if trial.id in self._front:
            lines.append(FRONT_TIP)
        elif trial.id == self._best and self._keys is _SINGLE_KEYS:
            lines.append("The best trial of this study")
        if trial.seeded_from:
            lines.append(f"{SEEDED_MARK} Seeded from the pool: {trial.seeded_from}")
        if trial.outside_space:
            lines.append(OUTSIDE_TIP)
        return "\n".join(lines) or None


def _where(trial: TrialRow) -> str | None:
    """Where a trial trained, in words (None: not known, e.g. a trial that never started)."""
    if not trial.host and not trial.device:
        return None
    return f"Host: {trial.host or 'not recorded'}\nDevice: {trial.device or 'not recorded'}"


def _sort_value(value: Any) -> tuple[int, Any]:
    """Blank cells sort after every value; numbers before text; NaN with the blanks."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


class TrialsFilterProxy(QSortFilterProxyModel):
    """Keeps only trials in the chosen states, with the chosen tag and that pass the query
    (all three at once); sorting is passed on to the :class:`TrialsTableModel` (which sorts by
    the raw values, ``SORT_ROLE``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: frozenset[str] | None = None
        self._tag: str | None = None
        self._query: TrialFilter | None = None
        self.setDynamicSortFilter(True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)

    def set_states(self, states: set[str] | frozenset[str] | None) -> None:
        """Show only trials in ``states`` (None: all)."""
        self.beginFilterChange()
        self._states = None if states is None else frozenset(states)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_tag(self, tag: str | None) -> None:
        """Show only trials tagged ``tag`` (None: tagged or not)."""
        self.beginFilterChange()
        self._tag = tag
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def tag(self) -> str | None:
        return self._tag

    def set_query(self, query: TrialFilter | None) -> None:
        """Show only trials that pass ``query`` (None: every trial)."""
        self.beginFilterChange()
        self._query = query
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def query(self) -> TrialFilter | None:
        return self._query

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._states is None and self._tag is None and self._query is None:
            return True
        source = self.sourceModel()
        assert isinstance(source, TrialsTableModel)
        trial = source.trial_at(source_row)
        if trial is None:
            return False
        if self._states is not None and trial.state not in self._states:
            return False
        if self._tag is not None and self._tag not in trial.tags:
            return False
        if self._query is None:
            return True
        return self._query.matches(trial, front=trial.id in source.front_ids())
