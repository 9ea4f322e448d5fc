"""The compared studies side by side as a table, for the history browser: a column per study
(its name in its comparison colour), rows by section (the study, its results, its best trial's
settings, its provenance) as :func:`~metagui.core.study_comparison.compare_studies` computes
them; rows where the studies were set up or made differently are tinted.

Cells are selected like a spreadsheet's: Ctrl+C (or Copy) copies them as tab-separated text
that pastes into a spreadsheet or a paper's table; Export CSV… writes the whole table."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from metagui.core.errors import MetaguiError
from metagui.core.study_comparison import (
    RESULTS,
    ComparedStudy,
    Comparison,
    ComparisonRow,
    compare_studies,
)
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._studies_view import StudiesView, study_color

__all__ = ["CompareTable"]

DIFFERS_TINT = QColor(255, 190, 0, 70)
"""The background of a row where the studies differ: amber, readable in light and dark."""
_FULL_TEXT = Qt.ItemDataRole.UserRole + 1


class _Table(QTableWidget):
    """A table whose copy shortcut copies the selected cells (Qt's copies one)."""

    copy_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_requested.emit()
            return
        super().keyPressEvent(event)


class CompareTable(StudiesView):
    """The comparison of the studies set with ``set_studies``, one column each; "Only
    differences" hides the settings and provenance rows that are the same in every study
    (the results stay)."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.comparison: Comparison | None = None
        self._provenance: dict[tuple[str, int, float], dict[str, Any] | None] = {}
        self._last_dir = ""
        self._rows: list[tuple[str, ComparisonRow | None]] = []  # a section's heading: None

        self.only_differences = QCheckBox("Only differences")
        self.only_differences.setToolTip(
            "Hide the settings and provenance that are the same in every study (the results stay)"
        )
        self.only_differences.toggled.connect(self._apply_filter)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip(
            "Copy the selected cells (or the whole table when none is selected) as "
            "tab-separated text, for a spreadsheet (Ctrl+C)"
        )
        self.copy_button.clicked.connect(self.copy)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Write the whole table to a CSV file")
        self.export_button.clicked.connect(self.export_dialog)
        self.summary_label = QLabel()
        controls = QHBoxLayout()
        controls.addWidget(self.summary_label, 1)
        controls.addWidget(self.only_differences)
        controls.addWidget(self.copy_button)
        controls.addWidget(self.export_button)

        self.table = _Table(0, 0)
        self.table.setObjectName("comparisonTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_menu)
        self.table.copy_requested.connect(self.copy)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)

    # -- drawing --------------------------------------------------------------------------------
    def _data_key(self) -> Hashable:
        """What the table is drawn from: the studies' trials and summaries, not the series
        of their running trials (which come many times a second and change no cell)."""
        states = tuple(
            (i, id(s), s.trials_revision, s.summary.updated_seq)
            for i in self.study_ids
            if (s := self.model.studies.get(i)) is not None
        )
        return (tuple(self.study_ids), states, self._options)

    def _provenance_of(self, data: StudyData) -> dict[str, Any] | None:
        """The study's provenance, read once (it never changes once the study is made). Keyed
        by the file and the study's id and creation time: another history, or a study made
        anew under a reused id, is another study (the address of its data may be reused)."""
        key = (str(self.model.path), data.summary.id, data.summary.created)
        if key not in self._provenance:
            try:
                self._provenance[key] = self.model.study_provenance(data.summary.id)
            except Exception:  # a history that cannot be read says so through the model
                return None
        return self._provenance[key]

    def _draw(self, study: StudyData | None) -> None:
        studies = self.studies()
        comparison = compare_studies(
            [
                ComparedStudy(
                    s.summary, s.spec, s.ordered_trials(), self._provenance_of(s), s.objectives
                )
                for s in studies
            ]
        )
        differing = sum(1 for row in comparison.rows if row.differs)
        if not studies:
            text = "Select studies in the list above (Ctrl/Shift+click) to compare them."
        elif len(studies) == 1:
            text = "One study: select more in the list above (Ctrl/Shift+click) to compare."
        else:
            text = (
                f"{len(studies)} studies, set up or made differently in {differing} "
                f"row{'' if differing == 1 else 's'} (tinted)"
            )
        self.summary_label.setText(text)
        self.copy_button.setEnabled(bool(studies))
        self.export_button.setEnabled(bool(studies))
        if comparison == self.comparison:
            return  # a running trial's new metrics: nothing in the table changed
        self.comparison = comparison
        self._fill(comparison, studies)

    def _fill(self, comparison: Comparison, studies: list[StudyData]) -> None:
        table = self.table
        table.clearSpans()
        table.setColumnCount(1 + len(studies))
        table.setHorizontalHeaderItem(0, QTableWidgetItem(""))
        for i, data in enumerate(studies):
            header = QTableWidgetItem(data.name)
            header.setIcon(_swatch(study_color(i)))
            header.setToolTip(f"{data.name} ({data.summary.strategy}, {data.summary.status})")
            table.setHorizontalHeaderItem(1 + i, header)
        lines: list[tuple[str, ComparisonRow | None]] = []
        for section in comparison.sections():
            lines.append((section, None))
            lines.extend((section, row) for row in comparison.rows if row.section == section)
        table.setRowCount(len(lines))
        bold = QFont(table.font())
        bold.setBold(True)
        for r, (section, row) in enumerate(lines):
            if row is None:
                item = _item(section, section)
                item.setFont(bold)
                item.setBackground(table.palette().alternateBase())
                table.setItem(r, 0, item)
                for c in range(1, table.columnCount()):
                    table.setItem(r, c, _item("", ""))
                table.setSpan(r, 0, 1, table.columnCount())
                continue
            label = _item(row.label, row.label)
            if row.differs:
                label.setFont(bold)
                label.setToolTip(f"{row.label}: the studies differ here")
            table.setItem(r, 0, label)
            for c, text in enumerate(row.cells):
                full = row.full_text(c)
                item = _item(text, full)
                if full != text:
                    item.setToolTip(full)
                table.setItem(r, 1 + c, item)
            if row.differs:
                for c in range(table.columnCount()):
                    cell = table.item(r, c)
                    if cell is not None:
                        cell.setBackground(QBrush(DIFFERS_TINT))
        columns = table.horizontalHeader()
        columns.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for c in range(1, table.columnCount()):
            columns.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        self._rows = lines
        self._apply_filter()

    @Slot()
    def _apply_filter(self) -> None:
        """Show every row, or with "Only differences" the results and the rows that differ
        (and the headings of sections left with a row)."""
        only = self.only_differences.isChecked()
        lines = self._rows
        kept: set[str] = set()
        for r, (section, row) in enumerate(lines):
            if row is None:
                continue
            hidden = only and section != RESULTS and not row.differs
            self.table.setRowHidden(r, hidden)
            if not hidden:
                kept.add(section)
        for r, (section, row) in enumerate(lines):
            if row is None:
                self.table.setRowHidden(r, section not in kept)

    # -- copying and exporting -----------------------------------------------------------------
    def selected_text(self) -> str:
        """The selected cells (full texts) as tab-separated lines, in table order; with more
        than one line, a first line of the study names of the selected columns. Hidden rows
        are left out."""
        table = self.table
        picked = {
            (i.row(), i.column()) for i in table.selectedIndexes() if not table.isRowHidden(i.row())
        }
        if not picked:
            return ""
        rows = sorted({r for r, _ in picked})
        columns = sorted({c for _, c in picked})
        lines = []
        if len(rows) > 1:
            lines.append([self._header(c) for c in columns])
        for r in rows:
            lines.append([self._text(r, c) if (r, c) in picked else "" for c in columns])
        return "\n".join("\t".join(line) for line in lines)

    def whole_text(self) -> str:
        """The whole table (every row, full texts) as tab-separated lines."""
        if self.comparison is None:
            return ""
        lines = self.comparison.table()
        return "\n".join("\t".join(line) for line in lines)

    @Slot()
    def copy(self) -> None:
        """Copy the selected cells, or the whole table when none is selected."""
        text = self.selected_text() or self.whole_text()
        if text:
            QGuiApplication.clipboard().setText(text)

    def _header(self, column: int) -> str:
        item = self.table.horizontalHeaderItem(column)
        return "" if item is None else item.text()

    def _text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return "" if item is None else str(item.data(_FULL_TEXT) or "")

    def export_csv(self, path: str | Path) -> Path:
        """Write the whole table (full texts) to ``path`` as CSV; returns the path."""
        from metagui.core.atomic_write import write_text_atomic

        if self.comparison is None:
            raise MetaguiError("no studies to compare: nothing to export")
        return write_text_atomic(path, self.comparison.to_csv())

    @Slot()
    def export_dialog(self) -> None:
        from metagui.qt.error_dialog import show_error

        if self.comparison is None:
            return
        start = str(Path(self._last_dir or Path.home()) / "comparison.csv")
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the comparison", start, "CSV files (*.csv);;All files (*)"
        )
        if not path:
            return
        try:
            self.export_csv(path)
        except (OSError, MetaguiError) as exc:
            show_error("Cannot export the comparison", str(exc), parent=self.window())
            return
        self._last_dir = str(Path(path).parent)

    def menu(self) -> QMenu:
        """The right-click menu of the table (the caller shows and deletes it)."""
        menu = QMenu(self)
        copy = menu.addAction("Copy")
        copy.setEnabled(bool(self.table.selectedIndexes()))
        copy.triggered.connect(self.copy)
        whole = menu.addAction("Copy the whole table")
        whole.setEnabled(self.comparison is not None)
        whole.triggered.connect(lambda: QGuiApplication.clipboard().setText(self.whole_text()))
        export = menu.addAction("Export CSV…")
        export.setEnabled(self.comparison is not None)
        export.triggered.connect(self.export_dialog)
        return menu

    @Slot(QPoint)
    def _on_menu(self, pos: QPoint) -> None:
        menu = self.menu()
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()


def _item(text: str, full: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    item.setData(_FULL_TEXT, full)
    return item


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)
