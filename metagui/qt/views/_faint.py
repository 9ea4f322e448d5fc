"""The faint curves of a study's finished trials, for the loss plot: which trial gets which
colour (its objective value, in :data:`COLOR_STEPS` steps), how much detail a curve keeps
(what the plot's width and a budget of points allow) and how opaque each is (the more curves,
the fainter), all computed apart from Qt; and :class:`FaintCurves`, which keeps one
:class:`CurveBundle` up to date from the stored curves, adding the trials that end to it
instead of building it again."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPen

from metagui.core.history import Curve, TrialRow, polylines
from metagui.qt.views._bundle import CurveBundle, CurveGroup
from metagui.qt.views._colors import NO_VALUE_COLOR, value_colormap

__all__ = [
    "COLOR_STEPS",
    "POINT_BUDGET",
    "FaintCurves",
    "color_groups",
    "curve_buckets",
    "faint_alpha",
    "faint_pens",
]

COLOR_STEPS = 16
"""The faint curves' colours: the objective's colour map in this many steps, one pen each."""
POINT_BUDGET = 1_500_000
"""At most about this many points for all the faint curves of a panel: beyond it a curve is
merged coarser (each merged bucket still keeps its low and high), so 10,000 trials draw in a
fraction of a second."""


def faint_alpha(count: int) -> int:
    """Opacity of each of ``count`` faint curves: the more there are, the fainter each, so
    that where many run together reads darker instead of one solid band (stepwise, so that a
    trial that ends does not make every other curve be drawn again)."""
    for limit, alpha in ((100, 110), (1_000, 50), (10_000, 24)):
        if count < limit:
            return alpha
    return 12


def curve_buckets(width_px: float, curves: int) -> int:
    """Buckets per faint curve: a low and a high per four pixels of the plot's width, within
    :data:`POINT_BUDGET` for ``curves`` curves, as a power of two (so that a small resize
    keeps them)."""
    wanted = min(width_px / 4, POINT_BUDGET / (2 * max(curves, 1)))
    return max(8, 2 ** max(0, math.floor(math.log2(max(wanted, 1)))))


def color_groups(
    finished: Sequence[TrialRow], span: tuple[float, float] | None, maximize: bool
) -> dict[int, int]:
    """Each finished trial's colour group, by trial id: 0 (grey) for a trial without a value
    (pruned, failed, or not finite), else 1 to :data:`COLOR_STEPS` by its value over
    ``span``, the best values last (drawn last: on top)."""
    values = np.array(
        [t.value if t.state == "COMPLETE" and t.value is not None else np.nan for t in finished],
        dtype=float,
    )
    groups = np.zeros(len(finished), dtype=np.int64)
    usable = np.isfinite(values)
    if span is not None and usable.any():
        low, high = span
        position = np.clip((values[usable] - low) / ((high - low) or 1.0), 0.0, 1.0)
        if not maximize:
            position = 1.0 - position
        groups[usable] = 1 + np.rint(position * (COLOR_STEPS - 1)).astype(np.int64)
    return dict(zip((t.id for t in finished), groups.tolist(), strict=True))


def faint_pens(maximize: bool, alpha: int) -> list[QPen]:
    """The pens of the colour groups (see :func:`color_groups`): grey, then the colour
    map's steps from the worst value to the best."""
    grey = QColor(NO_VALUE_COLOR)
    grey.setAlpha(max(alpha * 3 // 4, 8))
    # The map runs from low values to high (its bright end the best): for a minimised
    # objective the worst values are the high ones.
    positions = np.linspace(0.0, 1.0, COLOR_STEPS)
    colors = value_colormap(maximize).map(
        positions if maximize else positions[::-1], mode=pg.ColorMap.QCOLOR
    )
    pens = [_pen(grey)]
    for color in colors:
        color.setAlpha(alpha)
        pens.append(_pen(color))
    return pens


def _pen(color: QColor) -> QPen:
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidthF(1.0)
    return pen


@dataclass(frozen=True)
class _Drawn:
    """What a bundle holds: built again when anything but the set of trials grew."""

    name: str
    buckets: int
    alpha: int
    maximize: bool
    members: dict[int, int]  # trial id -> colour group


class FaintCurves:
    """The finished trials' faint curves of one panel, kept in ``bundle``."""

    def __init__(self, bundle: CurveBundle) -> None:
        self.bundle = bundle
        self._drawn: _Drawn | None = None

    @property
    def buckets(self) -> int:
        """The detail of the curves drawn (0: none drawn)."""
        return 0 if self._drawn is None else self._drawn.buckets

    def members(self) -> set[int]:
        """The trials drawn."""
        return set() if self._drawn is None else set(self._drawn.members)

    def clear(self) -> None:
        if self._drawn is not None or self.bundle.groups:
            self.bundle.set_groups([])
            self._drawn = None

    def update(
        self,
        curves: dict[int, Curve],
        name: str,
        groups: dict[int, int],
        maximize: bool,
        buckets: int,
    ) -> None:
        """Draw the stored ``curves`` (by trial id) of the trials in ``groups`` (their colour
        groups): only the new ones where that is all that changed, else all again (other
        trials, colours, opacity or detail)."""
        members = {tid: g for tid, g in groups.items() if tid in curves}
        drawn = _Drawn(name, buckets, faint_alpha(len(groups)), maximize, members)
        before = self._drawn
        if before == drawn:
            return
        self._drawn = drawn
        if (
            before is not None
            and (before.name, before.buckets, before.alpha, before.maximize)
            == (drawn.name, drawn.buckets, drawn.alpha, drawn.maximize)
            and len(members) > len(before.members)
            and all(members.get(tid) == g for tid, g in before.members.items())
            and len(self.bundle.groups) == COLOR_STEPS + 1
        ):
            new = [tid for tid in members if tid not in before.members]
            for group in sorted({members[tid] for tid in new}):
                ids = [tid for tid in new if members[tid] == group]
                x, y, starts = polylines([curves[tid] for tid in ids], buckets)
                self.bundle.append(group, np.asarray(ids, dtype=np.int64), x, y, starts)
            return
        built = []
        for group, pen in enumerate(faint_pens(maximize, drawn.alpha)):
            ids = [tid for tid, g in members.items() if g == group]
            x, y, starts = polylines([curves[tid] for tid in ids], buckets)
            built.append(CurveGroup(pen, np.asarray(ids, dtype=np.int64), x, y, starts))
        self.bundle.set_groups(built)
