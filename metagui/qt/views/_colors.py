"""Colours the views share: by trial state, for the selected trial, for unordered things, and
by objective value (:func:`value_colormap`, :func:`value_colors`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtGui import QColor

from metagui.qt.views._ranges import value_range

__all__ = [
    "CATEGORY_COLORS",
    "COLOR_LEVELS",
    "FOCUS_COLOR",
    "NO_VALUE_COLOR",
    "STATE_COLORS",
    "STATE_LABELS",
    "colors_at",
    "set_colormap",
    "value_colormap",
    "value_colors",
]

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


def value_colors(values: Sequence[float | None], maximize: bool, alpha: int = 255) -> list[QColor]:
    """One colour per value on :func:`value_colormap` over the values' :func:`value_range`
    (a value beyond it takes the colour of its end), in :data:`COLOR_LEVELS` steps; a missing
    or non-finite value is grey. Few distinct colours keep a scatter of 10,000 trials cheap
    (pyqtgraph draws each distinct symbol once)."""
    span = value_range(values)
    v = np.array([math.nan if x is None else x for x in values], dtype=float)
    if span is None or not len(v):
        return colors_at([math.nan] * len(values), maximize, alpha)
    low, high = span
    with np.errstate(invalid="ignore"):
        position = np.clip((v - low) / (high - low), 0.0, 1.0)
    return colors_at(position, maximize, alpha)


def colors_at(positions: npt.ArrayLike, maximize: bool, alpha: int = 255) -> list[QColor]:
    """The colours at ``positions`` in [0, 1] along :func:`value_colormap` (0: the low
    value's end), in :data:`COLOR_LEVELS` steps; grey where a position is NaN."""
    position = np.asarray(positions, dtype=float).ravel()
    levels = _color_levels(maximize, alpha)
    grey = QColor(NO_VALUE_COLOR)
    grey.setAlpha(alpha)
    step = np.rint(np.nan_to_num(np.clip(position, 0.0, 1.0)) * (COLOR_LEVELS - 1)).astype(int)
    finite = np.isfinite(position)
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
