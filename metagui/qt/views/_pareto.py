"""The Pareto front of a two-objective study: every completed trial as a point (first objective
across, second up), coloured by trial number, the front's trials outlined and joined by the step
line that bounds what they dominate."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QWidget

from metagui.core.objectives import objective_label, objectives_text
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import make_colorbar, show_grid, style_plot, value_axes
from metagui.qt.views._colors import (
    CATEGORY_COLORS,
    FOCUS_COLOR,
    NO_VALUE_COLOR,
    colors_at,
    set_colormap,
    value_colormap,
)
from metagui.qt.views._labels import counted
from metagui.qt.views._pareto_info import ParetoInfo, ParetoPoint, pareto_info
from metagui.qt.views._plot_view import TrialPlotView
from metagui.qt.views._view_box import RobustViewBox

__all__ = ["FRONT_COLOR", "LOG_SPAN", "ParetoPlot"]

FRONT_COLOR = QColor(CATEGORY_COLORS[3])
"""The front's outlines and step line: a red that no trial-number colour is."""
LOG_SPAN = 100.0
"""A second objective whose values span more than this factor (model sizes often do) is shown
on a log axis at first."""


class ParetoViewBox(RobustViewBox):
    """A :class:`RobustViewBox` whose automatic x range ignores outliers too: a diverged trial's
    error is as far off across as a huge model is up."""

    def childrenBounds(
        self, frac: Any = None, orthoRange: Any = (None, None), items: Any = None
    ) -> list[Any]:
        bounds: list[Any] = super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
        if self._auto_ranging and items is None:
            x = self.robust_range_of(0)
            if x is not None:
                bounds[0] = list(x)
        return bounds


class ParetoPlot(TrialPlotView):
    """The trials of a two-objective study in the plane of its objectives (see
    :func:`~._pareto_info.pareto_info`): completed trials as points coloured by trial number
    (late trials bright), excluded ones hollow grey, the trials of the front larger and
    outlined, joined by the step line that bounds the region they dominate; the selected trial
    ringed. Hovering over a point names its trial and values; clicking one selects it
    (``trial_selected``). The second objective may be shown on a log axis (at first when its
    values span more than :data:`LOG_SPAN`). A study of one objective draws nothing and says
    so."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.log_y_box = QCheckBox("Log scale up the side")
        self.log_y_box.setToolTip("Show the second objective on a log axis")
        self.log_y_box.toggled.connect(self._on_log)
        self.controls.addWidget(self.log_y_box)
        self.controls.addStretch(1)
        self._log_chosen = False  # by the user, or at the first draw of the study

        palette = self.palette()
        text = palette.color(palette.ColorRole.Text)
        self.view_box = ParetoViewBox()
        self.plot: pg.PlotItem = self.graphics.addPlot(
            0, 0, viewBox=self.view_box, axisItems=value_axes()
        )
        style_plot(self.plot, palette)
        show_grid(self.plot, palette)
        self.colorbar = make_colorbar("trial number", palette)
        set_colormap(self.colorbar, value_colormap(True))
        self.graphics.addItem(self.colorbar, 0, 1)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor=text)

        self.points = self._scatter(8, pg.mkPen(text, width=0.5))
        self.excluded_points = self._scatter(8, pg.mkPen(NO_VALUE_COLOR, width=1.5))
        self.front_points = self._scatter(13, pg.mkPen(FRONT_COLOR, width=2.5))
        self.front_points.setZValue(4)
        self.front_line = pg.PlotDataItem(pen=pg.mkPen(FRONT_COLOR, width=1.8))
        self.front_line.setZValue(2)
        self.selected_marker = pg.PlotDataItem(
            pen=None,
            symbol="o",
            symbolSize=22,
            symbolBrush=None,
            symbolPen=pg.mkPen(FOCUS_COLOR, width=3),
        )
        self.selected_marker.setZValue(6)
        for item in (
            self.front_line,
            self.points,
            self.excluded_points,
            self.front_points,
            self.selected_marker,
        ):
            self.plot.addItem(item)
        # The line and the ring go through points: the points alone set the range.
        self.view_box.set_ignored([self.front_line, self.selected_marker])
        self.info: ParetoInfo | None = None
        self._trials_of: dict[pg.PlotDataItem, list[int]] = {}
        self._tips: dict[int, str] = {}

    def _scatter(self, size: float, pen: Any) -> pg.PlotDataItem:
        item = pg.PlotDataItem(pen=None, symbol="o", symbolSize=size, symbolPen=pen)
        item.scatter.setData(hoverable=True, tip=self._tip)
        item.sigPointsClicked.connect(self._on_points_clicked)
        return item

    # -- what is drawn (tests read these) ------------------------------------------------------
    def front_trial_ids(self) -> list[int]:
        """The trials drawn as the front, in trial-number order."""
        return sorted(self._trials_of.get(self.front_points, []))

    def point_trial_ids(self) -> list[int]:
        """Every trial drawn as a point, in trial-number order."""
        return sorted(tid for ids in self._trials_of.values() for tid in ids)

    def point_of(self, trial_id: int) -> tuple[float, float] | None:
        """Where trial ``trial_id``'s point is, in the objectives' values."""
        found = [p for p in (self.info.points if self.info else ()) if p.trial_id == trial_id]
        return (found[0].x, found[0].y) if found else None

    # -- drawing -------------------------------------------------------------------------------
    def _study_changed(self) -> None:
        super()._study_changed()
        self._log_chosen = False

    def _on_log(self, log: bool) -> None:
        self._log_chosen = True
        self.plot.setLogMode(x=False, y=log)
        self.view_box.enableAutoRange()
        self.invalidate()

    def _draw(self, study: StudyData | None) -> None:
        if study is None or not study.multi_objective or len(study.objectives) != 2:
            self.info = None
            for item in self._trials_of:
                item.setData([], [])
            for item in (self.front_line, self.selected_marker):
                item.setData([], [])
            self._trials_of = {}
            self.legend.clear()
            self.plot.setTitle(
                "Pareto front: this study has one objective" if study is not None else ""
            )
            return
        info = self.info = pareto_info(study.ordered_trials(), study.objectives)
        objectives = study.objectives
        if not self._log_chosen:
            self._choose_log([p.y for p in info.points])
        self.plot.setLabel("bottom", info.x_label)
        self.plot.setLabel("left", info.y_label)
        self.log_y_box.setText(f"Log scale for {objective_label(objectives[1].name)}")
        # The legend in the corner of the worst of both, which the front leaves empty.
        self.legend.setOffset(
            (
                10 if objectives[0].direction == "maximize" else -10,
                10 if objectives[1].direction == "minimize" else -10,
            )
        )
        low, high = info.numbers
        self.colorbar.setLevels((low, max(high, low + 1)))
        self._tips = {
            p.trial_id: f"trial {p.number}{' (excluded)' if p.excluded else ''}"
            f"{' · on the front' if p.on_front else ''}\n"
            + objectives_text(objectives, (p.x, p.y)).replace(", ", "\n")
            for p in info.points
        }

        counted_points = [p for p in info.points if not p.excluded]
        self._set_points(self.points, [p for p in counted_points if not p.on_front], info)
        self._set_points(self.front_points, list(info.front), info)
        self._set_points(
            self.excluded_points, [p for p in info.points if p.excluded], info, hollow=True
        )
        self.front_line.setData(list(info.step_xs), list(info.step_ys))

        chosen = self.point_of(self._selected) if self._selected is not None else None
        if chosen is None:
            self.selected_marker.setData([], [])
        else:
            self.selected_marker.setData([chosen[0]], [chosen[1]])

        self.legend.clear()
        for item, label in (
            (self.points, "trial (colour: its number)"),
            (self.front_points, "on the Pareto front"),
            (self.excluded_points, "excluded"),
        ):
            if item.xData is not None and len(item.xData):
                self.legend.addItem(item, label)
        left_out = info.completed - len(info.points)
        title = (
            f"Pareto front: {counted(len(info.front), 'trial')} of "
            f"{counted(len(info.points), 'completed trial')}"
        )
        if left_out:
            title += f" ({left_out} without both values not shown)"
        self.plot.setTitle(title)

    def _choose_log(self, ys: list[float]) -> None:
        """A log axis up when the second objective spans orders of magnitude (model sizes)."""
        positive = [y for y in ys if y > 0 and math.isfinite(y)]
        if len(positive) < 2 or len(positive) < len(ys):
            return
        self._log_chosen = True
        log = max(positive) / min(positive) > LOG_SPAN
        if log != self.log_y_box.isChecked():
            self.log_y_box.blockSignals(True)
            self.log_y_box.setChecked(log)
            self.log_y_box.blockSignals(False)
            self.plot.setLogMode(x=False, y=log)

    def _set_points(
        self,
        item: pg.PlotDataItem,
        points: list[ParetoPoint],
        info: ParetoInfo,
        hollow: bool = False,
    ) -> None:
        """Draw ``points`` with ``item``, each filled with the colour of its trial number
        (``hollow``: none) and carrying its trial id (the tooltip's)."""
        ids = [p.trial_id for p in points]
        self._trials_of[item] = ids
        xs, ys = [p.x for p in points], [p.y for p in points]
        if hollow:
            item.setData(xs, ys, data=ids, symbolBrush=None)
            return
        low, high = info.numbers
        span = max(high - low, 1)
        colors = colors_at([(p.number - low) / span for p in points], maximize=True)
        # One brush per colour: pyqtgraph draws a symbol once per brush object.
        brush_of: dict[int, QBrush] = {}
        brushes = []
        for color in colors:
            brush = brush_of.get(color.rgba())
            if brush is None:
                brush = brush_of[color.rgba()] = pg.mkBrush(color)
            brushes.append(brush)
        item.setData(xs, ys, data=ids, symbolBrush=brushes or None)

    def _tip(self, x: float, y: float, data: Any) -> str:
        return self._tips.get(int(data), "") if data is not None else ""

    def _on_points_clicked(self, item: pg.PlotDataItem, points: Any, _event: object = None) -> None:
        if points is None or len(points) == 0:
            return
        ids = self._trials_of.get(item, [])
        index = points[0].index()
        if 0 <= index < len(ids):
            self._select(ids[index])
