"""The table editor of the search space: one row per parameter.

Each row is either in the document (its last valid form, ``committed``) or a draft that does
not validate yet (new, duplicated, or edited into an invalid state). A draft is shown red with
the reason and registered with ``doc.mark_invalid``; the document keeps the row's last valid
form (or none) until the row validates, and then receives it as one undoable edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, cast

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from metagui.core.spec import GRADIENT_BASED
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import humanize, set_invalid
from metagui.qt.panels._search_rows import (
    PARAM_TYPES,
    ParamType,
    RowTexts,
    algorithm_defaults,
    param_from_texts,
    row_for_setting,
    setting_paths,
    texts_from_param,
    with_type,
)

__all__ = ["COLUMNS", "SearchSpaceTable"]

COLUMNS = ("Setting", "Type", "Low", "High", "Log", "Step", "Condition")
NAME, TYPE, LOW, HIGH, LOG, STEP, CONDITION = range(len(COLUMNS))
CHOICES = LOW
"""A categorical parameter's choices (a fixed one's value) fill the range cells, Low to Step,
of its row: one column fewer, so that the table fits the setup dock beside the plots."""
_RANGE_COLUMNS = (LOW, HIGH, LOG, STEP)
_NUMERIC_TEXT = {LOW: "low", HIGH: "high", STEP: "step", CONDITION: "condition"}
_CHOICE_TEXT = {CHOICES: "choices", CONDITION: "condition"}
# Column widths where the table is narrow (the dock beside the plots on a laptop), and the
# most each takes of the room beyond; Condition stretches over the rest.
_WIDTHS = {NAME: (140, 80), TYPE: (96, 0), LOW: (58, 30), HIGH: (58, 30), LOG: (34, 0)}
_WIDTHS[STEP] = (42, 10)
_HEADER_TIPS = {
    NAME: "The setting the parameter varies",
    TYPE: "float or int: a range; categorical: a list of choices; fixed: one value",
    LOW: "Lowest value of a range; a categorical parameter's choices (a fixed one's value) "
    "take the cells from Low to Step",
    HIGH: "Highest value of a range",
    LOG: "Sample the range on a log scale",
    STEP: "Only multiples of this step (optional)",
    CONDITION: "Vary the setting only when another one has these values, e.g. "
    "algorithm.name in maml, fomaml",
}
# Settings offered first when a row is added (the usual suspects of a meta-learning search).
_PREFERRED = (
    "optimizer.lr",
    "algorithm.inner_lr",
    "algorithm.inner_steps",
    "model.filters",
    "model.activation",
    "optimizer.weight_decay",
    "training.meta_batch_size",
)
_INVALID_BRUSH = QBrush(QColor(220, 40, 40, 50))
_LOCATION = re.compile(
    r"^search_space(?:\.params(?:\.\d+)?(?:\.(?:float|int|categorical|fixed))?)?"
    r"(?:\.(?P<field>[\w.]+))?: (?P<message>.*)$",
    re.DOTALL,
)


def short_reason(message: str) -> str:
    """A document error about a search parameter, without the row's location."""
    match = _LOCATION.match(message)
    if match is None:
        return humanize(message)
    field, text = match["field"], humanize(match["message"])
    return f"{field}: {text}" if field else text


@dataclass
class _Row:
    committed: dict[str, Any] | None
    texts: RowTexts
    error: str | None = None


class SearchSpaceTable(QWidget):
    """Edits ``doc.spec.search_space``; ``rows()``/``row_error(i)`` expose what it shows."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        self._rows: list[_Row] = []
        self._marked: dict[str, str] = {}
        self._paths: list[str] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("searchSpaceTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in _HEADER_TIPS.items():
            header_item = self.table.horizontalHeaderItem(column)
            if header_item is not None:
                header_item.setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Rows are named by their setting (and so are their errors): no numbers column.
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(CONDITION, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(30)
        self.table.viewport().installEventFilter(self)  # its resizes fit the columns
        self._fit_columns()
        self.table.itemChanged.connect(self._on_item_changed)

        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a parameter for a setting not searched yet")
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.setToolTip("Copy the selected row (then choose its setting)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected rows")
        self.defaults_button = QPushButton("Defaults for this algorithm")
        self.defaults_button.setToolTip("Replace the search space by a sensible one")
        self.add_button.clicked.connect(self.add_row)
        self.duplicate_button.clicked.connect(self.duplicate_row)
        self.remove_button.clicked.connect(self.remove_rows)
        self.defaults_button.clicked.connect(self.fill_defaults)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.duplicate_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.defaults_button)

        self.message = QLabel()
        self.message.setObjectName("fieldError")
        self.message.setWordWrap(True)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        doc.changed.connect(self._sync)
        self._sync()

    # -- what the table shows (tests read these) ---------------------------------------------
    def rows(self) -> list[RowTexts]:
        return [row.texts for row in self._rows]

    def row_error(self, index: int) -> str | None:
        return self._rows[index].error

    def name_combo(self, index: int) -> QComboBox:
        widget = self.table.cellWidget(index, NAME)
        assert isinstance(widget, QComboBox)
        return widget

    def type_combo(self, index: int) -> QComboBox:
        widget = self.table.cellWidget(index, TYPE)
        assert isinstance(widget, QComboBox)
        return widget

    # -- model -> view ---------------------------------------------------------------------------
    def _doc_params(self) -> list[dict[str, Any]]:
        return [
            p.model_dump(mode="json", by_alias=True) for p in self._doc.spec.search_space.params
        ]

    @Slot()
    def _sync(self) -> None:
        paths = setting_paths(self._doc.spec)
        if paths != self._paths:
            self._paths = paths
            for i in range(self.table.rowCount()):
                combo = self.name_combo(i)
                with QSignalBlocker(combo):
                    text = combo.currentText()
                    combo.clear()
                    combo.addItems(paths)
                    combo.setCurrentText(text)
        ours = [row.committed for row in self._rows if row.committed is not None]
        invalid = self._doc.invalid_fields
        drafts_known = all(key in invalid for key in self._marked)
        if ours != self._doc_params() or not drafts_known:
            self._rows = [_Row(p, texts_from_param(p)) for p in self._doc_params()]
            self._render()
        self.defaults_button.setText(f"Defaults for {self._doc.spec.algorithm.name}")

    def _render(self) -> None:
        """Make the table show ``_rows`` (widgets are reused: never rebuilt under a signal)."""
        with QSignalBlocker(self.table):
            self.table.setRowCount(len(self._rows))
            for i, row in enumerate(self._rows):
                self._render_row(i, row)
        self._update_marks()
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        selected = bool(self._selected())
        self.duplicate_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)

    def _render_row(self, i: int, row: _Row) -> None:
        texts = row.texts
        if self.table.cellWidget(i, NAME) is None:
            self._make_widgets(i)
        name, kind = self.name_combo(i), self.type_combo(i)
        with QSignalBlocker(name), QSignalBlocker(kind):
            name.setCurrentText(texts.name)
            kind.setCurrentText(texts.type)
        line = name.lineEdit()
        if line is not None and not line.hasFocus():
            line.setCursorPosition(0)  # a long name shows its start ("algorithm.…")
        numeric = texts.type in ("float", "int")
        span = 1 if numeric else len(_RANGE_COLUMNS)
        if self.table.columnSpan(i, LOW) != span:
            self.table.setSpan(i, LOW, 1, span)
        cells = _NUMERIC_TEXT if numeric else _CHOICE_TEXT
        with QSignalBlocker(self.table):
            for column in range(LOW, len(COLUMNS)):
                item = self.table.item(i, column) or QTableWidgetItem()
                enabled = column in cells or (numeric and column == LOG)
                flags = Qt.ItemFlag.ItemIsSelectable
                if enabled:
                    flags |= Qt.ItemFlag.ItemIsEnabled
                    flags |= (
                        Qt.ItemFlag.ItemIsUserCheckable
                        if column == LOG
                        else Qt.ItemFlag.ItemIsEditable
                    )
                item.setFlags(flags)
                if column == LOG:
                    state = texts.log and numeric
                    item.setCheckState(Qt.CheckState.Checked if state else Qt.CheckState.Unchecked)
                else:
                    item.setText(getattr(texts, cells[column]) if column in cells else "")
                item.setData(Qt.ItemDataRole.BackgroundRole, _INVALID_BRUSH if row.error else None)
                item.setToolTip(row.error or item.text())
                if self.table.item(i, column) is not item:
                    self.table.setItem(i, column, item)
        for widget in (name, kind):
            set_invalid(widget, row.error is not None)
            widget.setToolTip(row.error or "")

    def _make_widgets(self, i: int) -> None:
        name = QComboBox()
        name.setEditable(True)
        name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        name.setMaxVisibleItems(20)
        name.addItems(self._paths)
        name.currentIndexChanged.connect(lambda _i, w=name: self._on_name(w))
        line = name.lineEdit()
        assert line is not None
        line.editingFinished.connect(lambda w=name: self._on_name(w))
        kind = QComboBox()
        kind.addItems(list(PARAM_TYPES))
        kind.currentIndexChanged.connect(lambda _i, w=kind: self._on_type(w))
        self.table.setCellWidget(i, NAME, name)
        self.table.setCellWidget(i, TYPE, kind)

    def _update_marks(self) -> None:
        """Tell the document which rows hold a draft that does not validate, and why."""
        wanted = {
            f"search_space.params.{i}": f"row {i + 1}: {row.error}"
            for i, row in enumerate(self._rows)
            if row.error
        }
        for key in [k for k in self._marked if k not in wanted]:
            self._doc.mark_invalid(key, None)
        for key, reason in wanted.items():
            if self._marked.get(key) != reason:
                self._doc.mark_invalid(key, reason)
        self._marked = wanted
        lines = [
            f"Row {i + 1} ({row.texts.name or 'no setting'}): {row.error}"
            for i, row in enumerate(self._rows)
            if row.error
        ]
        self.message.setText("\n".join(lines))
        self.message.setVisible(bool(lines))

    # -- view -> model ---------------------------------------------------------------------------
    def _row_of(self, widget: QWidget, column: int) -> int:
        for i in range(self.table.rowCount()):
            if self.table.cellWidget(i, column) is widget:
                return i
        return -1

    def _on_name(self, combo: QComboBox) -> None:
        i = self._row_of(combo, NAME)
        if i < 0:
            return
        texts = self._rows[i].texts
        name = combo.currentText().strip()
        if name == texts.name:
            return
        fresh = row_for_setting(self._doc.spec, name, texts.condition)
        # Keep the range the user typed when it still fits the new setting's type.
        self.edit_row(i, replace(texts, name=name) if fresh.type == texts.type else fresh)

    def _on_type(self, combo: QComboBox) -> None:
        i = self._row_of(combo, TYPE)
        if i >= 0:
            kind = cast(ParamType, combo.currentText())
            self.edit_row(i, with_type(self._rows[i].texts, kind, self._doc.spec))

    @Slot(QTableWidgetItem)
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        i, column = item.row(), item.column()
        if not 0 <= i < len(self._rows):
            return
        texts = self._rows[i].texts
        cells = _NUMERIC_TEXT if texts.type in ("float", "int") else _CHOICE_TEXT
        if column == LOG:
            texts = replace(texts, log=item.checkState() == Qt.CheckState.Checked)
        elif column in cells:
            change: dict[str, Any] = {cells[column]: item.text()}
            texts = replace(texts, **change)
        else:
            return  # a cell under a row's choices: not shown, not edited
        self.edit_row(i, texts)

    def _fit_columns(self) -> None:
        """Column widths for the room there is: what the setting, type and range need at
        least, a share of the rest for the setting and the range, the remainder to the
        condition."""
        room = self.table.viewport().width()
        extra = max(0, room - sum(w for w, _ in _WIDTHS.values()) - 120)
        for column, (width, most) in _WIDTHS.items():
            self.table.setColumnWidth(column, width + min(most, extra * most // 200))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.table.viewport():
            self._fit_columns()
        return super().eventFilter(watched, event)

    def edit_row(self, i: int, texts: RowTexts) -> None:
        """Row ``i`` now reads ``texts``: validate it and, if valid, apply it to the document."""
        row = self._rows[i]
        if texts == row.texts and row.error is None:
            return
        row.texts = texts
        self._validate(i, f"edit search parameter {texts.name or i + 1}")

    def _validate(self, i: int, what: str) -> None:
        row = self._rows[i]
        try:
            candidate = param_from_texts(row.texts, self._doc.spec)
        except ValueError as exc:
            row.error = humanize(str(exc))
        else:
            committed = [candidate if r is row else r.committed for r in self._rows]
            params = [p for p in committed if p is not None]
            data = self._doc.data()
            data["search_space"] = {"params": params}
            spec, error = self._doc.try_data(data)
            if spec is None:
                row.error = short_reason(error or "invalid")
            else:
                row.error = None
                dumped = iter(
                    p.model_dump(mode="json", by_alias=True) for p in spec.search_space.params
                )
                for r in self._rows:
                    if r is row or r.committed is not None:
                        r.committed = next(dumped)
                row.texts = texts_from_param(row.committed or candidate)
                self._render_row(i, row)
                self._update_marks()
                self._doc.replace(spec, what)
                return
        self._render_row(i, row)
        self._update_marks()

    def _selected(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        if not rows and 0 <= self.table.currentRow() < len(self._rows):
            rows = [self.table.currentRow()]
        return rows

    @Slot()
    def add_row(self) -> None:
        """Add a parameter for the first usual setting not searched yet."""
        spec = self._doc.spec
        used = {row.texts.name for row in self._rows}
        gradient = spec.algorithm.name in GRADIENT_BASED
        candidates = [p for p in _PREFERRED if gradient or not p.startswith("algorithm.inner")]
        name = next((p for p in [*candidates, *self._paths] if p not in used), "")
        selected = self._selected()
        at = selected[-1] + 1 if selected else len(self._rows)
        self._insert(at, row_for_setting(spec, name) if name else RowTexts(), f"add {name}")

    @Slot()
    def duplicate_row(self) -> None:
        """Copy the selected row below it; the copy is red until it varies another setting."""
        selected = self._selected()
        if selected:
            i = selected[-1]
            self._insert(i + 1, self._rows[i].texts, f"duplicate {self._rows[i].texts.name}")

    def _insert(self, at: int, texts: RowTexts, what: str) -> None:
        self._rows.insert(at, _Row(None, texts))
        self._render()
        self.table.selectRow(at)
        self._validate(at, f"search space: {what}")

    @Slot()
    def remove_rows(self) -> None:
        """Remove the selected rows (drafts included) as one undoable edit."""
        selected = set(self._selected())
        if not selected:
            return
        self._rows = [row for i, row in enumerate(self._rows) if i not in selected]
        self._render()
        self._apply([r.committed for r in self._rows if r.committed], "search space: remove rows")

    @Slot()
    def fill_defaults(self) -> None:
        """Replace the search space by a sensible one for the chosen algorithm."""
        algorithm = self._doc.spec.algorithm.name
        self._apply(algorithm_defaults(self._doc.spec, algorithm), f"search space for {algorithm}")

    def _apply(self, params: list[Any], what: str) -> None:
        data = self._doc.data()
        data["search_space"] = {"params": params}
        spec, error = self._doc.try_data(data)
        if spec is None:  # cannot happen for rows that validated; say so rather than hide it
            self.message.setText(short_reason(error or "invalid"))
            self.message.show()
            return
        self._doc.replace(spec, what)
        self._sync()
