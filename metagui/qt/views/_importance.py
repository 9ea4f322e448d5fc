"""Parameter importance from Optuna's evaluator (PED-ANOVA, chosen in
:func:`importance_evaluator` and named after it in :func:`evaluator_label`), over the
completed trials, as horizontal bars.

The evaluation can take a second, so it runs off the GUI thread through a
:class:`~metagui.qt._latest.LatestLoader` (the app's one way, :mod:`metagui.qt._background`),
only when the set of completed trials changed, one at a time and at most every few seconds: a
study that completes trials faster than they are evaluated shows each result as it comes (never
over another study), and the next evaluation takes the newest trials. The loader is the view's
child and is waited for when its window closes, so no evaluation outlives the view.
:class:`ImportanceView` is what this study's plot and the comparison of several studies'
importances (:mod:`metagui.qt.views._compare_importance`) share."""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from metagui.core.history import TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._latest import LatestLoader
from metagui.qt.views._axis_items import show_grid, style_plot, value_axes
from metagui.qt.views._colors import STATE_COLORS
from metagui.qt.views._labels import counted
from metagui.qt.views._live_view import LiveView
from metagui.qt.views._param_axis import format_number

__all__ = [
    "ImportancePlot",
    "ImportanceView",
    "Importances",
    "compute_importances",
    "evaluator_label",
    "importance_args",
    "importance_evaluator",
]

_EVALUATOR_LABELS = {
    "PedAnovaImportanceEvaluator": "PED-ANOVA",
    "FanovaImportanceEvaluator": "fANOVA",
    "MeanDecreaseImpurityImportanceEvaluator": "mean decrease in impurity",
}
"""How the views name Optuna's importance evaluators (by class name, in optuna.importance)."""


def importance_evaluator() -> Any:
    """The evaluator of parameter importance (Optuna's PED-ANOVA), chosen here rather than
    left to Optuna's default, which changes between versions (fANOVA before Optuna 5)."""
    from optuna.importance import PedAnovaImportanceEvaluator

    return PedAnovaImportanceEvaluator()


def evaluator_label(evaluator: object) -> str:
    """What the views call ``evaluator`` (``PED-ANOVA``): its class, named."""
    name = type(evaluator).__name__
    return _EVALUATOR_LABELS.get(name, name.removesuffix("ImportanceEvaluator"))


@dataclass(frozen=True)
class Importances:
    """Importance per parameter (summing to 1, most important first), and the evaluator's
    caveats (e.g. too few trials in some regime of a conditional parameter)."""

    values: dict[str, float]
    evaluator: str
    trials: int
    notes: tuple[str, ...] = field(default=())


def compute_importances(
    entries: list[dict[str, Any]],
    trials: list[tuple[dict[str, Any], float]],
    maximize: bool,
) -> Importances:
    """Optuna's parameter importances over completed ``(params, value)`` trials, in an
    in-memory study whose distributions come from the stored search-space ``entries``.
    Runs in a worker thread: plain data in, plain data out."""
    import optuna
    from optuna.trial import create_trial

    from metagui.core.search_space import FixedParam, SearchSpace
    from metagui.core.strategies._optuna import distribution

    space = SearchSpace.model_validate({"params": entries})
    dists = {p.name: distribution(p) for p in space.params if not isinstance(p, FixedParam)}
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    for params, value in trials:
        used = {k: v for k, v in params.items() if k in dists}
        try:
            trial = create_trial(
                params=used, distributions={k: dists[k] for k in used}, value=value
            )
        except ValueError:
            continue  # a value outside the stored range (an edited space): leave it out
        study.add_trial(trial)
    # Optuna warns when a regime has few trials; the warning is news for the user, shown
    # under the chart, not an error. (Warning filters are process-wide: this context is kept
    # as short as the evaluation itself.)
    evaluator = importance_evaluator()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    notes = tuple(dict.fromkeys(str(w.message) for w in caught))
    return Importances(dict(values), evaluator_label(evaluator), len(study.trials), notes)


def importance_args(
    study: StudyData, completed: Sequence[TrialRow]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], float]], bool]:
    """The arguments of :func:`compute_importances` for ``completed`` trials of ``study``
    (plain data, safe to hand to the worker thread)."""
    trials = [(dict(t.params), float(t.value or 0.0)) for t in completed]
    return list(study.search_params()), trials, study.maximize


def _study_of(key: object) -> object:
    return key[0] if isinstance(key, tuple) else None


class ImportanceView(LiveView):
    """What the importance views share: a bar chart (or a message instead), and evaluations
    off the GUI thread. A subclass's ``_draw`` asks for an evaluation with :meth:`_want`
    (``key``: what it evaluates, its first item the studies shown; ``work``: the call that
    evaluates); one runs at a time, at most every ``min_interval_s``, and only for a key not
    already shown or being evaluated. Its outcome goes to :meth:`_show_result` or
    :meth:`_show_failure` unless the view moved on to other studies meanwhile."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.min_interval_s = 3.0
        self._shown_key: object = None
        self._wanted: tuple[object, Callable[[], object]] | None = None
        self._job_key: object = None  # what is being evaluated now, or None
        self._last_start = -math.inf
        self.loader = LatestLoader(0, self)
        self.loader.ready.connect(self._on_evaluated)
        self.loader.failed.connect(self._on_failed)
        self._due = QTimer(self)  # the next evaluation, once min_interval_s has passed
        self._due.setSingleShot(True)
        self._due.timeout.connect(self._start_if_due)

        palette = self.palette()
        self.plot_widget = pg.PlotWidget(
            background=palette.color(palette.ColorRole.Base), axisItems=value_axes()
        )
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        style_plot(self.plot, palette)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "importance (share of the total)")
        show_grid(self.plot, palette, y=False)
        self._text_color = palette.color(palette.ColorRole.Text)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)

        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.plot_widget, 1)
        page_layout.addWidget(self.note_label)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.message_label)
        self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def export_item(self) -> pg.PlotItem:
        return self.plot

    def showing_message(self) -> bool:
        return self.stack.currentWidget() is self.message_label

    def busy(self) -> bool:
        """Whether an evaluation is running or waiting for its turn."""
        return self._job_key is not None or (
            self._wanted is not None and self._wanted[0] != self._shown_key
        )

    # -- lifetime -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._watch_window()
        self._start_if_due()  # what a shutdown left wanted

    def _watch_window(self) -> None:
        window = self.window()
        if window is not self:
            # Inside a window this view gets no close event of its own: watch the window's
            # (Qt installs a filter once; no reference to the window is kept), so that no
            # evaluation outlives it.
            window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.shutdown()
        return super().eventFilter(watched, event)

    @Slot()
    def shutdown(self) -> None:
        """Stop evaluating and wait for an evaluation in progress (before the window goes); a
        later show evaluates what is still wanted."""
        self._due.stop()
        self.loader.shutdown()
        self._job_key = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- evaluating -----------------------------------------------------------------------------
    def _study_changed(self) -> None:
        self.loader.cancel()  # an evaluation of other studies is of no use now
        self._job_key = None
        self._shown_key = None
        self._wanted = None

    def _settled(self, key: object) -> bool:
        """Whether ``key`` is shown or being evaluated already: nothing to prepare for it (a
        redraw of a live study asks at every refresh)."""
        return key in (self._shown_key, self._job_key)

    def _want(self, key: object, work: Callable[[], object]) -> bool:
        """Evaluate ``work()`` for ``key`` when its turn comes; False (nothing to do) if that
        key is shown or being evaluated already."""
        if self._settled(key):
            return False
        self._wanted = (key, work)
        self._start_if_due()
        return True

    def _want_nothing(self) -> None:
        """Nothing to evaluate now (no study, too few trials): a later want starts afresh."""
        self._wanted = None
        self._shown_key = None

    @Slot()
    def _start_if_due(self) -> None:
        if self._job_key is not None or self._wanted is None:
            return
        key, work = self._wanted
        if key == self._shown_key:
            return
        wait_s = self._last_start + self.min_interval_s - time.monotonic()
        if wait_s > 0:
            self._due.start(math.ceil(wait_s * 1000))
            return
        self._last_start = time.monotonic()
        self._job_key = key
        self._watch_window()  # drawn before it was ever shown (an export)
        self.loader.submit(work, now=True)

    @Slot(object)
    def _on_evaluated(self, result: object) -> None:
        if self._finished_shown():
            self._show_result(result)
        self._start_if_due()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._finished_shown():  # shown, not raised: the study itself is fine
            self._show_failure(message)
        self._start_if_due()

    def _finished_shown(self) -> bool:
        """The running evaluation has ended: whether to show its outcome. Shown even if the
        trials changed meanwhile (the next evaluation follows), but never over other studies."""
        key, self._job_key = self._job_key, None
        if self._wanted is None or _study_of(self._wanted[0]) != _study_of(key):
            return False
        self._shown_key = key
        return True

    # -- for subclasses -------------------------------------------------------------------------
    def _show_result(self, result: Any) -> None:
        raise NotImplementedError

    def _show_failure(self, message: str) -> None:
        self._show_message(f"Parameter importance could not be computed: {message}")

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.stack.setCurrentWidget(self.message_label)

    def _show_chart(self, notes: Sequence[str]) -> None:
        self.note_label.setText("\n".join(notes))
        self.note_label.setVisible(bool(notes))
        self.stack.setCurrentIndex(1)


class ImportancePlot(ImportanceView):
    """Horizontal bars of one study's parameter importance (most important on top),
    recomputed in the background when its completed trials change; a message instead while
    fewer than ``MIN_COMPLETED`` trials have completed."""

    MIN_COMPLETED = 4

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.importances: Importances | None = None
        self.bars: pg.BarGraphItem | None = None
        self._labels: list[pg.TextItem] = []
        self._show_message("No study selected.")

    def _study_changed(self) -> None:
        super()._study_changed()
        self.importances = None

    def _draw(self, study: StudyData | None) -> None:
        if study is None:
            self._wanted = None
            self._show_message("No study selected.")
            return
        completed = [t for t in study.counted() if t.params]
        if len(completed) < self.MIN_COMPLETED:
            self._want_nothing()
            self._show_message(
                f"Parameter importance needs at least {self.MIN_COMPLETED} completed trials "
                f"({len(completed)} so far)."
            )
            return
        key = (self.study_id, tuple((t.id, t.value) for t in completed))
        if self._settled(key):
            return
        args = importance_args(study, completed)
        if self._want(key, functools.partial(compute_importances, *args)) and (
            self.importances is None
        ):
            self._show_message(
                f"Computing parameter importance over {counted(len(completed), 'trial')}…"
            )

    def _show_failure(self, message: str) -> None:
        self.importances = None
        super()._show_failure(message)

    def _show_result(self, result: Importances) -> None:
        self.importances = result
        if not result.values:
            self._show_message("No parameter varies across the completed trials.")
            return
        plot = self.plot
        if self.bars is not None:
            plot.removeItem(self.bars)
        for label in self._labels:
            plot.removeItem(label)
        self._labels = []
        names = list(result.values)
        values = [result.values[n] for n in names]
        ys = [float(len(names) - 1 - i) for i in range(len(names))]
        self.bars = pg.BarGraphItem(
            x0=0.0,
            y=ys,
            height=0.6,
            width=values,
            brush=pg.mkBrush(STATE_COLORS["RUNNING"]),
            pen=pg.mkPen(None),
        )
        plot.addItem(self.bars)
        for y, value in zip(ys, values, strict=True):
            label = pg.TextItem(format_number(round(value, 3)), self._text_color, anchor=(0, 0.5))
            label.setPos(value, y)
            plot.addItem(label)
            self._labels.append(label)
        plot.getAxis("left").setTicks([list(zip(ys, names, strict=True))])
        plot.setXRange(0.0, max(values) * 1.15 or 1.0, padding=0.02)
        plot.setYRange(-0.6, len(names) - 0.4, padding=0)
        plot.setTitle(
            f"Parameter importance ({result.evaluator}, {counted(result.trials, 'trial')})"
        )
        self._show_chart(result.notes)
