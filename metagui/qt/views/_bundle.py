"""Many faint curves as one plot item: the loss curves of every finished trial of a big study.

pyqtgraph's own items cost per item (adding the ten-thousandth curve to a plot took longer than
drawing it) and per point; a :class:`CurveBundle` is one item whatever the number of trials,
drawn as one painter path per colour group (NaN-separated polylines, already decimated by the
caller). What it drew is kept as a picture of the view: a repaint of the plot for a running
trial's new points copies it, a trial that ends is drawn onto it, and only a change of the
view's scale or of the curves draws them all again. (Qt's own device-coordinate cache did
that too often: a resize of the window drew the curves again several times.) It reports which
trial was clicked (``trial_clicked``), and it gives
:class:`~metagui.qt.views._view_box.RobustViewBox` the values that decide the y range (``xData``,
``yData``) as a plot data item does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QWidget

__all__ = ["CLICK_PIXELS", "CurveBundle", "CurveGroup"]

CLICK_PIXELS = 6.0
"""A click this close to a curve (in pixels) selects its trial."""
RANGE_POINTS = 20_000
"""Up to this many points in a group, every point counts for the view's y range (``yData``);
beyond, each curve's lowest and highest point and every :data:`RANGE_STRIDE` th: the range
is computed on every repaint that follows new data, and this keeps it a few milliseconds."""
RANGE_STRIDE = 8
PIXEL_PADDING = 5.0
"""Room around the curves in the view's automatic range, in pixels: as much as pyqtgraph gives
a clickable bold curve (half its click width, 8), so that the range does not change with
which trial is drawn bold (each change would draw every faint curve again)."""


@dataclass
class CurveGroup:
    """Curves drawn with one pen: ``x`` and ``y`` hold them one after another, each followed
    by a NaN; curve ``i`` (of trial ``trial_ids[i]``) starts at ``starts[i]``."""

    pen: QPen
    trial_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    starts: np.ndarray
    path: QPainterPath = field(default_factory=QPainterPath)
    range_x: np.ndarray = field(default_factory=lambda: np.empty(0))
    """The points that count for the y range (see :data:`RANGE_POINTS`), kept as it grows."""
    range_y: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        self.range_x, self.range_y = _range_points(self.x, self.y, self.starts)


class CurveBundle(pg.GraphicsObject):
    """One plot item drawing :class:`CurveGroup` s, the first underneath."""

    trial_clicked = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[CurveGroup] = []
        self.opts: dict[str, Any] = {}  # what RobustViewBox asks of a data item
        self._log = (False, False)
        self._extent: tuple[float, float, float, float] | None = None  # left, right, low, high
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        # The picture of what was drawn, for which device transform and size; and the curves
        # appended since, to draw onto it.
        self._picture: QImage | None = None
        self._picture_key: tuple[object, ...] | None = None
        self._appended: list[tuple[QPen, QPainterPath]] = []
        self._picture_transform = QTransform()  # data to the picture's pixels
        self._render_due = False  # the picture is drawn again at the next paint

    # -- contents -------------------------------------------------------------------------------
    def set_groups(self, groups: Sequence[CurveGroup]) -> None:
        self.prepareGeometryChange()
        self.groups = list(groups)
        for group in self.groups:
            group.path = self._path(group.x, group.y)
        self._picture = None
        self._extent = None
        self._changed([(g.x, g.y) for g in self.groups])

    def append(
        self, index: int, trial_ids: np.ndarray, x: np.ndarray, y: np.ndarray, starts: np.ndarray
    ) -> None:
        """Add curves (laid out as in :class:`CurveGroup`) to group ``index``: cheaper than
        :meth:`set_groups` for a few new trials."""
        group = self.groups[index]
        self.prepareGeometryChange()
        group.starts = np.concatenate([group.starts, starts + len(group.x)])
        group.trial_ids = np.concatenate([group.trial_ids, trial_ids])
        group.x = np.concatenate([group.x, x])
        group.y = np.concatenate([group.y, y])
        range_x, range_y = _range_points(x, y, starts, len(group.x) > RANGE_POINTS)
        group.range_x = np.concatenate([group.range_x, range_x])
        group.range_y = np.concatenate([group.range_y, range_y])
        path = self._path(x, y)
        group.path.addPath(path)
        # On top of the others: what a full redraw would give for the last group, and near
        # enough for the others (a few new faint curves over thousands).
        self._appended.append((group.pen, path))
        self._changed([(x, y)])

    def trial_ids(self) -> list[int]:
        """The trials drawn, in drawing order (bottom first)."""
        return [int(t) for group in self.groups for t in group.trial_ids]

    def curve(self, trial_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The ``(x, y)`` drawn for trial ``trial_id`` (data coordinates), or None."""
        for group in self.groups:
            hits = np.flatnonzero(group.trial_ids == trial_id)
            if hits.size:
                i = int(hits[0])
                end = group.starts[i + 1] if i + 1 < len(group.starts) else len(group.x)
                return group.x[group.starts[i] : end - 1], group.y[group.starts[i] : end - 1]
        return None

    def pen_of(self, trial_id: int) -> QPen | None:
        return next((g.pen for g in self.groups if np.any(g.trial_ids == trial_id)), None)

    @property
    def xData(self) -> np.ndarray:
        """The x of :attr:`yData`."""
        return self._range_values()[0]

    @property
    def yData(self) -> np.ndarray:
        """The values that decide the view's y range (see :data:`RANGE_POINTS`)."""
        return self._range_values()[1]

    def _range_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self._data is None:
            xs = [np.empty(0), *(g.range_x for g in self.groups)]
            ys = [np.empty(0), *(g.range_y for g in self.groups)]
            self._data = (np.concatenate(xs), np.concatenate(ys))
        return self._data

    def _changed(self, added: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """The curves changed: ``added`` holds the points new since the bounds were right."""
        self._data = None
        for x_data, y_data in added:
            x, y = self._view(x_data, y_data)
            finite = np.isfinite(x) & np.isfinite(y)
            if not finite.any():
                continue
            xs, ys = x[finite], y[finite]
            new = (float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))
            old = self._extent or new
            self._extent = (
                min(old[0], new[0]),
                max(old[1], new[1]),
                min(old[2], new[2]),
                max(old[3], new[3]),
            )
        self.update()
        self.informViewBoundsChanged()

    def _view(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data coordinates to the view's (log10 on a log axis; NaN where undefined)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self._log[0]:
                x = np.where(x > 0, np.log10(x), np.nan)
            if self._log[1]:
                y = np.where(y > 0, np.log10(y), np.nan)
        return x, y

    def _path(self, x: np.ndarray, y: np.ndarray) -> QPainterPath:
        vx, vy = self._view(x, y)
        if not len(vx):
            return QPainterPath()
        return pg.arrayToQPath(vx, vy, connect="finite")

    # -- what pyqtgraph asks of a plot item -----------------------------------------------------
    def setLogMode(self, x: bool, y: bool) -> None:
        if (x, y) != self._log:
            self._log = (x, y)
            self.set_groups(self.groups)  # the paths and bounds in the new coordinates

    def dataBounds(
        self, ax: int, frac: float = 1.0, orthoRange: Any = None
    ) -> tuple[float | None, float | None]:
        if self._extent is None:
            return (None, None)
        return self._extent[:2] if ax == 0 else self._extent[2:]

    def pixelPadding(self) -> float:
        return PIXEL_PADDING

    def boundingRect(self) -> QRectF:
        if self._extent is None:
            return QRectF()
        left, right, low, high = self._extent
        return QRectF(left, low, right - left, high - low)

    def paint(self, painter: QPainter, *_: Any) -> None:
        device = painter.device()
        box = self.getViewBox()
        if device is None or box is None or not self.groups:
            return
        # The world transform maps to the device's own coordinates (a widget's, or a grab's
        # pixmap; the device transform would add the widget's offset in the window).
        transform = painter.worldTransform()
        ratio = device.devicePixelRatioF()
        # The picture covers the view box's area only (its range is in data coordinates,
        # which are this item's): clipped there, lines that leave it far behind (a diverged
        # trial's 1e12) cost nothing, where unclipped they took seconds.
        whole = QRectF(0, 0, device.width(), device.height())
        area = transform.mapRect(box.viewRect()).intersected(whole).toAlignedRect()
        if area.isEmpty():
            return
        if not isinstance(device, QWidget | QImage | QPixmap):
            self._paint_paths(painter)  # an SVG or a print: the curves as vectors
            return
        # Data to picture: the same for the widget and for a grab of its window.
        local = transform * QTransform.fromTranslate(-area.left(), -area.top())
        key = (_matrix(local), area.width(), area.height(), ratio)
        if self._picture is None or key != self._picture_key:
            if isinstance(device, QWidget) and not self._render_due:
                # On screen, the view's scale changed: draw the last picture stretched to it
                # (or nothing, the first time) and the curves at the next turn of the event
                # loop, once. A window that lays itself out after its first paint (tick labels
                # take their width then) would draw them twice over, each time a tenth of a
                # second for 10,000 trials.
                self._render_due = True
                QTimer.singleShot(0, self, self.update)
                if self._picture is not None and self._picture_key is not None:
                    stretch = self._picture_transform.inverted()[0] * transform
                    painter.save()
                    painter.setTransform(stretch)
                    painter.drawImage(0, 0, self._picture)
                    painter.restore()
                return
            self._render_due = False
            self._picture_transform = local
            self._picture = QImage(
                round(area.width() * ratio),
                round(area.height() * ratio),
                QImage.Format.Format_ARGB32_Premultiplied,
            )
            self._picture.setDevicePixelRatio(ratio)
            self._picture.fill(Qt.GlobalColor.transparent)
            self._picture_key = key
            self._draw_on_picture(local, [(g.pen, g.path) for g in self.groups])
        elif self._appended:
            self._draw_on_picture(local, self._appended)
        self._appended = []
        self._render_due = False
        painter.save()
        painter.setTransform(QTransform())  # device coordinates; the view's clip stays
        painter.drawImage(area.topLeft(), self._picture)
        painter.restore()

    def _paint_paths(self, painter: QPainter) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for group in self.groups:
            painter.setPen(group.pen)
            painter.drawPath(group.path)
        painter.restore()

    def _draw_on_picture(self, local: QTransform, paths: list[tuple[QPen, QPainterPath]]) -> None:
        assert self._picture is not None
        painter = QPainter(self._picture)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            size = self._picture.deviceIndependentSize()
            painter.setClipRect(QRectF(0, 0, size.width(), size.height()))
            painter.setTransform(local)
            for pen, path in paths:
                painter.setPen(pen)
                painter.drawPath(path)
        finally:
            painter.end()

    # -- clicks ---------------------------------------------------------------------------------
    def trial_at(self, pos: QPointF, pixels: float = CLICK_PIXELS) -> int | None:
        """The trial whose curve passes within ``pixels`` of ``pos`` (view coordinates), the
        nearest; None if there is none (or the item is not in a view)."""
        vectors = self.pixelVectors()
        if vectors[0] is None or vectors[1] is None:
            return None
        width, height = abs(vectors[0].x()), abs(vectors[1].y())
        if not width or not height:
            return None
        best: tuple[float, int] | None = None
        for group in reversed(self.groups):  # the top group first: it is drawn on top
            x, y = self._view(group.x, group.y)
            dx, dy = (x - pos.x()) / width, (y - pos.y()) / height
            distance = dx * dx + dy * dy
            if not len(distance) or np.all(np.isnan(distance)):
                continue
            i = int(np.nanargmin(distance))
            if distance[i] <= pixels * pixels and (best is None or distance[i] < best[0]):
                curve = int(np.searchsorted(group.starts, i, side="right")) - 1
                best = (float(distance[i]), int(group.trial_ids[curve]))
        return None if best is None else best[1]

    def mouseClickEvent(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        trial = self.trial_at(event.pos())
        if trial is None:
            event.ignore()  # the view box's click: not ours
            return
        event.accept()
        self.trial_clicked.emit(trial)


def _matrix(transform: QTransform) -> tuple[float, ...]:
    return (
        transform.m11(),
        transform.m12(),
        transform.m21(),
        transform.m22(),
        transform.dx(),
        transform.dy(),
    )


def _range_points(
    x: np.ndarray, y: np.ndarray, starts: np.ndarray, many: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The points of curves laid out as in :class:`CurveGroup` that count for the y range:
    all of them, or where there are ``many`` (by default: more than :data:`RANGE_POINTS`)
    each curve's lowest and highest, and every :data:`RANGE_STRIDE` th."""
    if not (len(y) > RANGE_POINTS if many is None else many):
        return x, y
    keep = np.zeros(len(y), dtype=bool)
    keep[::RANGE_STRIDE] = True
    if len(starts):
        lengths = np.diff(np.append(starts, len(y)))
        owner = np.repeat(np.arange(len(starts)), lengths)
        with np.errstate(invalid="ignore"):
            low = np.fmin.reduceat(y, starts)
            high = np.fmax.reduceat(y, starts)
        keep |= (y == low[owner]) | (y == high[owner])
    return x[keep], y[keep]
