"""Parallel coordinates: one vertical axis per sampled parameter and one for the objective,
one line per finished trial, coloured by its objective value."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from metagui.core.history import FINISHED_STATES, TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._common import (
    FOCUS_COLOR,
    NO_VALUE_COLOR,
    LiveView,
    ParamAxis,
    counted,
    make_colorbar,
    mark_lone_points,
    objective_label,
    param_axis,
    set_colormap,
    short_names,
    style_plot,
    value_colormap,
    value_colors,
    value_range,
)

__all__ = ["ParallelCoordinates"]


class ParallelCoordinates(LiveView):
    """Every finished trial as a polyline across the parameter axes and the objective axis.

    Each axis is normalised to [0, 1] (log-scaled for log parameters, evenly spaced choices
    for categorical ones) and labelled in the parameter's own units. Completed trials are
    coloured by value, the best on top; pruned and failed ones are grey, or hidden (toggle).
    A parameter a trial did not use (conditional) breaks its line there. Clicking a line
    selects its trial: ``trial_selected(trial id)``."""

    trial_selected = Signal(int)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        controls = QHBoxLayout()
        self.show_unfinished_box = QCheckBox("Show pruned and failed trials (grey)")
        self.show_unfinished_box.setChecked(True)
        self.show_unfinished_box.toggled.connect(self.invalidate)
        controls.addWidget(self.show_unfinished_box)
        controls.addStretch(1)

        palette = self.palette()
        self._text_color = palette.color(palette.ColorRole.Text)
        # Tick labels sit on the lines: a translucent backing keeps them legible.
        fill = palette.color(palette.ColorRole.Base)
        fill.setAlpha(210)
        self._label_fill = pg.mkBrush(fill)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(palette.color(palette.ColorRole.Base))
        self.plot: pg.PlotItem = self.graphics.addPlot(0, 0)
        self.colorbar = make_colorbar("objective", palette)
        self.graphics.addItem(self.colorbar, 0, 1)
        style_plot(self.plot, palette)
        self.plot.hideAxis("left")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)

        self.lines: dict[int, pg.PlotDataItem] = {}
        self._trial_of: dict[pg.PlotDataItem, int] = {}
        self.axes: list[ParamAxis] = []
        self._axis_items: list[pg.GraphicsObject] = []
        self._axis_key: object = None
        self._selected: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)

    def export_item(self) -> pg.GraphicsScene:
        return self.graphics.scene()

    def set_trial(self, trial_id: int | None) -> None:
        """Draw trial ``trial_id``'s line bold on top (None: none)."""
        if trial_id != self._selected:
            self._selected = trial_id
            self.invalidate()

    def visible_lines(self) -> dict[int, pg.PlotDataItem]:
        return {tid: line for tid, line in self.lines.items() if line.isVisible()}

    def _study_changed(self) -> None:
        self._selected = None
        for line in self.lines.values():
            self.plot.removeItem(line)
        self.lines.clear()
        self._trial_of.clear()

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            self._set_axes([], [])
            for line in self.lines.values():
                line.setVisible(False)
            return
        trials = self._trials(study)
        names = study.param_names()
        axes = [param_axis(study, name) for name in names]
        completed = [t for t in trials if t.state == "COMPLETE"]
        span = value_range([t.value for t in completed]) or (0.0, 1.0)
        objective = ParamAxis("objective", categorical=False, low=span[0], high=span[1])
        labels = short_names(names)
        self._set_axes([*axes, objective], [labels[n] for n in names] + ["objective"])
        set_colormap(self.colorbar, value_colormap(study.maximize))
        self.colorbar.setLevels(span)
        self.colorbar.getAxis("left").setLabel(objective_label(study))
        self.plot.setTitle(f"Parallel coordinates: {counted(len(trials), 'finished trial')}")

        colors = dict(
            zip(
                (t.id for t in completed),
                value_colors([t.value for t in completed], study.maximize, alpha=200),
                strict=True,
            )
        )
        show_unfinished = self.show_unfinished_box.isChecked()
        xs = list(range(len(self.axes)))
        for trial in trials:
            line = self.lines.get(trial.id) or self._new_line(trial.id)
            if trial.state != "COMPLETE" and not show_unfinished:
                line.setVisible(False)
                continue
            ys = [axis.position(trial.params.get(axis.name)) for axis in axes]
            # The objective axis spans the values' robust range: a diverged value sits at its end.
            position = objective.position(trial.value) if trial.state == "COMPLETE" else math.nan
            ys.append(min(max(position, 0.0), 1.0) if math.isfinite(position) else math.nan)
            line.setData(xs, ys)
            mark_lone_points(line, size=6)  # a value between two unused parameters
            if trial.id in colors and not trial.excluded:
                goodness = ys[-1]
                goodness = goodness if study.maximize else 1.0 - goodness
                line.setPen(pg.mkPen(colors[trial.id], width=1.6))
                line.setZValue(1.0 + (goodness if math.isfinite(goodness) else 0.0))
            else:
                grey = QColor(NO_VALUE_COLOR)
                grey.setAlpha(110)
                line.setPen(pg.mkPen(grey, width=1, style=Qt.PenStyle.DashLine))
                line.setZValue(0.0)
            if trial.id == self._selected:
                line.setPen(pg.mkPen(FOCUS_COLOR, width=3.5))
                line.setZValue(10.0)
            line.setVisible(True)
        keep = {t.id for t in trials}
        for trial_id, line in self.lines.items():
            if trial_id not in keep:
                line.setVisible(False)

    @staticmethod
    def _trials(study: StudyData) -> list[TrialRow]:
        return [t for t in study.ordered_trials() if t.state in FINISHED_STATES]

    def _new_line(self, trial_id: int) -> pg.PlotDataItem:
        line = pg.PlotDataItem(connect="finite", antialias=True)
        line.setCurveClickable(True, width=6)
        line.sigClicked.connect(self._on_line_clicked)
        self.plot.addItem(line)
        self.lines[trial_id] = line
        self._trial_of[line] = trial_id
        return line

    def _set_axes(self, axes: list[ParamAxis], labels: list[str]) -> None:
        """(Re)draw the vertical axes and their tick labels when they changed."""
        self.axes = axes
        key = tuple((label, tuple(a.ticks())) for a, label in zip(axes, labels, strict=True))
        if key == self._axis_key:
            return
        self._axis_key = key
        for item in self._axis_items:
            self.plot.removeItem(item)
        self._axis_items = []
        pen = pg.mkPen(self._text_color, width=1)
        for i, axis in enumerate(axes):
            rule = pg.PlotDataItem([i, i], [0.0, 1.0], pen=pen)
            rule.setZValue(-1)
            self._add_axis_item(rule)
            for pos, text in axis.ticks():
                label = pg.TextItem(
                    text, color=self._text_color, anchor=(0.0, 0.5), fill=self._label_fill
                )
                label.setPos(i, pos)
                label.setZValue(20)
                self._add_axis_item(label)
                tick = pg.PlotDataItem([i - 0.03, i], [pos, pos], pen=pen)
                self._add_axis_item(tick)
        self.plot.getAxis("bottom").setTicks([list(enumerate(labels))])
        self.plot.setXRange(-0.15, max(len(axes) - 1, 0) + 0.45, padding=0)
        self.plot.setYRange(-0.04, 1.04, padding=0)

    def _add_axis_item(self, item: pg.GraphicsObject) -> None:
        self.plot.addItem(item)
        self._axis_items.append(item)

    def _on_line_clicked(self, line: pg.PlotDataItem, _event: object = None) -> None:
        trial_id = self._trial_of.get(line)
        if trial_id is not None:
            self.set_trial(trial_id)
            self.trial_selected.emit(trial_id)
