"""What the live views share: the redraw-on-a-timer base widget, colours by objective value and
by trial state, parameter axes (linear, log or categorical, normalised to [0, 1]), labels, and
ranges that a diverged trial cannot blow up (:func:`robust_range`, :class:`RobustViewBox`)."""

from __future__ import annotations

import functools
import html
import math
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QColor, QFontMetricsF, QHideEvent, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._load import gui_thread_load
from metagui.qt.views._bundle import CurveBundle

__all__ = [
    "CATEGORY_COLORS",
    "COLOR_LEVELS",
    "FOCUS_COLOR",
    "GRID_ALPHA",
    "REDRAW_BUSY_BUDGET",
    "REDRAW_INTERVAL_MS",
    "REDRAW_MAX_DEFER_S",
    "STATE_COLORS",
    "STATE_LABELS",
    "STEADY_RANGE",
    "FittedLabelAxis",
    "LiveView",
    "ParamAxis",
    "RobustViewBox",
    "ValueAxis",
    "counted",
    "fit_label",
    "format_number",
    "has_lone_points",
    "integer_ticks",
    "label_variants",
    "last_validation",
    "make_colorbar",
    "mark_lone_points",
    "metric_label",
    "objective_label",
    "param_axis",
    "robust_range",
    "sentence",
    "set_colormap",
    "set_integer_axis",
    "short_names",
    "show_grid",
    "style_plot",
    "validation_metric",
    "value_axes",
    "value_colormap",
    "value_colors",
]

REDRAW_INTERVAL_MS = 40
"""25 redraws a second at most: smooth enough to watch, cheap enough to leave running."""

STATE_COLORS: dict[str, QColor] = {
    "COMPLETE": QColor(44, 160, 44),
    "PRUNED": QColor(230, 130, 20),
    "FAILED": QColor(214, 39, 40),
    "RUNNING": QColor(31, 119, 180),
    "QUEUED": QColor(127, 127, 127),
}
STATE_LABELS = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAILED": "failed",
    "RUNNING": "running",
    "QUEUED": "queued",
}
FOCUS_COLOR = QColor(255, 110, 0)
"""The selected (or running) trial, drawn over everything else."""
NO_VALUE_COLOR = QColor(150, 150, 150)
CATEGORY_COLORS = tuple(
    QColor(c)
    for c in (
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    )
)
"""Tableau 10: distinct colours for unordered things (studies, layers), legible on light and
dark backgrounds."""

# The bright yellow end of viridis vanishes on a white background: stop short of it.
_CMAP_SPAN = 0.88


@functools.cache
def value_colormap(maximize: bool) -> pg.ColorMap:
    """Objective value -> colour over (low, high): the best end is always the bright one.
    One shared map per direction (built once: live views ask on every redraw); not to be
    modified."""
    cmap = pg.colormap.get("viridis").getSubset(0.0, _CMAP_SPAN)
    if not maximize:
        cmap.reverse()
    return cmap


def set_colormap(colorbar: pg.ColorBarItem, cmap: pg.ColorMap) -> None:
    """Give ``colorbar`` this map unless it has it already (it redraws its bar each time)."""
    if colorbar.colorMap() is not cmap:
        colorbar.setColorMap(cmap)


OUTLIER_FENCE = 10.0
"""How far beyond the bulk of the values (their interquartile range) a value may lie, in
widths of the bulk, before :func:`robust_range` calls it an outlier: further out, it would
squash the bulk into a twentieth of the view."""
OUTLIER_FENCE_LOG = 2.0
"""The same on a log axis, where one width of the bulk is already some decades."""
_QUARTILE_SAMPLE = 50_000
STEADY_RANGE = 0.02
"""A robust y range that moved by less than this share of its span is kept as it was."""


def robust_range(
    values: npt.ArrayLike, log: bool = False, margin: float = 0.05
) -> tuple[float, float] | None:
    """The range to show ``values`` over when a few of them are wild (a diverged trial's loss
    of 1e12): in view coordinates (log10 of the values when ``log``), or None when no value
    is finite (and positive, when ``log``).

    NaN and infinities are ignored, and so are zero and negative values under ``log``. The
    bulk of the rest is their interquartile range (of the log10 values under ``log``); a value
    more than :data:`OUTLIER_FENCE` (:data:`OUTLIER_FENCE_LOG`) bulk widths beyond it is an
    outlier, but never one within the bulk's own magnitude (a decade, on a log axis) of it.
    The range spans every other value, with ``margin`` of its width either side; a single
    value (or many equal ones) gets a small range around it."""
    t = np.asarray(values, dtype=float).ravel()
    if log:
        t = t[t > 0]  # NaN compares false: gone too
        t = np.log10(t)
    t = t[np.isfinite(t)]
    if t.size == 0:
        return None
    # Quartiles that are values, not interpolated towards an outlier next to them; of an even
    # sample of the values where there are many (long runs, many trials), for speed.
    sample = t[:: t.size // _QUARTILE_SAMPLE + 1]
    q1, q3 = (float(q) for q in np.quantile(sample, (0.25, 0.75), method="nearest"))
    if log:
        reach = max(OUTLIER_FENCE_LOG * (q3 - q1), 1.0)
    else:
        reach = max(OUTLIER_FENCE * (q3 - q1), abs(q1), abs(q3))
    inliers = t[(t >= q1 - reach) & (t <= q3 + reach)]
    low, high = (float(inliers.min()), float(inliers.max())) if inliers.size else (q1, q3)
    if low == high:  # one value, or many equal ones: a little room around it
        pad = 0.25 if log else abs(low) * 0.05 or 0.5
        return low - pad, high + pad
    pad = (high - low) * margin
    return low - pad, high + pad


def value_range(values: Sequence[float | None]) -> tuple[float, float] | None:
    """The objective values' span for colouring: their :func:`robust_range` without margin,
    so a diverged trial's value does not wash every other trial into one colour."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return robust_range(finite, margin=0.0)


def value_colors(values: Sequence[float | None], maximize: bool, alpha: int = 255) -> list[QColor]:
    """One colour per value on :func:`value_colormap` over the values' :func:`value_range`
    (a value beyond it takes the colour of its end), in :data:`COLOR_LEVELS` steps; a missing
    or non-finite value is grey. Few distinct colours keep a scatter of 10,000 trials cheap
    (pyqtgraph draws each distinct symbol once)."""
    span = value_range(values)
    levels = _color_levels(maximize, alpha)
    grey = QColor(NO_VALUE_COLOR)
    grey.setAlpha(alpha)
    v = np.array([math.nan if x is None else x for x in values], dtype=float)
    if span is None or not len(v):
        return [QColor(grey) for _ in values]
    low, high = span
    with np.errstate(invalid="ignore"):
        position = np.clip((v - low) / (high - low), 0.0, 1.0)
    step = np.rint(np.nan_to_num(position) * (COLOR_LEVELS - 1)).astype(int)
    finite = np.isfinite(v)
    return [
        QColor(levels[i]) if ok else QColor(grey)
        for i, ok in zip(step.tolist(), finite.tolist(), strict=True)
    ]


COLOR_LEVELS = 64
"""Steps of the objective's colour map that :func:`value_colors` gives."""


@functools.cache
def _color_levels(maximize: bool, alpha: int) -> tuple[QColor, ...]:
    colors = value_colormap(maximize).map(
        np.linspace(0.0, 1.0, COLOR_LEVELS), mode=pg.ColorMap.QCOLOR
    )
    for color in colors:
        color.setAlpha(alpha)
    return tuple(colors)


def make_colorbar(label: str, palette: QPalette) -> pg.ColorBarItem:
    """A read-only colour bar for :func:`value_colormap` (levels set with ``setLevels``),
    whose label (``getAxis("left").setLabel``) is shortened to fit the bar's height
    (:class:`FittedLabelAxis`)."""
    bar = pg.ColorBarItem(
        values=(0.0, 1.0),
        width=14,
        interactive=False,
        colorMapMenu=False,
        pen=palette.color(QPalette.ColorRole.Text),
    )
    axis = FittedLabelAxis("left")
    bar.setAxisItems({"left": axis})
    axis.setTicks([])  # as the colour bar's frame axes: the values are on the right
    axis.setStyle(showValues=False)
    axis.setLabel(label)
    style_plot(bar, palette)
    return bar


_BETTER = re.compile(r"\s*\((higher|lower) is better\)")


def label_variants(text: str) -> list[str]:
    """``text`` and shorter ways to say it, longest first: ``validation accuracy (higher is
    better)``, ``validation accuracy ↑``, ``accuracy ↑``."""
    variants = [text]
    arrowed = _BETTER.sub(lambda m: " ↑" if m[1] == "higher" else " ↓", text)
    if arrowed != text:
        variants.append(arrowed)
    words = arrowed.split(" ", 1)
    if len(words) == 2 and len(words[1]) > 2:
        variants.append(words[1])
    return variants


def fit_label(text: str, room: float, width_of: Callable[[str], float]) -> str:
    """The longest of :func:`label_variants` of ``text`` no wider than ``room`` (by
    ``width_of``), else the shortest, cut with an ellipsis to fit."""
    variants = label_variants(text)
    for variant in variants:
        if width_of(variant) <= room:
            return variant
    shortest = variants[-1]
    while len(shortest) > 1 and width_of(shortest + "…") > room:
        shortest = shortest[:-1]
    return shortest.rstrip() + "…"


class FittedLabelAxis(pg.AxisItem):
    """An axis whose label is the longest of its :func:`label_variants` that fits the axis'
    length (a colour bar is as tall as the plot beside it: on a small screen the full
    ``validation accuracy (higher is better)`` would be cut off); the full label is its
    tooltip."""

    def setLabel(self, text: str | None = None, units: str | None = None, **args: Any) -> None:
        self.setToolTip(text or "")
        super().setLabel(text, units, **args)

    def labelString(self) -> str:
        text = str(self.labelText or "")
        horizontal = self.orientation in ("top", "bottom")
        room = (self.size().width() if horizontal else self.size().height()) - 8
        metrics = QFontMetricsF(self.label.font())
        fitted = fit_label(text, room, metrics.horizontalAdvance) if room > 0 else text
        style = ";".join(f"{k}: {v}" for k, v in self.labelStyle.items())
        return f"<span style='{style}'>{html.escape(fitted)}</span>"

    def shown_label(self) -> str:
        """The label as drawn (tests read it)."""
        return str(self.label.toPlainText())

    def resizeEvent(self, ev: Any = None) -> None:
        if self.label is not None:
            wanted = self.labelString()
            if wanted != self.label.toHtml() and self.label.toPlainText() != _plain(wanted):
                self.label.setHtml(wanted)
        super().resizeEvent(ev)


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


GRID_ALPHA = 0.15
"""How strongly grid lines show: this share of the text colour over the background."""


class ValueAxis(pg.AxisItem):
    """An axis that, in log mode, labels only the 1-2-5 ticks of each decade when there are
    many (pyqtgraph labels every 2, 3, ... 9 and they overlap), and that draws its faint tick
    and grid lines opaque once it knows the background (:func:`show_grid`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._background: QColor | None = None
        self._integer = False

    def set_integer(self, integer: bool) -> None:
        """Ticks only at whole numbers (trial numbers, integer parameters): never ``0.5`` or
        ``-0.4``, however far the view is zoomed in."""
        if integer != self._integer:
            self._integer = integer
            self.picture = None
            self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:
        levels: list[Any] = super().tickValues(minVal, maxVal, size)
        if not self._integer or self.logMode:
            return levels
        return integer_ticks(levels, minVal, maxVal)

    def set_background(self, color: QColor) -> None:
        """Draw faint lines in their colour blended over ``color`` instead of translucent."""
        self._background = QColor(color)
        self.picture = None  # pyqtgraph's cached drawing
        self.update()

    def generateDrawSpecs(self, p: Any) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None or self._background is None:
            return specs
        axis_spec, tick_specs, text_specs = specs
        ticks = [(_opaque(pen, self._background), a, b) for pen, a, b in tick_specs]
        return axis_spec, ticks, text_specs

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings: list[str] = super().tickStrings(values, scale, spacing)
        if not self.logMode or len(values) <= 8:
            return strings
        out = []
        for value, text in zip(values, strings, strict=True):
            mantissa = round(10 ** (value - math.floor(value + 1e-9)), 6)
            out.append(text if mantissa in (1.0, 2.0, 5.0) else "")
        return out


def integer_ticks(
    levels: Sequence[tuple[float, Sequence[float]]], low: float, high: float
) -> list[tuple[float, list[float]]]:
    """pyqtgraph's tick ``levels`` (spacing, values) with the fractional ones left out; a
    range narrower than one (a single trial) gets its whole numbers, if any."""
    out = [
        (spacing, [v for v in values if float(v).is_integer()])
        for spacing, values in levels
        if spacing >= 1
    ]
    if not any(values for _, values in out):
        first, last = math.ceil(min(low, high)), math.floor(max(low, high))
        out = [(1.0, [float(v) for v in range(first, last + 1)][:20])]
    return out


def set_integer_axis(plot: pg.PlotItem, side: str, integer: bool) -> None:
    """Whole-number ticks (or not) on the ``side`` axis of ``plot``, a :class:`ValueAxis`."""
    axis = plot.getAxis(side)
    if isinstance(axis, ValueAxis):
        axis.set_integer(integer)


def value_axes() -> dict[str, pg.AxisItem]:
    """Axis items for a new plot (``axisItems=``): log axes labelled legibly."""
    return {"left": ValueAxis("left"), "bottom": ValueAxis("bottom")}


def show_grid(plot: pg.PlotItem, palette: QPalette, x: bool = True, y: bool = True) -> None:
    """Grid lines beneath the data, in :data:`GRID_ALPHA` of the text colour, drawn opaque
    (blended over the background beforehand) by :class:`ValueAxis` axes.

    Why opaque: translucent lines across a whole plot are the slowest thing Qt's raster
    engine draws. With pyqtgraph's translucent grid, repainting the loss plot after its range
    grew took about 3x as long as with this one, and a repaint of an unchanged plot about 8x.
    Beneath the data, an opaque grid line never cuts through a curve."""
    plot.showGrid(x=x, y=y, alpha=GRID_ALPHA)
    below = plot.getViewBox().zValue() - 1
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setZValue(below)
        if isinstance(axis, ValueAxis):
            axis.set_background(palette.color(QPalette.ColorRole.Base))


def _opaque(pen: QPen, background: QColor) -> QPen:
    """``pen`` with its translucent colour replaced by that colour over ``background``."""
    color = pen.color()
    alpha = color.alphaF()
    if alpha >= 1.0:
        return pen
    blended = QColor.fromRgbF(
        color.redF() * alpha + background.redF() * (1.0 - alpha),
        color.greenF() * alpha + background.greenF() * (1.0 - alpha),
        color.blueF() * alpha + background.blueF() * (1.0 - alpha),
    )
    opaque = QPen(pen)
    opaque.setColor(blended)
    return opaque


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
        log_x, log_y = self.state["logMode"]
        chunks: list[np.ndarray] = []
        for item in self.addedItems:
            if not isinstance(item, pg.PlotDataItem | CurveBundle) or not item.isVisible():
                continue
            if any(item is ignored for ignored in self._ignored):
                continue
            if item.scene() is not self.scene() or item.yData is None or not len(item.yData):
                continue
            if any(item.opts.get(k) for k in _TRANSFORMS):
                return None
            ys = np.asarray(item.yData, dtype=float)
            if x_window is not None and item.xData is not None:
                xs = np.asarray(item.xData, dtype=float)
                if log_x:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        xs = np.log10(xs)
                ys = ys[(xs >= x_window[0]) & (xs <= x_window[1])]
            chunks.append(ys)
        if not chunks:
            return None
        return robust_range(np.concatenate(chunks), log=bool(log_y), margin=0.0)


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


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 trial``, ``2 trials``, ``0 trials``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def style_plot(plot: pg.PlotItem, palette: QPalette) -> None:
    """Axis lines and labels in the palette's text colour (legible on light and dark themes);
    plain numbers on the axes (no "(x0.001)" prefixes)."""
    text = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        axis.enableAutoSIPrefix(False)
    plot.titleLabel.setAttr("color", text.name())
    if plot.titleLabel.text:
        plot.setTitle(plot.titleLabel.text)


def format_number(value: float) -> str:
    """A value as a researcher reads it: 4 significant digits, no trailing noise."""
    if value == 0:
        return "0"
    return f"{value:.4g}"


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised (and ``MSE`` left alone)."""
    return text[:1].upper() + text[1:]


def validation_metric(study: StudyData) -> str | None:
    """The name of the validation series this study records (``val/mse``, ``val/accuracy``)."""
    names = study.metric_names()
    candidates = sorted(n for n in names if n.startswith("val/") and not n.endswith("_ci95"))
    return candidates[0] if candidates else None


def last_validation(study: StudyData, trial_id: int) -> float | None:
    """The last finite validation value of a trial (what a pruned trial was judged by)."""
    name = validation_metric(study)
    return study.last_value(trial_id, name) if name else None


def metric_label(name: str) -> str:
    """``val/mse`` -> ``validation MSE``; ``train/loss`` -> ``meta-train loss``."""
    split, _, metric = name.partition("/")
    metric = {"mse": "MSE", "mae": "MAE", "loss": "loss"}.get(metric, metric.replace("_", " "))
    where = {"val": "validation", "train": "meta-train", "test": "test"}.get(split, split)
    return f"{where} {metric}".strip()


def objective_label(study: StudyData) -> str:
    """What a trial's value is, e.g. ``validation MSE (lower is better)``."""
    family = study.spec.get("taskset", {}).get("family")
    metric = "MSE" if family == "sinusoid" else "accuracy" if family else "objective"
    split = study.spec.get("objective", {}).get("split", "validation")
    better = "higher" if study.maximize else "lower"
    return f"{split} {metric} ({better} is better)"


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Each dotted parameter name by its last part where that is unambiguous."""
    tails = [n.rsplit(".", 1)[-1] for n in names]
    return {n: t if tails.count(t) == 1 else n for n, t in zip(names, tails, strict=True)}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class ParamAxis:
    """One parameter's axis: numeric (linear or log) over ``low..high`` or categorical over
    ``choices``; :meth:`position` maps a value into [0, 1] (NaN where it does not apply)."""

    name: str
    categorical: bool
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    integer: bool = False

    def index(self, value: Any) -> int | None:
        for i, choice in enumerate(self.choices):
            if _same(choice, value):
                return i
        return None

    def position(self, value: Any) -> float:
        if value is None:
            return math.nan
        if self.categorical:
            i = self.index(value)
            if i is None:
                return math.nan
            return 0.5 if len(self.choices) == 1 else i / (len(self.choices) - 1)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return math.nan
        v, low, high = float(value), self.low, self.high
        if self.log:
            if v <= 0:
                return math.nan
            v, low, high = math.log10(v), math.log10(low), math.log10(high)
        if not math.isfinite(v):
            return math.nan
        return 0.5 if high == low else (v - low) / (high - low)

    def value_at(self, position: float) -> float:
        """The numeric value at ``position`` in [0, 1] (inverse of :meth:`position`)."""
        if self.log:
            low, high = math.log10(self.low), math.log10(self.high)
            return float(10 ** (low + position * (high - low)))
        return self.low + position * (self.high - self.low)

    def ticks(self) -> list[tuple[float, str]]:
        """Labelled positions along the axis: every choice, or low, middle and high."""
        if self.categorical:
            return [(self.position(c), str(c)) for c in self.choices]
        low, high = self.low, self.high
        if low == high:
            return [(0.5, format_number(low))]
        inner: list[float]
        if self.log:
            decades = range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1)
            inner = [10.0**d for d in decades]
        elif self.integer and high - low <= 8:
            inner = [float(v) for v in range(math.ceil(low), math.floor(high) + 1)]
        else:
            inner = [float(f"{(low + high) / 2:.2g}")]
        ticks: list[tuple[float, str]] = []
        for value in [low, high, *inner]:
            pos = self.position(value)
            if all(abs(pos - p) > 0.07 for p, _ in ticks):
                ticks.append((pos, f"{value:.3g}"))
        return sorted(ticks)


def param_axis(study: StudyData, name: str, values: Sequence[Any] | None = None) -> ParamAxis:
    """The axis of parameter ``name``: the stored search-space range (widened to the values
    seen, so every value lands in [0, 1]) or, for a parameter it does not list, the values'."""
    if values is None:
        values = [t.params[name] for t in study.trials.values() if name in t.params]
    entry = next((p for p in study.search_params() if p.get("name") == name), None)
    numeric = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    kind = entry.get("type") if entry else None
    if kind == "categorical" or (kind is None and len(numeric) < len(values)):
        choices: list[Any] = list(entry.get("choices", [])) if entry else []
        for v in values:
            if not any(_same(c, v) for c in choices):
                choices.append(v)
        return ParamAxis(name, categorical=True, choices=tuple(choices))
    log = bool(entry and entry.get("log"))
    bounds = [float(entry[k]) for k in ("low", "high") if entry and entry.get(k) is not None]
    seen = [v for v in numeric + bounds if math.isfinite(v) and (v > 0 or not log)]
    integer = kind == "int" or (kind is None and all(isinstance(v, int) for v in values))
    if not seen:
        return ParamAxis(name, categorical=False, low=1.0 if log else 0.0, high=1.0, log=log)
    return ParamAxis(
        name, categorical=False, low=min(seen), high=max(seen), log=log, integer=integer
    )


def as_array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)


REDRAW_BUSY_BUDGET = 0.05
"""A live view redraws for new data only while the GUI thread was busy less than this share
of the last seconds (:class:`~metagui.qt._load.GuiThreadLoad`); see :class:`LiveView`."""
REDRAW_MAX_DEFER_S = 2.0
"""However busy the GUI thread, new data is drawn at least this often."""


class LiveView(QWidget):
    """A view over one study of a :class:`HistoryModel` that redraws on its own timer.

    The timer runs only while the view is shown (about 25 Hz) and calls :meth:`redraw` only
    when what the view draws from changed: the study's ``revision``, or the view's own options
    (:meth:`invalidate`). A poll that brings a thousand new points costs one redraw, not a
    thousand. The timer is the view's child, so it stops and goes with it.

    Paced: the user's own changes (options, selection, another study) are drawn at the next
    tick, but new data only while the GUI thread has been busy less than
    :data:`REDRAW_BUSY_BUDGET` of the time lately, and at least every
    :data:`REDRAW_MAX_DEFER_S`. While a study trains in another thread, each millisecond of
    drawing is one that training does not get (both run Python, one at a time): on a fast
    machine the plots follow at the poll rate, on a slow one they take turns and the
    training keeps its pace."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._study_id: int | None = None
        self._options = 0
        self._drawn_key: Hashable = None
        self._drawn_options = -1
        self._drawn_at = -math.inf
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self.redraw_timer.timeout.connect(self._on_timer)

    @property
    def study_id(self) -> int | None:
        return self._study_id

    def study(self) -> StudyData | None:
        """The shown study's data, or None (no study set, or not in the model)."""
        return None if self._study_id is None else self.model.studies.get(self._study_id)

    def set_study(self, study_id: int | None) -> None:
        """Show study ``study_id`` (None: nothing)."""
        if study_id != self._study_id:
            self._study_id = study_id
            self._study_changed()
            self.invalidate()

    def invalidate(self, *_: object) -> None:
        """Redraw at the next tick although the data did not change (an option did); takes
        and ignores any signal arguments, so an option widget's signal connects to it."""
        self._options += 1

    def redraw(self) -> None:
        """Draw what the model holds now (the timer calls it when something changed)."""
        self._drawn_key = self._data_key()
        self._drawn_options = self._options
        self._drawn_at = time.monotonic()
        self._draw(self.study())

    def needs_redraw(self) -> bool:
        return self._data_key() != self._drawn_key

    # -- for subclasses ---------------------------------------------------------------------------
    def _draw(self, study: StudyData | None) -> None:
        raise NotImplementedError

    def _study_changed(self) -> None:
        """The shown study changed: forget per-study state (selection, cached items)."""

    def _data_key(self) -> Hashable:
        study = self.study()
        # id(study): reopening a file makes new StudyData objects whose revisions restart.
        state = None if study is None else (id(study), study.revision)
        return (self._study_id, state, self._options)

    # -- timer ----------------------------------------------------------------------------------
    @Slot()
    def _on_timer(self) -> None:
        if not self.needs_redraw():
            return
        if self._options == self._drawn_options:  # set_study() counts as an option
            # Only new data: wait while the GUI thread is busy, but not for ever.
            load = gui_thread_load()
            waited = time.monotonic() - self._drawn_at
            if load and waited < REDRAW_MAX_DEFER_S and load.busy_fraction() > REDRAW_BUSY_BUDGET:
                return
        self.redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.redraw_timer.start()
        self._on_timer()

    def hideEvent(self, event: QHideEvent) -> None:
        self.redraw_timer.stop()
        super().hideEvent(event)
