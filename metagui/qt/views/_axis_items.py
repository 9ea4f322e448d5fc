"""pyqtgraph axes and plot styling: axes legible on log scales and at whole numbers, labels
that fit, an opaque grid beneath the data, the objective's colour bar."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetricsF, QPalette, QPen

from metagui.qt.views._labels import fit_label

__all__ = [
    "GRID_ALPHA",
    "FittedLabelAxis",
    "ValueAxis",
    "integer_ticks",
    "make_colorbar",
    "set_integer_axis",
    "show_grid",
    "style_plot",
    "value_axes",
]


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
