"""A view box whose automatic y range ignores diverged trials (:class:`RobustViewBox`), and
markers on points that a line alone would not show (:func:`mark_lone_points`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg

from metagui.qt.views._bundle import CurveBundle
from metagui.qt.views._ranges import robust_range

__all__ = ["STEADY_RANGE", "RobustViewBox", "has_lone_points", "mark_lone_points"]

STEADY_RANGE = 0.02
"""A robust y range that moved by less than this share of its span is kept as it was."""


_TRANSFORMS = ("fftMode", "derivativeMode", "phasemapMode")


class RobustViewBox(pg.ViewBox):
    """A view box whose automatic y range ignores outliers, for live plots where one diverged
    trial would otherwise flatten every other curve against the bottom of the view.

    While y auto range is on (at first, and again after the "A" button or the menu's auto
    range), the y range follows :func:`robust_range` of the finite y values of the visible
    data items and curve bundles (those over the visible x range only, with "visible data
    only"), computed in log space on a log axis; what leaves that range is clipped by the
    view. Panning or zooming by hand turns auto range off as pyqtgraph always does, and later
    redraws leave the range alone until auto range is turned back on. "View All" in the
    context menu still fits all the data as pyqtgraph does (up to its ``dynamicRangeLimit``),
    once, without turning auto range on. Items shown through an FFT or derivative transform
    get pyqtgraph's own y range, and items passed to :meth:`set_ignored` do not count. Boxes
    that share their x axis (:meth:`share_x_range`) fit the union of their x ranges,
    whichever of them ranges last. The robust range holds still through changes smaller than
    :data:`STEADY_RANGE` of it: a plot following a live run is not rescaled (and its
    thousands of faint curves drawn again) for every new point.

    A line whose points the line alone would not show (one logged step, one evaluation, a
    study of one trial) gets markers on them (:func:`mark_lone_points`) as its data changes,
    so that no plot of a run that has just begun looks empty."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._auto_ranging = False
        self._ignored: tuple[Any, ...] = ()
        self._x_partners: list[pg.ViewBox] = []
        self._steady: tuple[float, float] | None = None  # the robust y range in use

    def addItem(self, item: Any, *args: Any, **kwargs: Any) -> None:
        super().addItem(item, *args, **kwargs)
        if isinstance(item, pg.PlotDataItem):
            item.sigPlotChanged.connect(mark_lone_points)
            mark_lone_points(item)

    def share_x_range(self, other: pg.ViewBox) -> None:
        """Link the x axes of this box and ``other`` (``setXLink``), with an automatic x range
        that spans both boxes' data: with a plain link, the box that auto-ranges last (after a
        log toggle, the one with the shorter series) would cut off the other's x range."""
        self.setXLink(other)
        if all(p is not other for p in self._x_partners):
            self._x_partners.append(other)
        if isinstance(other, RobustViewBox) and all(p is not self for p in other._x_partners):
            other._x_partners.append(self)

    def set_ignored(self, items: Sequence[Any]) -> None:
        """Leave these data items out of the robust range: what merely repeats other items'
        values (a highlighted copy of a curve, a best-so-far line through the points) would
        otherwise weigh twice, and a diverged trial drawn twice could pass for the bulk."""
        items = tuple(items)
        if len(items) != len(self._ignored) or any(
            a is not b for a, b in zip(items, self._ignored, strict=True)
        ):
            self._ignored = items
            self.queueUpdateAutoRange()

    def updateAutoRange(self) -> None:
        self._auto_ranging = True
        try:
            super().updateAutoRange()
        finally:
            self._auto_ranging = False

    def childrenBounds(
        self, frac: Any = None, orthoRange: Any = (None, None), items: Any = None
    ) -> list[Any]:
        bounds: list[Any] = super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
        if self._auto_ranging and items is None:
            y = self.robust_y_range(orthoRange[1])
            if y is not None:
                last = self._steady
                if last is None or max(abs(y[0] - last[0]), abs(y[1] - last[1])) > (
                    STEADY_RANGE * (last[1] - last[0])
                ):
                    self._steady = last = y
                bounds[1] = list(last)
            # The partners' own data bounds (pyqtgraph's, so this never recurses).
            xs = [bounds[0]] + [pg.ViewBox.childrenBounds(p)[0] for p in self._x_partners]
            xs = [x for x in xs if x is not None]
            if xs:
                bounds[0] = [min(x[0] for x in xs), max(x[1] for x in xs)]
        return bounds

    def robust_y_range(self, x_window: Sequence[float] | None = None) -> tuple[float, float] | None:
        """The robust y range (view coordinates) of the visible data items' values, of those
        with x in ``x_window`` (view coordinates) if given; None where there are none, or
        where an item is drawn through a transform."""
        return self.robust_range_of(1, x_window, margin=0.0)

    def robust_range_of(
        self, axis: int, window: Sequence[float] | None = None, *, margin: float | None = None
    ) -> tuple[float, float] | None:
        """The robust range (view coordinates) of the visible data items' values along
        ``axis`` (0: x, 1: y), of those whose other coordinate lies in ``window`` if given;
        None where there are none, or where an item is drawn through a transform.
        ``margin``: :func:`robust_range`'s (None: its default)."""
        log = self.state["logMode"]
        chunks: list[np.ndarray] = []
        for item in self.addedItems:
            if not isinstance(item, pg.PlotDataItem | CurveBundle) or not item.isVisible():
                continue
            if any(item is ignored for ignored in self._ignored):
                continue
            data, other = (item.yData, item.xData) if axis else (item.xData, item.yData)
            if item.scene() is not self.scene() or data is None or not len(data):
                continue
            if any(item.opts.get(k) for k in _TRANSFORMS):
                return None
            values = np.asarray(data, dtype=float)
            if window is not None and other is not None:
                others = np.asarray(other, dtype=float)
                if log[1 - axis]:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        others = np.log10(others)
                values = values[(others >= window[0]) & (others <= window[1])]
            chunks.append(values)
        if not chunks:
            return None
        extra = {} if margin is None else {"margin": margin}
        return robust_range(np.concatenate(chunks), log=bool(log[axis]), **extra)


def has_lone_points(xs: npt.ArrayLike, ys: npt.ArrayLike) -> bool:
    """Whether a line through these points would leave some of them invisible: a single
    point, points all in one place, or a finite point between gaps (NaN) on both sides."""
    x = np.asarray(xs, dtype=float).ravel()
    y = np.asarray(ys, dtype=float).ravel()
    if x.size != y.size or x.size == 0:
        return False
    finite = np.isfinite(x) & np.isfinite(y)
    count = int(np.count_nonzero(finite))
    if count == 0:
        return False
    before = np.concatenate([[False], finite[:-1]])
    after = np.concatenate([finite[1:], [False]])
    if count == 1 or (finite & ~before & ~after).any():
        return True
    fx, fy = x[finite], y[finite]
    return bool(fx.min() == fx.max() and fy.min() == fy.max())


_MARKED = "_metagui_lone_marked"  # set on a line item that has markers from mark_lone_points


def mark_lone_points(item: pg.PlotDataItem, size: float = 7) -> None:
    """Draw markers on line ``item``'s points (in its pen's colour) while its line alone
    would not show them (:func:`has_lone_points`: one step, one evaluation), and take them
    away again once it would. An item with markers of its own (a scatter) is left alone."""
    marked = bool(getattr(item, _MARKED, False))
    if item.opts.get("symbol") is not None and not marked:
        return
    pen = item.opts.get("pen")
    xs, ys = item.xData, item.yData  # all of it, not the part clipped to the view
    lone = pen is not None and xs is not None and ys is not None and has_lone_points(xs, ys)
    if lone == marked:
        return
    if lone:
        color = pg.mkPen(pen).color()
        item.setSymbolSize(size)
        item.setSymbolBrush(pg.mkBrush(color))
        item.setSymbolPen(pg.mkPen(color))
    setattr(item, _MARKED, lone)
    item.setSymbol("o" if lone else None)
