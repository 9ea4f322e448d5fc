"""Loss curves: the meta-train loss and the validation metric of the selected (or running)
trial, over faint curves of every other trial coloured by objective value."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from metagui.core.history import TrialRow
from metagui.qt._history_model import HistoryModel, Series, StudyData
from metagui.qt.views._common import (
    FOCUS_COLOR,
    NO_VALUE_COLOR,
    STATE_COLORS,
    STATE_LABELS,
    LiveView,
    RobustViewBox,
    as_array,
    make_colorbar,
    metric_label,
    objective_label,
    sentence,
    set_colormap,
    show_grid,
    style_plot,
    validation_metric,
    value_axes,
    value_colormap,
    value_colors,
    value_range,
)

__all__ = ["LossPlot"]

TRAIN = "train/loss"
FILTER_STATES = ("COMPLETE", "PRUNED", "FAILED", "RUNNING")


class LossPlot(LiveView):
    """Meta-train loss (left) and validation metric (right) against meta-training step.

    Every trial passing the filters (states, top-K by value) is a faint curve coloured by its
    objective value; the focus trial (selected, else the running one, else the best) is drawn
    bold on top. Clicking a curve selects its trial and emits ``trial_selected(trial id)``.
    The y axes fit the bulk of the curves shown (:class:`RobustViewBox`): a diverged trial
    leaves through the top instead of flattening the others, until the user zooms or pans."""

    trial_selected = Signal(int)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self._selected: int | None = None
        # panel -> trial id -> curve, and what each curve holds: (series name, points, pen)
        self.curves: dict[str, dict[int, pg.PlotDataItem]] = {"train": {}, "val": {}}
        self._curve_state: dict[tuple[str, int], tuple[str, int, tuple[int, ...]]] = {}
        self._trial_of: dict[pg.PlotDataItem, int] = {}

        self.state_boxes: dict[str, QCheckBox] = {}
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show:"))
        for state in FILTER_STATES:
            box = QCheckBox(STATE_LABELS[state])
            box.setChecked(True)
            box.toggled.connect(self.invalidate)
            self.state_boxes[state] = box
            controls.addWidget(box)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Best"))
        self.top_k_box = QSpinBox()
        self.top_k_box.setRange(0, 10_000)
        self.top_k_box.setSpecialValueText("all")
        self.top_k_box.setToolTip("Show only the K trials with the best objective value")
        self.top_k_box.valueChanged.connect(self.invalidate)
        controls.addWidget(self.top_k_box)
        controls.addWidget(QLabel("trials"))
        controls.addSpacing(12)
        self.log_y_box = QCheckBox("Log y")
        self.log_y_box.toggled.connect(self._on_log_y)
        controls.addWidget(self.log_y_box)
        controls.addStretch(1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(self.palette().ColorRole.Base))
        # y auto range ignores diverged trials; zooming by hand holds until "A" (auto range).
        self.view_boxes = {"train": RobustViewBox(), "val": RobustViewBox()}
        self.plots: dict[str, pg.PlotItem] = {
            panel: self.graphics.addPlot(0, column, axisItems=value_axes(), viewBox=box)
            for column, (panel, box) in enumerate(self.view_boxes.items())
        }
        self.colorbar = make_colorbar("objective", self.palette())
        self.graphics.addItem(self.colorbar, 0, 2)
        self.focus_curves: dict[str, pg.PlotDataItem] = {}
        for panel, plot in self.plots.items():
            style_plot(plot, self.palette())
            plot.setLabel("bottom", "meta-training step")
            show_grid(plot, self.palette())
            plot.addLegend(offset=(-10, 10), labelTextColor=self.palette().text().color())
            focus = pg.PlotDataItem(
                pen=pg.mkPen(FOCUS_COLOR, width=2.5), antialias=True, connect="finite"
            )
            focus.setZValue(10)
            focus.setCurveClickable(True, width=8)
            focus.sigClicked.connect(self._on_curve_clicked)
            plot.addItem(focus)
            self.focus_curves[panel] = focus
        self.view_boxes["val"].share_x_range(self.view_boxes["train"])
        self.plots["train"].setTitle("Meta-train loss")
        self.plots["train"].setLabel("left", metric_label(TRAIN))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)

    # -- public ---------------------------------------------------------------------------------
    def export_item(self) -> pg.GraphicsScene:
        return self.graphics.scene()

    def set_trial(self, trial_id: int | None) -> None:
        """Highlight trial ``trial_id`` (None: follow the running trial)."""
        if trial_id != self._selected:
            self._selected = trial_id
            self.invalidate()

    def selected_trial(self) -> int | None:
        return self._selected

    def set_top_k(self, k: int) -> None:
        """Show only the ``k`` trials with the best values (0: all)."""
        self.top_k_box.setValue(k)

    def set_states(self, states: set[str]) -> None:
        for state, box in self.state_boxes.items():
            box.setChecked(state in states)

    def set_log_y(self, on: bool) -> None:
        self.log_y_box.setChecked(on)

    def focus_trial(self) -> TrialRow | None:
        """The trial drawn bold: the selected one, else the running one once it has logged a
        step, else the best."""
        study = self.study()
        if study is None:
            return None
        if self._selected is not None and self._selected in study.trials:
            return study.trials[self._selected]
        running = study.running_trial()
        if running is not None and study.metrics.get(running.id):
            return running
        return study.best_trial() or running  # the running one once it has logged a step

    def shown_trials(self) -> list[TrialRow]:
        """The trials the filters let through, in trial-number order."""
        study = self.study()
        if study is None:
            return []
        states = {s for s, box in self.state_boxes.items() if box.isChecked()}
        shown = [t for t in study.ordered_trials() if t.state in states]
        k = self.top_k_box.value()
        if k > 0:
            with_value = [t for t in shown if t.value is not None and math.isfinite(t.value)]
            with_value.sort(key=lambda t: t.value or 0.0, reverse=study.maximize)
            keep = {t.id for t in with_value[:k]}
            shown = [t for t in shown if t.id in keep]
        return shown

    def visible_curves(self, panel: str = "train") -> dict[int, pg.PlotDataItem]:
        """The faint per-trial curves now visible in ``panel`` ('train' or 'val')."""
        return {tid: c for tid, c in self.curves[panel].items() if c.isVisible()}

    # -- drawing --------------------------------------------------------------------------------
    def _study_changed(self) -> None:
        self._selected = None
        for panel, curves in self.curves.items():
            for curve in curves.values():
                self.plots[panel].removeItem(curve)
            curves.clear()
        self._curve_state.clear()
        self._trial_of.clear()

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            for curves in self.curves.values():
                for curve in curves.values():
                    curve.setVisible(False)
            for focus in self.focus_curves.values():
                focus.setData([], [])
            return
        val_name = validation_metric(study)
        val_plot = self.plots["val"]
        val_plot.setTitle(sentence(metric_label(val_name)) if val_name else "Validation")
        val_plot.setLabel("left", metric_label(val_name) if val_name else "no evaluation yet")
        shown = self.shown_trials()
        colors = value_colors([t.value for t in shown], study.maximize, alpha=110)
        pens = {t.id: self._pen_key(t, c) for t, c in zip(shown, colors, strict=True)}
        span = value_range([t.value for t in shown])
        set_colormap(self.colorbar, value_colormap(study.maximize))
        self.colorbar.setLevels(span or (0.0, 1.0))
        self.colorbar.getAxis("left").setLabel(objective_label(study))
        focus = self.focus_trial()
        for panel, name in (("train", TRAIN), ("val", val_name)):
            self._draw_panel(study, panel, name, pens)
            self._draw_focus(study, panel, name, focus)

    def _pen_key(self, trial: TrialRow, color: QColor) -> tuple[int, ...]:
        if trial.state == "RUNNING":
            color = QColor(STATE_COLORS["RUNNING"])
            color.setAlpha(170)
        elif trial.state != "COMPLETE":
            color = QColor(NO_VALUE_COLOR)
            color.setAlpha(90)
        return (color.red(), color.green(), color.blue(), color.alpha())

    def _draw_panel(
        self, study: StudyData, panel: str, name: str | None, pens: dict[int, tuple[int, ...]]
    ) -> None:
        curves = self.curves[panel]
        for trial_id in study.trials:
            series = study.metrics.get(trial_id, {}).get(name) if name else None
            curve = curves.get(trial_id)
            if series is None or trial_id not in pens:
                if curve is not None:
                    curve.setVisible(False)
                continue
            if curve is None:
                curve = self._new_curve(panel, trial_id)
            assert name is not None
            drawn = self._curve_state.get((panel, trial_id))
            pen = pens[trial_id]
            if drawn is None or drawn[:2] != (name, len(series.steps)):
                curve.setData(as_array(series.steps), as_array(series.values))
            if drawn is None or drawn[2] != pen:
                curve.setPen(pg.mkPen(QColor(*pen), width=1))
            self._curve_state[(panel, trial_id)] = (name, len(series.steps), pen)
            curve.setVisible(True)

    def _new_curve(self, panel: str, trial_id: int) -> pg.PlotDataItem:
        curve = pg.PlotDataItem(connect="finite")
        # Long runs: draw only what is in view, at most a few points per pixel.
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        curve.setCurveClickable(True, width=6)
        curve.sigClicked.connect(self._on_curve_clicked)
        self.plots[panel].addItem(curve)
        self.curves[panel][trial_id] = curve
        self._trial_of[curve] = trial_id
        return curve

    def _draw_focus(
        self, study: StudyData, panel: str, name: str | None, focus: TrialRow | None
    ) -> None:
        curve = self.focus_curves[panel]
        legend = self.plots[panel].legend
        legend.clear()
        series: Series | None = None
        if focus is not None and name is not None:
            series = study.metrics.get(focus.id, {}).get(name)
        # The focus curve repeats a faint curve's values: count them once for the y range.
        twin = self.curves[panel].get(focus.id) if focus is not None else None
        self.view_boxes[panel].set_ignored([curve] if twin is not None and twin.isVisible() else [])
        if focus is None or series is None:
            curve.setData([], [])
            return
        curve.setData(as_array(series.steps), as_array(series.values))
        self._trial_of[curve] = focus.id
        why = "selected" if focus.id == self._selected else STATE_LABELS[focus.state]
        if focus.id != self._selected and focus.state == "COMPLETE":
            why = "best"
        legend.addItem(curve, f"trial {focus.number} ({why})")

    # -- events ---------------------------------------------------------------------------------
    def _on_log_y(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.setLogMode(x=False, y=on)

    def _on_curve_clicked(self, curve: pg.PlotDataItem, _event: object = None) -> None:
        trial_id = self._trial_of.get(curve)
        if trial_id is None:
            return
        self.set_trial(trial_id)
        self.trial_selected.emit(trial_id)
