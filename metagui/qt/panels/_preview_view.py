"""Draws an :class:`EpisodePreview`: sampled regression tasks as curves with their support
points, one image episode as a grid of labelled thumbnails, one text episode as a table."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPalette, QPixmap, QResizeEvent
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

__all__ = ["PreviewView", "fit_thumbnails"]

#: Query examples drawn per class (an episode may hold many more).
MAX_QUERY_SHOWN = 6
MAX_TEXT_ROWS = 300
THUMB_SIZE = 56
"""The largest thumbnail; they shrink to fit the width, down to :data:`MIN_THUMB_SIZE`."""
MIN_THUMB_SIZE = 28
"""Omniglot's own size: smaller, a character is a blur. Fewer examples show instead."""
_SPACING = 4  # between thumbnails
_SEPARATOR = 12  # the line between support and query, with its spacing
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


def fit_thumbnails(room: int, support: int, query: int) -> tuple[int, int, int]:
    """``(thumbnail size, support shown, query shown)`` per class for a grid of thumbnails
    ``room`` pixels wide: every support example and up to :data:`MAX_QUERY_SHOWN` query ones,
    as large as fits up to :data:`THUMB_SIZE`; where even :data:`MIN_THUMB_SIZE` does not
    fit them all, fewer query examples (at least one), then fewer support ones."""
    query = min(query, MAX_QUERY_SHOWN)
    slots = support + query
    if slots == 0:
        return THUMB_SIZE, 0, 0
    size = room // slots - _SPACING
    if size >= MIN_THUMB_SIZE:
        return min(size, THUMB_SIZE), support, query
    fit = max(1, room // (MIN_THUMB_SIZE + _SPACING))
    shown_support = min(support, max(1, fit - min(query, 1)))
    shown_query = min(query, max(0, fit - shown_support))
    return MIN_THUMB_SIZE, shown_support, shown_query


def _shrink(layout: tuple[int, int, int]) -> tuple[int, int, int]:
    """The next smaller grid: smaller thumbnails, then one query example fewer (at least
    one), then one support example fewer (at least one)."""
    size, support, query = layout
    if size > MIN_THUMB_SIZE:
        return max(MIN_THUMB_SIZE, size - 4), support, query
    if query > 1:
        return size, support, query - 1
    if support > 1:
        return size, support - 1, query
    return layout


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

        # The thumbnails fit the width (fit_thumbnails) and the page is as tall as they are:
        # the panel around the preview scrolls, not a second scroll area inside it.
        self.images = QScrollArea()
        self.images.setWidgetResizable(True)
        self.images.setFrameShape(QFrame.Shape.NoFrame)
        self.images.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.addWidget(self.images)
        self._images_preview: EpisodePreview | None = None
        self._images_layout: tuple[int, int, int] | None = None

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
        self._set_images_height(0)
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
            self._set_images_height(0)
            caption = self._curves(preview)
            self.setCurrentWidget(self.plot)
        elif preview.kind == "images":
            caption = self._images(preview)
            self.setCurrentWidget(self.images)
        else:
            self._set_images_height(0)
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
        """Lay the episode out for the width there is (again on a resize that changes it):
        :func:`fit_thumbnails`, then smaller or fewer thumbnails while the grid (headers and
        class names included) is still wider than the room."""
        support, query = _by_class(preview.support), _by_class(preview.query)
        k = max((len(v) for v in support.values()), default=0)
        q = max((len(v) for v in query.values()), default=0)
        room = self._images_room()
        label_width = max((self._class_label(n).sizeHint().width() for n in support), default=0)
        layout = fit_thumbnails(room - label_width, k, q)
        self._images_preview, self._images_layout = preview, layout
        page = self._image_page(support, query, k, q, layout)
        while page.minimumSizeHint().width() > room:
            smaller = _shrink(layout)
            if smaller == layout:
                break
            layout = smaller
            page.deleteLater()
            page = self._image_page(support, query, k, q, layout)
        self.images.setWidget(page)
        self._set_images_height(page.sizeHint().height())
        return f"One training episode: {len(support)}-way {k}-shot, {q} query images per class"

    def _image_page(
        self,
        support: dict[str, list[PreviewItem]],
        query: dict[str, list[PreviewItem]],
        k: int,
        q: int,
        layout: tuple[int, int, int],
    ) -> QWidget:
        size, shown_k, shown_q = layout
        page = QWidget()
        page.setObjectName("previewImages")
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(_SPACING)
        grid.setVerticalSpacing(6)
        grid.addWidget(self._header("Support", shown_k, k), 0, 1, 1, max(shown_k, 1))
        query_col = shown_k + 2
        grid.addWidget(self._header("Query", shown_q, q), 0, query_col, 1, max(shown_q, 1))
        self._thumbs = []
        for row, name in enumerate(support, start=1):
            grid.addWidget(self._class_label(name), row, 0)
            for j, item in enumerate(support[name][:shown_k]):
                grid.addWidget(self._thumb(item, size), row, 1 + j)
            for j, item in enumerate(query.get(name, [])[:shown_q]):
                grid.addWidget(self._thumb(item, size), row, query_col + j)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        grid.addWidget(line, 0, shown_k + 1, len(support) + 1, 1)
        grid.setColumnStretch(query_col + shown_q, 1)
        grid.setRowStretch(len(support) + 1, 1)
        return page

    def _images_room(self) -> int:
        """The width the image grid may take (the stack's, without the grid's spacing)."""
        return max(0, self.width() - 2 * self.images.frameWidth() - 2 * _SPACING - _SEPARATOR)

    def _set_images_height(self, height: int) -> None:
        """The image page as tall as its grid (0: no minimum, for the other pages)."""
        self.images.setMinimumHeight(height)

    @staticmethod
    def _class_label(name: str) -> QLabel:
        # Nested class names (Omniglot's "Alphabet/character") on two lines, not clipped.
        head, _, leaf = name.rpartition("/")
        label = QLabel(f"{head}/\n{leaf}" if head else name)
        label.setObjectName("previewClass")
        label.setToolTip(name)
        label.setAccessibleName(name)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return label

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        preview = self._images_preview
        if self.kind == "images" and preview is not None:
            support, query = _by_class(preview.support), _by_class(preview.query)
            k = max((len(v) for v in support.values()), default=0)
            q = max((len(v) for v in query.values()), default=0)
            width = max((self._class_label(n).sizeHint().width() for n in support), default=0)
            if fit_thumbnails(self._images_room() - width, k, q) != self._images_layout:
                self._images(preview)

    @staticmethod
    def _header(part: str, shown: int, total: int) -> QLabel:
        """``Query (6 of 15 per class)``: says how many of each class's examples show."""
        of = f"{shown} of {total}" if shown < total else str(total)
        label = QLabel(f"{part} ({of} per class)")
        label.setObjectName("previewHeader")
        label.setWordWrap(True)  # over a column or two of thumbnails: on two lines
        return label

    def _thumb(self, item: PreviewItem, size: int = THUMB_SIZE) -> QLabel:
        thumb = QLabel()
        thumb.setObjectName("previewThumb")
        assert isinstance(item.data, np.ndarray)
        thumb.setPixmap(_pixmap(item.data, size))
        thumb.setToolTip(item.label)
        thumb.setAccessibleName(item.label)
        thumb.setFixedSize(size, size)
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
