"""Loss curves: the meta-train loss and the validation metric of the selected trial (else of
every running trial, several at once in a parallel study), over faint curves of every other
trial coloured by objective value.

Built for studies of thousands of trials: the faint curves of the finished trials are one plot
item (:class:`CurveBundle`) drawn from their stored downsampled curves, merged to what the
plot's width can show; only the running trials and the bold ones (selected, running, best) are
full-resolution series and items of their own, drawn on top."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import QCheckBox, QLabel, QSpinBox, QWidget

from metagui.core.history import FINISHED_STATES, TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import make_colorbar, show_grid, style_plot, value_axes
from metagui.qt.views._bundle import CurveBundle
from metagui.qt.views._colors import (
    CATEGORY_COLORS,
    FOCUS_COLOR,
    STATE_COLORS,
    STATE_LABELS,
    set_colormap,
    value_colormap,
)
from metagui.qt.views._faint import FaintCurves, color_groups, curve_buckets
from metagui.qt.views._labels import metric_label, objective_label, sentence, validation_metric
from metagui.qt.views._plot_view import TrialPlotView
from metagui.qt.views._ranges import as_array, value_range
from metagui.qt.views._view_box import RobustViewBox

__all__ = ["LossPlot"]

TRAIN = "train/loss"
FILTER_STATES = ("COMPLETE", "PRUNED", "FAILED", "RUNNING")
BOLD_COLORS = (FOCUS_COLOR, QColor(40, 40, 40), CATEGORY_COLORS[6], CATEGORY_COLORS[3])
"""Several running trials drawn bold at once: one colour each (by trial number, so that a
trial keeps its colour while others end), away from the faint curves' colours (the running
trials' blue and the objective's viridis: purple, blue, teal, green, yellow), and from each
other most of all for neighbouring numbers, the usual pair in flight."""
LEGEND_MAX = 6  # bold curves named in the legend; more would hide the plot


class LossPlot(TrialPlotView):
    """Meta-train loss (left) and validation metric (right) against meta-training step.

    Every finished trial passing the filters (states, top-K by value) is a faint curve
    coloured by its objective value (one :class:`CurveBundle` per panel); running trials are
    curves of their own in the running colour; the focus trials are drawn bold on top: the
    selected one, else every running one that has logged a step (several in a parallel
    study), else the best. Clicking a curve selects its trial and emits
    ``trial_selected(trial id)``. The y axes fit the bulk of the curves shown
    (:class:`RobustViewBox`): a diverged trial leaves through the top instead of flattening
    the others, until the user zooms or pans."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self._layout: tuple[object, ...] | None = None
        self._colorbar_label = ""
        self._running: list[TrialRow] = []
        # panel -> running trial id -> its faint full-resolution curve
        self.running_curves: dict[str, dict[int, pg.PlotDataItem]] = {"train": {}, "val": {}}
        self._trial_of: dict[pg.PlotDataItem, int] = {}

        self.state_boxes: dict[str, QCheckBox] = {}
        self.controls.addWidget(QLabel("Show:"))
        for state in FILTER_STATES:
            box = QCheckBox(STATE_LABELS[state])
            box.setChecked(True)
            box.toggled.connect(self.invalidate)
            self.state_boxes[state] = box
            self.controls.addWidget(box)
        self.controls.addSpacing(12)
        self.controls.addWidget(QLabel("Best"))
        self.top_k_box = QSpinBox()
        self.top_k_box.setRange(0, 1_000_000)
        self.top_k_box.setSpecialValueText("all")
        self.top_k_box.setToolTip("Show only the K trials with the best objective value")
        self.top_k_box.valueChanged.connect(self.invalidate)
        self.controls.addWidget(self.top_k_box)
        self.controls.addWidget(QLabel("trials"))
        self.controls.addSpacing(12)
        self.log_y_box = QCheckBox("Log y")
        self.log_y_box.toggled.connect(self._on_log_y)
        self.controls.addWidget(self.log_y_box)
        self.controls.addStretch(1)

        # y auto range ignores diverged trials; zooming by hand holds until "A" (auto range).
        self.view_boxes = {"train": RobustViewBox(), "val": RobustViewBox()}
        self.plots: dict[str, pg.PlotItem] = {
            panel: self.graphics.addPlot(0, column, axisItems=value_axes(), viewBox=box)
            for column, (panel, box) in enumerate(self.view_boxes.items())
        }
        self.colorbar = make_colorbar("objective", self.palette())
        self.graphics.addItem(self.colorbar, 0, 2)
        # Two panels of one width, whatever their titles and legends say: a plot that
        # changes width draws its thousands of faint curves again.
        for column in (0, 1):
            self.graphics.ci.layout.setColumnStretchFactor(column, 1)
        self.bundles: dict[str, CurveBundle] = {}
        self.faint: dict[str, FaintCurves] = {}
        # panel -> the bold curves, one per focus trial; the first is ``focus_curves[panel]``
        self.bold_curves: dict[str, list[pg.PlotDataItem]] = {"train": [], "val": []}
        self._bold_color: dict[pg.PlotDataItem, int] = {}
        for panel, plot in self.plots.items():
            style_plot(plot, self.palette())
            plot.setLabel("bottom", "meta-training step")
            show_grid(plot, self.palette())
            plot.addLegend(offset=(-10, 10), labelTextColor=self.palette().text().color())
            bundle = CurveBundle()
            bundle.trial_clicked.connect(self._select)
            plot.addItem(bundle)
            self.bundles[panel] = bundle
            self.faint[panel] = FaintCurves(bundle)
        self.focus_curves: dict[str, pg.PlotDataItem] = {
            panel: self._bold_curve(panel, 0) for panel in self.plots
        }
        self.view_boxes["val"].share_x_range(self.view_boxes["train"])
        self.plots["train"].setTitle("Meta-train loss")
        self.plots["train"].setLabel("left", metric_label(TRAIN))

    # -- public ---------------------------------------------------------------------------------
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

    def visible_curves(self, panel: str = "train") -> set[int]:
        """The trials with a faint curve now drawn in ``panel`` ('train' or 'val'): the
        finished ones in the bundle and the running ones."""
        running = {tid for tid, c in self.running_curves[panel].items() if c.isVisible()}
        return set(self.bundles[panel].trial_ids()) | running

    # -- drawing --------------------------------------------------------------------------------
    def _study_changed(self) -> None:
        super()._study_changed()
        self._layout = None
        for panel, curves in self.running_curves.items():
            for curve in curves.values():
                self.plots[panel].removeItem(curve)
                self._trial_of.pop(curve, None)
            curves.clear()
            self.faint[panel].clear()

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            self._layout = None
            for panel in self.plots:
                self.faint[panel].clear()
                for curve in self.running_curves[panel].values():
                    curve.setVisible(False)
                for curve in self.bold_curves[panel]:
                    curve.setData([], [])
            return
        val_name = validation_metric(study)
        # What depends on the trials alone (not on the running trials' new steps): done again
        # only when they, the options or the plot's width changed.
        width = self.view_boxes["train"].width()
        layout = (id(study), study.trials_revision, self._options, val_name, width)
        if layout != self._layout:
            self._layout = layout
            val_plot = self.plots["val"]
            title = sentence(metric_label(val_name)) if val_name else "Validation"
            # Set again only when changed: each setting lays the plots out again.
            if val_plot.titleLabel.text != title:
                val_plot.setTitle(title)
            axis_label = metric_label(val_name) if val_name else "no evaluation yet"
            if val_plot.getAxis("left").labelText != axis_label:
                val_plot.setLabel("left", axis_label)
            shown = self.shown_trials()
            finished = [t for t in shown if t.state in FINISHED_STATES]
            self._running = [t for t in shown if t.state == "RUNNING"]
            span = value_range([t.value for t in shown])
            groups = color_groups(finished, span, study.maximize)
            set_colormap(self.colorbar, value_colormap(study.maximize))
            self.colorbar.setLevels(span or (0.0, 1.0))
            if self._colorbar_label != (label := objective_label(study)):
                self._colorbar_label = label
                self.colorbar.getAxis("left").setLabel(label)
            # Lay the plots out now (new labels change their widths), before the curves are
            # drawn into them: else the first paint draws thousands of faint curves at a
            # width that changes right after.
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            width = self.view_boxes["train"].width()
            buckets = curve_buckets(width, len(finished))
            for panel, name in (("train", TRAIN), ("val", val_name)):
                if name is None:
                    self.faint[panel].clear()
                else:
                    curves = study.finished_curves(name)
                    self.faint[panel].update(curves, name, groups, study.maximize, buckets)
        focus = self.focus_trials()
        focus_ids = {t.id for t in focus}
        running = [t for t in self._running if t.id not in focus_ids]
        for panel, name in (("train", TRAIN), ("val", val_name)):
            self._draw_running(study, panel, name, running)
            self._draw_focus(study, panel, name, focus)

    def _draw_running(
        self, study: StudyData, panel: str, name: str | None, running: list[TrialRow]
    ) -> None:
        """The running trials not drawn bold: full-resolution faint curves of their own."""
        curves = self.running_curves[panel]
        wanted = {t.id for t in running}
        for trial_id in [tid for tid in curves if tid not in wanted]:
            self.plots[panel].removeItem(curves[trial_id])
            self._trial_of.pop(curves.pop(trial_id), None)
        color = QColor(STATE_COLORS["RUNNING"])
        color.setAlpha(170)
        for trial in running:
            series = (study.metrics.get(trial.id) or {}).get(name) if name else None
            curve = curves.get(trial.id)
            if curve is None:
                curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1), connect="finite")
                curve.setZValue(5)
                curve.setCurveClickable(True, width=6)
                curve.sigClicked.connect(self._on_curve_clicked)
                self.plots[panel].addItem(curve)
                curves[trial.id] = curve
                self._trial_of[curve] = trial.id
            if series is None:
                curve.setVisible(False)
                continue
            curve.setData(as_array(series.steps), as_array(series.values))
            curve.setVisible(True)

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
        in_bundle = self.faint[panel].members()
        drawn = 0
        for trial in focus:
            series = (study.metrics.get(trial.id) or {}).get(name) if name else None
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
            if trial.id in in_bundle:
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
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        faint = self.faint["train"]
        width = self.view_boxes["train"].width()
        if faint.buckets and curve_buckets(width, len(faint.members())) != faint.buckets:
            self.invalidate()  # the faint curves' detail follows the plot's width

    def _on_log_y(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.setLogMode(x=False, y=on)

    def _on_curve_clicked(self, curve: pg.PlotDataItem, _event: object = None) -> None:
        trial_id = self._trial_of.get(curve)
        if trial_id is not None:
            self._select(trial_id)
