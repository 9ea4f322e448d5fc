"""Parallel coordinates: one vertical axis per sampled parameter and one for the objective,
one line per finished trial, coloured by its objective value."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import make_colorbar, style_plot
from metagui.qt.views._colors import (
    FOCUS_COLOR,
    NO_VALUE_COLOR,
    colors_at,
    set_colormap,
    value_colormap,
)
from metagui.qt.views._labels import counted, objective_label
from metagui.qt.views._parallel_info import ParallelAxis, parallel_coordinate_info
from metagui.qt.views._plot_view import TrialPlotView
from metagui.qt.views._view_box import mark_lone_points

__all__ = ["ParallelCoordinates"]


class ParallelCoordinates(TrialPlotView):
    """Every finished trial as a polyline across the parameter axes and the objective axis.

    Each axis is normalised to [0, 1] (log-scaled for log parameters, evenly spaced choices
    for categorical ones) and labelled in the parameter's own units. Completed trials are
    coloured by value, the best on top; pruned and failed ones are grey, or hidden (toggle).
    A parameter a trial did not use (conditional) breaks its line there. Clicking a line
    selects its trial: ``trial_selected(trial id)``."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.show_unfinished_box = QCheckBox("Show pruned and failed trials (grey)")
        self.show_unfinished_box.setChecked(True)
        self.show_unfinished_box.toggled.connect(self.invalidate)
        self.controls.addWidget(self.show_unfinished_box)
        self.controls.addStretch(1)

        palette = self.palette()
        self._text_color = palette.color(palette.ColorRole.Text)
        # Tick labels sit on the lines: a translucent backing keeps them legible.
        fill = palette.color(palette.ColorRole.Base)
        fill.setAlpha(210)
        self._label_fill = pg.mkBrush(fill)
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
        self.axes: list[ParallelAxis] = []
        self._axis_items: list[pg.GraphicsObject] = []
        self._axis_key: object = None

    def visible_lines(self) -> dict[int, pg.PlotDataItem]:
        return {tid: line for tid, line in self.lines.items() if line.isVisible()}

    def _study_changed(self) -> None:
        super()._study_changed()
        for line in self.lines.values():
            self.plot.removeItem(line)
        self.lines.clear()
        self._trial_of.clear()

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            self._set_axes(())
            for line in self.lines.values():
                line.setVisible(False)
            return
        info = parallel_coordinate_info(
            study.ordered_trials(),
            study.param_names(),
            study.search_params(),
            study.maximize,
            show_unfinished=self.show_unfinished_box.isChecked(),
        )
        self._set_axes(info.axes)
        set_colormap(self.colorbar, value_colormap(info.maximize))
        self.colorbar.setLevels(info.objective_range)
        self.colorbar.getAxis("left").setLabel(objective_label(study))
        self.plot.setTitle(f"Parallel coordinates: {counted(info.finished, 'finished trial')}")

        colors = colors_at([line.color for line in info.lines], info.maximize, alpha=200)
        grey = QColor(NO_VALUE_COLOR)
        grey.setAlpha(110)
        xs = list(range(len(info.axes)))
        drawn = set()
        for drawing, color in zip(info.lines, colors, strict=True):
            line = self.lines.get(drawing.trial_id) or self._new_line(drawing.trial_id)
            line.setData(xs, drawing.ys)
            mark_lone_points(line, size=6)  # a value between two unused parameters
            if drawing.trial_id == self._selected:
                line.setPen(pg.mkPen(FOCUS_COLOR, width=3.5))
                line.setZValue(10.0)
            elif drawing.grey:
                line.setPen(pg.mkPen(grey, width=1, style=Qt.PenStyle.DashLine))
                line.setZValue(0.0)
            else:
                line.setPen(pg.mkPen(color, width=1.6))
                line.setZValue(1.0 + drawing.goodness)
            line.setVisible(True)
            drawn.add(drawing.trial_id)
        for trial_id, line in self.lines.items():
            if trial_id not in drawn:
                line.setVisible(False)

    def _new_line(self, trial_id: int) -> pg.PlotDataItem:
        line = pg.PlotDataItem(connect="finite", antialias=True)
        line.setCurveClickable(True, width=6)
        line.sigClicked.connect(self._on_line_clicked)
        self.plot.addItem(line)
        self.lines[trial_id] = line
        self._trial_of[line] = trial_id
        return line

    def _set_axes(self, axes: Sequence[ParallelAxis]) -> None:
        """(Re)draw the vertical axes and their tick labels when they changed."""
        self.axes = list(axes)
        key = tuple((a.label, a.ticks) for a in axes)
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
            for pos, text in axis.ticks:
                label = pg.TextItem(
                    text, color=self._text_color, anchor=(0.0, 0.5), fill=self._label_fill
                )
                label.setPos(i, pos)
                label.setZValue(20)
                self._add_axis_item(label)
                tick = pg.PlotDataItem([i - 0.03, i], [pos, pos], pen=pen)
                self._add_axis_item(tick)
        self.plot.getAxis("bottom").setTicks([[(i, a.label) for i, a in enumerate(axes)]])
        self.plot.setXRange(-0.15, max(len(axes) - 1, 0) + 0.45, padding=0)
        self.plot.setYRange(-0.04, 1.04, padding=0)

    def _add_axis_item(self, item: pg.GraphicsObject) -> None:
        self.plot.addItem(item)
        self._axis_items.append(item)

    def _on_line_clicked(self, line: pg.PlotDataItem, _event: object = None) -> None:
        trial_id = self._trial_of.get(line)
        if trial_id is not None:
            self._select(trial_id)
