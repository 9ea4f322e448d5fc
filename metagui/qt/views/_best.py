"""Best-so-far: the best objective value after each trial, by trial number or by wall time,
over every trial's own value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from metagui.core.history import TrialRow
from metagui.core.objectives import objective_label as name_label
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import set_integer_axis, show_grid, style_plot, value_axes
from metagui.qt.views._colors import FOCUS_COLOR, NO_VALUE_COLOR, STATE_COLORS, value_colors
from metagui.qt.views._labels import last_validation, objective_label
from metagui.qt.views._live_view import LiveView
from metagui.qt.views._pareto_info import axis_label
from metagui.qt.views._view_box import RobustViewBox

__all__ = ["BestSoFarPlot", "BestSoFarView", "best_so_far_curve", "time_axis_unit"]

X_AXES = ("trial number", "wall time")


def time_axis_unit(seconds: float) -> tuple[float, str]:
    """A readable unit for elapsed times up to ``seconds``: (seconds per unit, name)."""
    if seconds < 120:
        return 1.0, "s"
    if seconds < 2 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def best_so_far_curve(
    points: Sequence[tuple[float, float]], maximize: bool, until: float | None = None
) -> tuple[list[float], list[float]]:
    """A step line through the running best of ``(x, value)`` points taken in x order, held
    flat until ``until`` (the last x by default)."""
    xs: list[float] = []
    ys: list[float] = []
    best: float | None = None
    for x, value in sorted(points):
        if best is not None and not (value > best if maximize else value < best):
            continue
        if best is not None:
            xs.append(x)
            ys.append(best)
        best = value
        xs.append(x)
        ys.append(value)
    if best is not None:
        end = max(until if until is not None else xs[-1], xs[-1])
        xs.append(end)
        ys.append(best)
    return xs, ys


def elapsed_points(study: StudyData, trials: Sequence[TrialRow]) -> list[tuple[float, float]]:
    """``(seconds since the study began, value)`` of finished trials with a value."""
    start = study.summary.created
    return [
        (t.finished - start, t.value)
        for t in trials
        if t.finished is not None and t.value is not None and math.isfinite(t.value)
    ]


class BestSoFarView(LiveView):
    """What the best-so-far plot and the comparison of studies share: an x axis chooser
    (trial number or wall time) over one plot whose y axis fits the bulk of the values
    (:class:`RobustViewBox`: a diverged value is left out of view; zooming by hand holds until
    "A"), with a grid and a legend."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("x axis:"))
        self.x_axis_box = QComboBox()
        self.x_axis_box.addItems(X_AXES)
        self.x_axis_box.currentIndexChanged.connect(self.invalidate)
        controls.addWidget(self.x_axis_box)
        controls.addStretch(1)

        palette = self.palette()
        self.view_box = RobustViewBox()
        self.plot_widget = pg.PlotWidget(
            background=palette.color(palette.ColorRole.Base),
            axisItems=value_axes(),
            viewBox=self.view_box,
        )
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        style_plot(self.plot, palette)
        show_grid(self.plot, palette)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor=palette.text().color())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)

    def export_item(self) -> pg.PlotItem:
        return self.plot

    def set_x_axis(self, which: str) -> None:
        """``'trial number'`` or ``'wall time'``."""
        if which not in X_AXES:
            raise ValueError(f"x axis must be one of {X_AXES}, not {which!r}")
        self.x_axis_box.setCurrentText(which)

    def by_time(self) -> bool:
        """Whether the x axis is wall time (else trial number)."""
        return self.x_axis_box.currentText() == "wall time"


class BestSoFarPlot(BestSoFarView):
    """The best objective value so far (the trials that count: complete, not excluded) as a
    step line, over every trial's value as a point (excluded trials hollow), against trial
    number or wall time since the study began (``x_axis`` combo). The y axis fits the bulk of
    the points (:class:`RobustViewBox`): a diverged trial's value is left out of view. For a
    two-objective study, the first objective's (the title says so; the Pareto-front view
    shows both)."""

    trial_selected = Signal(int)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        palette = self.palette()
        self.points = pg.PlotDataItem(
            pen=None,
            symbol="o",
            symbolSize=8,
            symbolPen=pg.mkPen(palette.color(palette.ColorRole.Text), width=0.5),
        )
        self.points.sigPointsClicked.connect(self._on_points_clicked)
        self.pruned_points = pg.PlotDataItem(
            pen=None,
            symbol="s",
            symbolSize=7,
            symbolPen=pg.mkPen(STATE_COLORS["PRUNED"], width=1.5),
            symbolBrush=None,
        )
        self.curve = pg.PlotDataItem(pen=pg.mkPen(FOCUS_COLOR, width=2.5))
        self.curve.setZValue(5)
        self.selected_marker = pg.PlotDataItem(
            pen=None,
            symbol="o",
            symbolSize=16,
            symbolBrush=None,
            symbolPen=pg.mkPen(FOCUS_COLOR, width=2.5),
        )
        self.selected_marker.setZValue(6)
        for item in (self.points, self.pruned_points, self.curve, self.selected_marker):
            self.plot.addItem(item)
        # Line and ring go through the points: the points alone set the y range.
        self.view_box.set_ignored([self.curve, self.selected_marker])
        self._point_trials: list[int] = []
        self._selected: int | None = None

    def set_trial(self, trial_id: int | None) -> None:
        """Ring trial ``trial_id``'s point (None: no ring)."""
        if trial_id != self._selected:
            self._selected = trial_id
            self.invalidate()

    def _study_changed(self) -> None:
        self._selected = None

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            for item in (self.points, self.pruned_points, self.curve, self.selected_marker):
                item.setData([], [])
            self.plot.setTitle("Best so far")
            return
        by_time = self.by_time()
        complete = [
            t
            for t in study.ordered_trials()
            if t.state == "COMPLETE" and t.value is not None and math.isfinite(t.value)
        ]
        # A pruned trial has no value: show the validation value it was pruned on.
        pruned_values = {
            t.id: v
            for t in study.ordered_trials()
            if t.state == "PRUNED" and (v := last_validation(study, t.id)) is not None
        }
        pruned = [study.trials[i] for i in pruned_values]
        valued = complete + pruned
        counted = [t for t in complete if not t.excluded]
        if by_time:
            last = max((t.finished or 0.0 for t in study.trials.values()), default=0.0)
            scale, unit = time_axis_unit(max(last - study.summary.created, 0.0))
            x_of = {t.id: (t.finished or 0.0) - study.summary.created for t in valued}
            until = max(x_of.values(), default=0.0)
            self.plot.setLabel("bottom", f"wall time since the study began ({unit})")
            set_integer_axis(self.plot, "bottom", False)
        else:
            scale = 1.0
            x_of = {t.id: float(t.number) for t in valued}
            until = float(max((t.number for t in study.trials.values()), default=0))
            self.plot.setLabel("bottom", "trial number")
            set_integer_axis(self.plot, "bottom", True)
        xs, ys = best_so_far_curve(
            [(x_of[t.id], t.value or 0.0) for t in counted], study.maximize, until
        )
        self.curve.setData([x / scale for x in xs], ys)
        colors = value_colors([t.value for t in complete], study.maximize)
        # One brush object per colour: pyqtgraph draws a symbol once per brush object, and
        # value_colors gives few colours (10,000 trials: 64 symbols drawn, not 10,000).
        brush_of: dict[int, QBrush] = {}
        brushes = []
        for t, c in zip(complete, colors, strict=True):
            color = NO_VALUE_COLOR if t.excluded else c
            brush = brush_of.get(color.rgba())
            if brush is None:
                brush = brush_of[color.rgba()] = pg.mkBrush(color)
            brushes.append(brush)
        self.points.setData(
            [x_of[t.id] / scale for t in complete],
            [t.value for t in complete],
            symbolBrush=brushes,
        )
        self._point_trials = [t.id for t in complete]
        self.pruned_points.setData(
            [x_of[t.id] / scale for t in pruned], [pruned_values[t.id] for t in pruned]
        )
        self.legend.clear()
        for item, label in (
            (self.points, "trial value (grey: excluded)"),
            (self.pruned_points, "pruned (last validation value)"),
            (self.curve, "best so far"),
        ):
            if item.xData is not None and len(item.xData):
                self.legend.addItem(item, label)
        values = {t.id: t.value for t in complete} | pruned_values
        chosen = self._selected if self._selected in values else None
        if chosen is None:
            self.selected_marker.setData([], [])
        else:
            self.selected_marker.setData([x_of[chosen] / scale], [values[chosen]])
        best = study.best_trial()
        title = "Best so far"
        if study.multi_objective:
            # Two objectives have no best: this is the first's (the Pareto tab has both).
            first = study.objectives[0]
            self.plot.setLabel("left", axis_label(first))
            title = f"Best {name_label(first.name)} so far (objective 1 of 2)"
        else:
            self.plot.setLabel("left", objective_label(study))
        if best is not None and best.value is not None:
            title += f": {best.value:.4g} (trial {best.number})"
        self.plot.setTitle(title)

    def _on_points_clicked(self, _item: object, points: Any, _event: object = None) -> None:
        if points is None or len(points) == 0:
            return
        index = points[0].index()
        if 0 <= index < len(self._point_trials):
            self.set_trial(self._point_trials[index])
            self.trial_selected.emit(self._point_trials[index])
