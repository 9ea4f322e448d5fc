"""Loss curves: the meta-train loss and the validation metric of the selected trial (else of
every running trial, several at once in a parallel study), over faint curves of every other
trial coloured by objective value."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from metagui.core.history import TrialRow
from metagui.qt._history_model import HistoryModel, Series, StudyData
from metagui.qt.views._common import (
    CATEGORY_COLORS,
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
BOLD_COLORS = (FOCUS_COLOR, QColor(40, 40, 40), CATEGORY_COLORS[6], CATEGORY_COLORS[3])
"""Several running trials drawn bold at once: one colour each (by trial number, so that a
trial keeps its colour while others end), away from the faint curves' colours (the running
trials' blue and the objective's viridis: purple, blue, teal, green, yellow), and from each
other most of all for neighbouring numbers, the usual pair in flight."""
LEGEND_MAX = 6  # bold curves named in the legend; more would hide the plot


class LossPlot(LiveView):
    """Meta-train loss (left) and validation metric (right) against meta-training step.

    Every trial passing the filters (states, top-K by value) is a faint curve coloured by its
    objective value; the focus trials are drawn bold on top: the selected one, else every
    running one that has logged a step (several in a parallel study), else the best.
    Clicking a curve selects its trial and emits ``trial_selected(trial id)``. The y axes
    fit the bulk of the curves shown (:class:`RobustViewBox`): a diverged trial leaves
    through the top instead of flattening the others, until the user zooms or pans."""

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
        # panel -> the bold curves, one per focus trial; the first is ``focus_curves[panel]``
        self.bold_curves: dict[str, list[pg.PlotDataItem]] = {"train": [], "val": []}
        self._bold_color: dict[pg.PlotDataItem, int] = {}
        for plot in self.plots.values():
            style_plot(plot, self.palette())
            plot.setLabel("bottom", "meta-training step")
            show_grid(plot, self.palette())
            plot.addLegend(offset=(-10, 10), labelTextColor=self.palette().text().color())
        self.focus_curves: dict[str, pg.PlotDataItem] = {
            panel: self._bold_curve(panel, 0) for panel in self.plots
        }
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
        """Highlight trial ``trial_id`` (None: follow the running trials)."""
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

    def focus_trials(self) -> list[TrialRow]:
        """The trials drawn bold: the selected one, else every running one that has logged a
        step (in trial-number order), else the best (else the newest running one)."""
        study = self.study()
        if study is None:
            return []
        if self._selected is not None and self._selected in study.trials:
            return [study.trials[self._selected]]
        running = study.running_trials()
        stepped = [t for t in running if study.metrics.get(t.id)]
        if stepped:
            return stepped
        fallback = study.best_trial() or (running[-1] if running else None)
        return [fallback] if fallback is not None else []

    def focus_trial(self) -> TrialRow | None:
        """The first of :meth:`focus_trials` (the one trial of a serial run)."""
        focus = self.focus_trials()
        return focus[0] if focus else None

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
            for bold in self.bold_curves.values():
                for curve in bold:
                    curve.setData([], [])
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
        focus = self.focus_trials()
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

    def _bold_curve(self, panel: str, index: int) -> pg.PlotDataItem:
        """The ``index``-th bold curve of ``panel``, made when first needed."""
        bold = self.bold_curves[panel]
        while len(bold) <= index:
            curve = pg.PlotDataItem(
                pen=pg.mkPen(FOCUS_COLOR, width=2.5), antialias=True, connect="finite"
            )
            curve.setZValue(10)
            curve.setCurveClickable(True, width=8)
            curve.sigClicked.connect(self._on_curve_clicked)
            self.plots[panel].addItem(curve)
            self._bold_color[curve] = 0
            bold.append(curve)
        return bold[index]

    def _draw_focus(
        self, study: StudyData, panel: str, name: str | None, focus: list[TrialRow]
    ) -> None:
        legend = self.plots[panel].legend
        legend.clear()
        ignored: list[pg.PlotDataItem] = []
        drawn = 0
        for trial in focus:
            series: Series | None = None
            if name is not None:
                series = study.metrics.get(trial.id, {}).get(name)
            if series is None:
                continue
            curve = self._bold_curve(panel, drawn)
            # One bold trial is the focus colour; several get one colour each.
            color = 0 if len(focus) == 1 else trial.number % len(BOLD_COLORS)
            if self._bold_color[curve] != color:
                curve.setPen(pg.mkPen(BOLD_COLORS[color], width=2.5))
                self._bold_color[curve] = color
            curve.setData(as_array(series.steps), as_array(series.values))
            self._trial_of[curve] = trial.id
            # A bold curve repeats a faint curve's values: count them once for the y range.
            twin = self.curves[panel].get(trial.id)
            if twin is not None and twin.isVisible():
                ignored.append(curve)
            if drawn < LEGEND_MAX:
                legend.addItem(curve, f"trial {trial.number} ({self._why(trial)})")
            drawn += 1
        for curve in self.bold_curves[panel][drawn:]:
            curve.setData([], [])
        self.view_boxes[panel].set_ignored(ignored)

    def _why(self, trial: TrialRow) -> str:
        """Why a trial is drawn bold, for the legend."""
        if trial.id == self._selected:
            return "selected"
        return "best" if trial.state == "COMPLETE" else STATE_LABELS[trial.state]

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
