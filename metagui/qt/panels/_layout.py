"""Layouts that follow the space they get: the panels live in a dock that may be narrow
(beside the live plots) or wide (undocked), and must read well in both."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QSplitter, QWidget

__all__ = ["AdaptiveSplitter", "ColumnFlow"]


class ColumnFlow(QWidget):
    """``widgets`` in as many columns (at most ``len(widgets)``) as fit ``column_width``."""

    def __init__(
        self, widgets: Sequence[QWidget], column_width: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._widgets = list(widgets)
        self._column_width = column_width
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._columns = 0
        self._arrange(1)

    @property
    def columns(self) -> int:
        return self._columns

    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for widget in self._widgets:
            self._grid.removeWidget(widget)
        for i in range(len(self._widgets)):
            self._grid.setColumnStretch(i, 0)
        for i, widget in enumerate(self._widgets):
            self._grid.addWidget(widget, i // columns, i % columns, Qt.AlignmentFlag(0))
        for column in range(columns):
            self._grid.setColumnStretch(column, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        fit = event.size().width() // self._column_width
        self._arrange(max(1, min(len(self._widgets), fit)))


class AdaptiveSplitter(QSplitter):
    """Side by side when at least ``side_by_side`` pixels wide, one above the other below."""

    def __init__(self, side_by_side: int, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._threshold = side_by_side
        self._sized = False
        self.setChildrenCollapsible(False)

    def resizeEvent(self, event: QResizeEvent) -> None:
        wide = event.size().width() >= self._threshold
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self.orientation() or not self._sized:
            self._sized = True
            self.setOrientation(orientation)
            if wide:
                total = event.size().width()
                first = min(400, total * 2 // 5)
            else:  # the first pane as tall as it wants, up to half the height
                total = event.size().height()
                pane = self.widget(0)
                wanted = pane.sizeHint().height() if pane is not None else total // 2
                first = min(wanted, total // 2)
            self.setSizes([first, total - first])
        super().resizeEvent(event)
