"""Draws an :class:`EpisodePreview`: sampled regression tasks as curves with their support
points, one image episode as a grid of labelled thumbnails, one text episode as a table."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from metagui.core.tasksets import EpisodePreview, PreviewItem

__all__ = ["PreviewView"]

#: Query examples drawn per class (an episode may hold many more).
MAX_QUERY_SHOWN = 6
MAX_TEXT_ROWS = 300
THUMB_SIZE = 56
# A qualitative palette that stays distinguishable for the few tasks a preview samples.
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _pixmap(image: np.ndarray, size: int) -> QPixmap:
    data = np.ascontiguousarray(np.clip(image * 255.0, 0, 255).astype(np.uint8))
    h, w = data.shape[:2]
    if data.ndim == 3:
        qimage = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        qimage = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(qimage.copy()).scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def _by_class(items: tuple[PreviewItem, ...]) -> dict[str, list[PreviewItem]]:
    groups: dict[str, list[PreviewItem]] = {}
    for item in items:
        groups.setdefault(item.label, []).append(item)
    return groups


class PreviewView(QStackedWidget):
    """One page per preview kind, plus a message page (loading, errors)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = QLabel()
        self.message.setObjectName("previewMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setMargin(16)
        self.addWidget(self.message)

        base = self.palette().color(QPalette.ColorRole.Base)
        text = self.palette().color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=base)
        item = self.plot.getPlotItem()
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        item.setLabel("bottom", "x")
        item.setLabel("left", "y")
        item.showGrid(x=True, y=True, alpha=0.15)
        self.addWidget(self.plot)

        self.images = QScrollArea()
        self.images.setWidgetResizable(True)
        self.images.setFrameShape(QFrame.Shape.NoFrame)
        self.addWidget(self.images)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Set", "Class", "Text"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.addWidget(self.table)
        self.kind = "message"
        self._thumbs: list[QLabel] = []

    # -- pages -------------------------------------------------------------------------------
    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("error", error)
        style = self.message.style()
        style.unpolish(self.message)
        style.polish(self.message)
        self.kind = "error" if error else "message"
        self.setCurrentWidget(self.message)

    def show_preview(self, preview: EpisodePreview) -> str:
        """Draw ``preview``; returns a one-line caption saying what is shown."""
        if preview.kind == "curves":
            caption = self._curves(preview)
            self.setCurrentWidget(self.plot)
        elif preview.kind == "images":
            caption = self._images(preview)
            self.setCurrentWidget(self.images)
        else:
            caption = self._texts(preview)
            self.setCurrentWidget(self.table)
        self.kind = preview.kind
        return caption

    def thumbnails(self) -> list[QLabel]:
        """The thumbnails of the image page (support first, then query; class-major)."""
        return list(self._thumbs)

    # -- drawing -----------------------------------------------------------------------------
    def _curves(self, preview: EpisodePreview) -> str:
        item = self.plot.getPlotItem()
        item.clear()
        for i, (xs, ys) in enumerate(preview.curves):
            color = _COLORS[i % len(_COLORS)]
            item.plot(xs, ys, pen=pg.mkPen(color, width=2), antialias=True)
            if i < len(preview.curve_support):
                sx, sy = preview.curve_support[i]
                item.plot(
                    sx, sy, pen=None, symbol="o", symbolSize=8, symbolBrush=color,
                    symbolPen=pg.mkPen("w", width=1),
                )  # fmt: skip
        item.autoRange()
        k = len(preview.curve_support[0][0]) if preview.curve_support else 0
        return f"{len(preview.curves)} sampled tasks: true functions and {k} support points each"

    def _images(self, preview: EpisodePreview) -> str:
        support, query = _by_class(preview.support), _by_class(preview.query)
        k = max((len(v) for v in support.values()), default=0)
        q = max((len(v) for v in query.values()), default=0)
        shown_q = min(q, MAX_QUERY_SHOWN)
        page = QWidget()
        page.setObjectName("previewImages")
        grid = QGridLayout(page)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(6)
        grid.addWidget(self._header(f"Support ({k} per class)"), 0, 1, 1, max(k, 1))
        query_col = k + 2
        shown = f"{shown_q} of {q}" if shown_q < q else str(q)
        grid.addWidget(self._header(f"Query ({shown} per class)"), 0, query_col, 1, max(shown_q, 1))
        self._thumbs = []
        for row, name in enumerate(support, start=1):
            # Nested class names (Omniglot's "Alphabet/character") on two lines, not clipped.
            head, _, leaf = name.rpartition("/")
            label = QLabel(f"{head}/\n{leaf}" if head else name)
            label.setObjectName("previewClass")
            label.setToolTip(name)
            label.setAccessibleName(name)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, row, 0)
            for j, item in enumerate(support[name]):
                grid.addWidget(self._thumb(item), row, 1 + j)
            for j, item in enumerate(query.get(name, [])[:shown_q]):
                grid.addWidget(self._thumb(item), row, query_col + j)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        grid.addWidget(line, 0, k + 1, len(support) + 1, 1)
        grid.setColumnStretch(query_col + shown_q, 1)
        grid.setRowStretch(len(support) + 1, 1)
        self.images.setWidget(page)
        return f"One training episode: {len(support)}-way {k}-shot, {q} query images per class"

    @staticmethod
    def _header(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("previewHeader")
        return label

    def _thumb(self, item: PreviewItem) -> QLabel:
        thumb = QLabel()
        thumb.setObjectName("previewThumb")
        assert isinstance(item.data, np.ndarray)
        thumb.setPixmap(_pixmap(item.data, THUMB_SIZE))
        thumb.setToolTip(item.label)
        thumb.setAccessibleName(item.label)
        thumb.setFixedSize(THUMB_SIZE, THUMB_SIZE)
        thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._thumbs.append(thumb)
        return thumb

    def _texts(self, preview: EpisodePreview) -> str:
        rows = [("support", it) for it in preview.support] + [("query", it) for it in preview.query]
        rows = rows[:MAX_TEXT_ROWS]
        self.table.setRowCount(len(rows))
        for r, (part, item) in enumerate(rows):
            text = str(item.data)
            cells = (part, item.label, text)
            for c, value in enumerate(cells):
                cell = QTableWidgetItem(value)
                cell.setToolTip(text if c == 2 else value)
                self.table.setItem(r, c, cell)
        classes = len(_by_class(preview.support))
        k = len(preview.support) // max(classes, 1)
        q = len(preview.query) // max(classes, 1)
        return f"One training episode: {classes}-way {k}-shot, {q} query texts per class"
