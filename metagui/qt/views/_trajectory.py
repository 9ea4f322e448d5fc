"""Hyperparameter trajectories: what the search sampled, trial by trial, and what the
meta-learner itself learns, step by step (e.g. Meta-SGD's or MAML++'s inner learning rates)."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QWidget

from metagui.core.history import TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import (
    make_colorbar,
    set_integer_axis,
    show_grid,
    style_plot,
    value_axes,
)
from metagui.qt.views._colors import (
    CATEGORY_COLORS,
    STATE_COLORS,
    STATE_LABELS,
    set_colormap,
    value_colormap,
    value_colors,
)
from metagui.qt.views._labels import objective_label
from metagui.qt.views._param_axis import ParamAxis, param_axis
from metagui.qt.views._plot_view import TrialPlotView
from metagui.qt.views._ranges import as_array, value_range
from metagui.qt.views._view_box import mark_lone_points

__all__ = ["TrajectoryPlot"]

_SYMBOLS = {"COMPLETE": "o", "PRUNED": "s", "FAILED": "x", "RUNNING": "t", "QUEUED": "d"}
SEEDED_COLOR = CATEGORY_COLORS[4]
"""The ring around a trial seeded from the experience pool (no state or value colour)."""
SEEDED_LABEL = "↺ seeded from the pool"


def learned_label(name: str, names: list[str]) -> str:
    """A learned series' name without the prefix every series shares (``inner_lr/``)."""
    prefix = name.split("/", 1)[0] + "/"
    if "/" in name and all(n.startswith(prefix) for n in names):
        return name[len(prefix) :]
    return name


class TrajectoryPlot(TrialPlotView):
    """Left: the chosen sampled hyperparameter against trial number, completed trials coloured
    by objective value (colour bar), the others marked by state; a log axis for log-scale
    parameters, labelled ticks for categorical ones; a ring marks the trials whose settings
    came from the experience pool (``seeded_from``). Right: the learned hyperparameters of the
    selected (else running, else best) trial against meta-training step, one curve per name.
    Clicking a point selects its trial and emits ``trial_selected(trial id)``."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self._points_trials: dict[pg.PlotDataItem, list[int]] = {}

        self.controls.addWidget(QLabel("Parameter:"))
        self.param_box = QComboBox()
        self.param_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.param_box.currentIndexChanged.connect(self.invalidate)
        self.controls.addWidget(self.param_box)
        self.controls.addStretch(1)
        self.learned_log_box = QCheckBox("Log y (learned)")
        self.learned_log_box.setChecked(True)
        self.learned_log_box.toggled.connect(self._on_log)
        self.controls.addWidget(self.learned_log_box)

        palette = self.palette()
        self.sampled_plot: pg.PlotItem = self.graphics.addPlot(0, 0, axisItems=value_axes())
        self.colorbar = make_colorbar("objective", palette)
        self.graphics.addItem(self.colorbar, 0, 1)
        # Plain auto range (log y by default) on purpose: these curves are one trial's own
        # learned rates, and a rate that runs away is what the user watches for, not noise.
        self.learned_plot: pg.PlotItem = self.graphics.addPlot(0, 2, axisItems=value_axes())
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(2, 3)
        for plot in (self.sampled_plot, self.learned_plot):
            style_plot(plot, palette)
            show_grid(plot, palette)
        self.sampled_plot.setLabel("bottom", "trial number")
        set_integer_axis(self.sampled_plot, "bottom", True)
        self.learned_plot.setLabel("bottom", "meta-training step")
        self.learned_plot.setLogMode(y=True)
        # Legends beside the plots, never over the data.
        text = palette.text().color()
        self.sampled_legend = pg.LegendItem(labelTextColor=text, colCount=4, verSpacing=-5)
        self.graphics.addItem(self.sampled_legend, 1, 0)
        self.learned_legend = pg.LegendItem(labelTextColor=text, colCount=3, verSpacing=-5)
        self.graphics.addItem(self.learned_legend, 1, 2)

        self.points: dict[str, pg.PlotDataItem] = {}
        for state in ("COMPLETE", "PRUNED", "FAILED", "RUNNING"):
            color = STATE_COLORS[state]
            item = pg.PlotDataItem(
                pen=None,
                symbol=_SYMBOLS[state],
                symbolSize=10 if state == "COMPLETE" else 9,
                symbolPen=pg.mkPen(palette.color(palette.ColorRole.Text), width=0.6)
                if state == "COMPLETE"
                else pg.mkPen(color, width=1.5),
                symbolBrush=pg.mkBrush(color) if state != "PRUNED" else pg.mkBrush(None),
            )
            item.sigPointsClicked.connect(self._on_points_clicked)
            self.sampled_plot.addItem(item)
            self.points[state] = item
            self._points_trials[item] = []
        # Over the state's own symbol, so a seeded trial keeps its value colour and state.
        self.seeded_points = pg.PlotDataItem(
            pen=None,
            symbol="o",
            symbolSize=17,
            symbolPen=pg.mkPen(SEEDED_COLOR, width=2),
            symbolBrush=pg.mkBrush(None),
        )
        self.seeded_points.sigPointsClicked.connect(self._on_points_clicked)
        self.sampled_plot.addItem(self.seeded_points)
        self._points_trials[self.seeded_points] = []
        self.learned_curves: dict[str, pg.PlotDataItem] = {}

    # -- public ---------------------------------------------------------------------------------
    def set_param(self, name: str) -> None:
        """Plot sampled parameter ``name``."""
        study = self.study()
        if study is not None:
            self._sync_param_box(study)
        index = self.param_box.findText(name)
        if index < 0:
            raise KeyError(name)
        self.param_box.setCurrentIndex(index)

    def param(self) -> str | None:
        return self.param_box.currentText() or None

    def learned_trial(self) -> TrialRow | None:
        study = self.study()
        if study is None:
            return None
        if self._selected is not None and self._selected in study.trials:
            return study.trials[self._selected]
        return study.running_trial() or study.best_trial()

    # -- drawing --------------------------------------------------------------------------------
    def _study_changed(self) -> None:
        super()._study_changed()
        self.param_box.blockSignals(True)
        self.param_box.clear()
        self.param_box.blockSignals(False)

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            for item in (*self.points.values(), self.seeded_points):
                item.setData([], [])
            self._draw_learned(None)
            return
        self._sync_param_box(study)
        self._draw_sampled(study, self.param())
        self._draw_learned(study)

    def _sync_param_box(self, study: StudyData) -> None:
        names = study.param_names()
        if [self.param_box.itemText(i) for i in range(self.param_box.count())] != names:
            current = self.param_box.currentText()
            self.param_box.blockSignals(True)
            self.param_box.clear()
            self.param_box.addItems(names)
            if current in names:
                self.param_box.setCurrentText(current)
            self.param_box.blockSignals(False)

    def _draw_sampled(self, study: StudyData, name: str | None) -> None:
        plot = self.sampled_plot
        trials = [t for t in study.ordered_trials() if name is not None and name in t.params]
        axis = param_axis(study, name) if name is not None else None
        plot.setTitle(f"Sampled {name}" if name else "Sampled parameters (none)")
        plot.setLabel("left", name or "")
        log = bool(axis and axis.log)
        plot.setLogMode(x=False, y=log)
        left = plot.getAxis("left")
        if axis is not None and axis.categorical:
            left.setTicks([[(float(i), str(c)) for i, c in enumerate(axis.choices)]])
        else:
            left.setTicks(None)
        set_integer_axis(plot, "left", bool(axis and axis.integer and not axis.categorical))
        completed = [t for t in trials if t.state == "COMPLETE"]
        span = value_range([t.value for t in completed])
        colors = value_colors([t.value for t in completed], study.maximize)
        self.sampled_legend.clear()
        for state, item in self.points.items():
            group = [t for t in trials if t.state == state]
            if group:
                self.sampled_legend.addItem(item, STATE_LABELS[state])
            xs = [float(t.number) for t in group]
            ys = [_y(axis, t.params[name]) for t in group] if axis and name else []
            if state == "COMPLETE":
                item.setData(xs, ys, symbolBrush=[pg.mkBrush(c) for c in colors])
            else:
                item.setData(xs, ys)
            self._points_trials[item] = [t.id for t in group]
        seeded = [t for t in trials if t.seeded_from and t.state in self.points]
        if seeded:
            self.sampled_legend.addItem(self.seeded_points, SEEDED_LABEL)
        self.seeded_points.setData(
            [float(t.number) for t in seeded],
            [_y(axis, t.params[name]) for t in seeded] if axis and name else [],
        )
        self._points_trials[self.seeded_points] = [t.id for t in seeded]
        set_colormap(self.colorbar, value_colormap(study.maximize))
        self.colorbar.setLevels(span or (0.0, 1.0))
        self.colorbar.getAxis("left").setLabel(objective_label(study))

    def _draw_learned(self, study: StudyData | None) -> None:
        plot = self.learned_plot
        trial = self.learned_trial()
        series = study.learned.get(trial.id, {}) if study and trial else {}
        names = sorted(series)
        for name in list(self.learned_curves):
            if name not in series:
                plot.removeItem(self.learned_curves.pop(name))
        self.learned_legend.clear()
        layers = sorted({_layer_and_step(n)[0] for n in names})
        for name in names:
            curve = self.learned_curves.get(name)
            if curve is None:
                # One colour per layer, one dash pattern per inner step (MAML++).
                layer, step = _layer_and_step(name)
                color = CATEGORY_COLORS[layers.index(layer) % len(CATEGORY_COLORS)]
                style = _STEP_STYLES[step % len(_STEP_STYLES)]
                pen = pg.mkPen(color, width=2, style=style)
                curve = pg.PlotDataItem(pen=pen, antialias=True)
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                plot.addItem(curve)
                self.learned_curves[name] = curve
            curve.setData(as_array(series[name].steps), as_array(series[name].values))
            mark_lone_points(curve)  # the first step alone is a point, not a line
            self.learned_legend.addItem(curve, learned_label(name, names))
        if trial is None:
            plot.setTitle("Learned hyperparameters (no trial yet)")
        elif not names:
            plot.setTitle(f"Trial {trial.number} learns no hyperparameters")
        else:
            plot.setTitle(f"Learned by trial {trial.number}")
        kind = names[0].split("/", 1)[0] if names else "value"
        plot.setLabel("left", kind.replace("_", " "))

    # -- events ---------------------------------------------------------------------------------
    def _on_log(self, on: bool) -> None:
        self.learned_plot.setLogMode(x=False, y=on)

    def _on_points_clicked(self, item: pg.PlotDataItem, points: Any, _event: object = None) -> None:
        ids = self._points_trials.get(item, [])
        if not len(points):
            return
        index = points[0].index()
        if 0 <= index < len(ids):
            self._select(ids[index])


_STEP_STYLES = (
    Qt.PenStyle.SolidLine,
    Qt.PenStyle.DashLine,
    Qt.PenStyle.DotLine,
    Qt.PenStyle.DashDotLine,
    Qt.PenStyle.DashDotDotLine,
)


def _layer_and_step(name: str) -> tuple[str, int]:
    """``inner_lr/body.0/step2`` -> (``inner_lr/body.0``, 2); no step part -> step 0."""
    head, _, tail = name.rpartition("/")
    if head and tail.startswith("step") and tail[4:].isdigit():
        return head, int(tail[4:])
    return name, 0


def _y(axis: ParamAxis, value: Any) -> float:
    """Where a value sits on the parameter's own y axis (its index for categorical ones)."""
    if axis.categorical:
        i = axis.index(value)
        return math.nan if i is None else float(i)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)
