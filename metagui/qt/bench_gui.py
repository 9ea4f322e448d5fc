"""``metagui bench --gui``: what the app costs the training it shows, and how long its event
loop stalls while it trains.

The same study (the built-in demo study by default, same seed, same device) runs three times
in this process (with ``repeats``, the first two ``repeats`` times, in alternating order: the
machine's own drift then weighs on both paths), each time into its own temporary history
database:

- **headless**, as ``metagui run`` runs it: the core runner's generator consumed in a plain
  loop in this thread;
- **in the app**: a real :class:`~metagui.qt.main_window.MainWindow`, shown (offscreen when
  there is no display), runs it through its Run path (the study worker thread, the live
  history polling, the plots and the table redrawn on their timers) with the loss plot shown:
  the app open and plotting live, someone watching it (``switch_tabs``: also switching the
  plot tabs every second, which costs the training most);
- **in the app again** for the stalls, every second switching the plot tabs between the loss
  curves and the hyperparameter trajectories (each switch lays out and paints a whole tab),
  with the stall probe below running. The probe gets a run of its own: its timer wakes the
  GUI thread 200 times a second, and each wake takes the interpreter lock from the training,
  which would count against the app in the throughput.

**Throughput** is counted from what each run recorded, the same way for both paths: every
recorded training step carries the wall time at which the study thread recorded it, so the
tasks trained (meta-iterations times the trial's meta-batch size) in the ``seconds`` after the
first recorded step are known without hooking into either path, and trial and study start-up
(imports, the first model) stay out of the window. The demo's trials differ (it searches over
learners and inner steps: slow and fast trials alternate), so the two windows' counts would
compare different mixes of trials. The ratio therefore compares the time each path took to
train the same first ``common_tasks`` tasks (all that the slower path trained in its window),
that is, the same trials (``same_trials`` checks that both sampled the same ones); the
``*_tasks_per_s`` figures are those tasks over those times, so ``ratio`` is their quotient.

**Stalls**: while the app trains, a precise timer in the GUI thread fires every
``interval_ms``; the time between two firings beyond the interval is how long the event loop
could not react to anything (a click, a key, a repaint).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from metagui.core.errors import MetaguiError
from metagui.qt._display import has_display

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.qt.main_window import MainWindow

__all__ = [
    "COST_BAR_PERCENT",
    "DEFAULT_SECONDS",
    "STALL_P99_BAR_MS",
    "format_summary",
    "run_gui_benchmark",
]

DEFAULT_SECONDS = 20.0
COST_BAR_PERCENT = 5.0
"""The app may slow training down by at most this much."""
STALL_P99_BAR_MS = 50.0
"""99% of the event loop's stalls while training must be shorter than this."""

_MARGIN_S = 0.5  # each path runs this much past its window, so that the window is full
_START_TIMEOUT_S = 300.0  # for the first trained step of a path
_TAB_SWITCH_MS = 1000
_WATCH_MS = 100  # how often the throughput run checks on the window
_ENOUGH_TRIALS = 100_000  # the study must not end inside the window
_TMP_PREFIX = "metagui-bench-gui-"
_APPLICATION: list[QApplication] = []  # one this module created, kept alive for the process


def run_gui_benchmark(
    seconds: float = DEFAULT_SECONDS,
    *,
    device: str = "auto",
    experiment: str | Path | None = None,
    interval_ms: int = 5,
    switch_tabs: bool = False,
    app_first: bool = False,
    repeats: int = 1,
) -> dict[str, Any]:
    """Run the study of ``experiment`` (default: the demo study) headless, then in the app
    (``app_first``: the other way round), ``seconds`` of training each, ``repeats`` times
    in alternating order, then once more in the app to measure stalls; return the figures as
    one JSON-ready dict (see the module's documentation for how they are counted). With
    repeats, the throughput figures are those of the repeat with the median ratio, and
    ``ratios`` lists every repeat's. ``switch_tabs``: in the throughput runs too, switch the
    plot tabs every second as the stall run does (by default they only watch the loss plot).

    Needs a QApplication: the existing one, or one created here (offscreen unless there is a
    display or ``QT_QPA_PLATFORM`` chooses a platform). Everything else it starts (the window,
    the study thread, the temporary databases) is gone when it returns."""
    if not seconds > 0 or not math.isfinite(seconds):
        raise MetaguiError(f"bench --gui: --seconds must be a positive number, not {seconds}")
    if repeats < 1:
        raise MetaguiError(f"bench --gui: --repeats must be at least 1, not {repeats}")
    if interval_ms < 1:
        raise MetaguiError(
            f"bench --gui: the timer interval must be at least 1 ms, not {interval_ms!r}"
        )
    from metagui.core.experiment_io import load_experiment
    from metagui.qt.app import DEMO_EXPERIMENT

    path = Path(experiment) if experiment is not None else DEMO_EXPERIMENT
    overrides = [f"device={device}", f"budget.trials={_ENOUGH_TRIALS}", "budget.timeout_s=null"]
    spec = load_experiment(path, overrides=overrides)
    _application()
    pairs: list[_Pair] = []
    paths: list[str] = []
    for repeat in range(repeats):
        headless_first = (repeat % 2 == 0) != app_first
        order = ("headless", "app") if headless_first else ("app", "headless")
        work: dict[str, _Work] = {}
        for which in order:
            with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX) as folder:
                db = Path(folder) / "history.sqlite"
                if which == "headless":
                    _run_headless(spec, db, seconds)
                else:
                    _run_in_app(spec, db, seconds, None, switch_tabs)
                work[which] = _recorded_work(spec, db)
        paths.extend(order)
        pairs.append(_Pair(work["headless"], work["app"], seconds))
    with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX) as folder:
        stalls = _run_in_app(spec, Path(folder) / "history.sqlite", seconds, interval_ms, True)
    paths.append("stalls")
    ratios = [pair.ratio for pair in pairs]
    median = pairs[ratios.index(statistics.median_low(ratios))]
    head, app, common, trials = median.head, median.app, median.common, median.trials
    head_s, app_s, ratio = median.head_s, median.app_s, median.ratio
    p50, p99, worst = _stall_statistics(stalls)
    return {
        "name": "gui",
        "experiment": spec.name,
        "device": _device_name(spec.device),
        "qt_platform": QGuiApplication.platformName(),
        "seconds": float(seconds),
        "order": ", ".join(paths),
        "repeats": repeats,
        "switch_tabs": switch_tabs,
        "ratios": ratios,
        "headless_tasks": head.done_by(seconds),
        "app_tasks": app.done_by(seconds),
        "common_tasks": common,
        "trials": trials,
        "same_trials": head.params[:trials] == app.params[:trials],
        "headless_s": head_s,
        "app_s": app_s,
        "headless_tasks_per_s": common / head_s,
        "app_tasks_per_s": common / app_s,
        "ratio": ratio,
        "cost_percent": (1.0 - ratio) * 100.0,
        "cost_bar_percent": COST_BAR_PERCENT,
        "cost_ok": (1.0 - ratio) * 100.0 <= COST_BAR_PERCENT,
        "interval_ms": interval_ms,
        "stall_samples": len(stalls),
        "stall_p50_ms": p50,
        "stall_p99_ms": p99,
        "stall_max_ms": worst,
        "stall_p99_bar_ms": STALL_P99_BAR_MS,
        "stalls_ok": p99 < STALL_P99_BAR_MS,
    }


def format_summary(result: dict[str, Any]) -> str:
    """Two lines for a person: throughput and cost, then the stalls."""
    verdict = "ok" if result["cost_ok"] else "OVER THE BAR"
    stalls = "ok" if result["stalls_ok"] else "OVER THE BAR"
    same = "" if result["same_trials"] else " (the two paths sampled different trials!)"
    watching = "switching tabs every second" if result.get("switch_tabs") else "watching"
    ratios = result.get("ratios", [])
    median = (
        f", the median of {len(ratios)} alternating repeats (x"
        + ", x".join(f"{r:.3f}" for r in ratios)
        + ")"
        if len(ratios) > 1
        else ""
    )
    return (
        f"gui {result['device']} ({result['experiment']}, {result['seconds']:g} s per path, "
        f"Qt {result['qt_platform']}, {watching}): "
        f"headless {result['headless_tasks_per_s']:.1f} tasks/s, "
        f"app {result['app_tasks_per_s']:.1f} tasks/s over the same {result['common_tasks']} "
        f"tasks ({result['trials']} trials){same}: x{result['ratio']:.3f}{median}, the app costs "
        f"{result['cost_percent']:.1f}% (bar {result['cost_bar_percent']:g}%: {verdict})\n"
        f"gui event-loop stalls while training, switching tabs every second "
        f"({result['stall_samples']} samples every "
        f"{result['interval_ms']} ms): p50 {result['stall_p50_ms']:.1f} ms, "
        f"p99 {result['stall_p99_ms']:.1f} ms, max {result['stall_max_ms']:.1f} ms "
        f"(bar p99 < {result['stall_p99_bar_ms']:g} ms: {stalls})"
    )


# -- the headless path -------------------------------------------------------------------------
def _run_headless(spec: ExperimentSpec, db: Path, seconds: float) -> None:
    """Like ``metagui run``: the runner's generator in a plain loop, in this thread, until
    ``seconds`` (and a margin) after its first trained step."""
    from metagui.core.runner import StudyRunner, TrialStep

    generator = StudyRunner(spec, db).run()
    began = time.monotonic()
    first: float | None = None
    try:
        for report in generator:
            now = time.monotonic()
            if first is None:
                if isinstance(report, TrialStep):
                    first = now
                elif now - began > _START_TIMEOUT_S:
                    raise MetaguiError("bench --gui: the headless run trained nothing")
            elif now - first >= seconds + _MARGIN_S:
                break
        else:
            raise MetaguiError("bench --gui: the study ended before the headless window did")
    finally:
        generator.close()  # marks the running trial and closes the database


# -- the app path ------------------------------------------------------------------------------
def _application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    from metagui.qt.app import create_application

    app = create_application(offscreen=not has_display())
    _APPLICATION.append(app)
    return app


def _run_in_app(
    spec: ExperimentSpec, db: Path, seconds: float, interval_ms: int | None, interact: bool
) -> list[float]:
    """Run the study from a main window (as ``metagui --demo`` does) until ``seconds`` (and a
    margin) after its first trained step; with ``interval_ms``, return the event loop's stalls
    (ms) meanwhile, measured every ``interval_ms``; without, only watch (ten times a second).
    The window is closed and the study thread ended before this returns, whatever happens."""
    from metagui.qt import error_dialog
    from metagui.qt._gc import collect_in_gui_thread
    from metagui.qt._settings import AppSettings
    from metagui.qt.app import SCREENSHOT_SIZE
    from metagui.qt.main_window import MainWindow

    app = _application()
    error_dialog.set_interactive(False)  # nobody can answer a dialog here: errors are logged
    failures: list[str] = []
    window = MainWindow(AppSettings(), database=db, restore=False)
    window.persist_settings = False
    window.run.failed.connect(lambda message, _details: failures.append(message))
    try:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        window.doc.reset(spec)
        if window.doc.spec != spec or not window.doc.is_valid:
            raise MetaguiError("bench --gui: the window does not run the benchmark's experiment")
        window.start_run()
        if not window.is_running():
            raise MetaguiError("bench --gui: the window did not start the run")
        window.live.tabs.setCurrentIndex(0)  # the loss plot
        probe = _Probe(window, seconds, interval_ms, interact)
        try:
            probe.run()
        finally:
            probe.deleteLater()
        if failures:
            raise MetaguiError(f"bench --gui: the run in the app failed: {failures[0]}")
        if probe.error:
            raise MetaguiError(f"bench --gui: {probe.error}")
        return probe.stalls_ms
    finally:
        window.run.stop_and_wait()
        window.close()
        window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        app.processEvents()
        # Automatic garbage collection back on, as the app's next check would turn it.
        collect_in_gui_thread(app).check()
        error_dialog.set_interactive(True)


class _Probe(QObject):
    """Runs the event loop while the window trains: a precise timer every ``interval_ms``
    notes how late it fires, once the first step has arrived, until the window is over
    (``interval_ms`` None: a timer ten times a second only watches for those two moments)."""

    def __init__(
        self, window: MainWindow, seconds: float, interval_ms: int | None, interact: bool
    ) -> None:
        super().__init__()
        self.window = window
        self.seconds = seconds
        self.measure = interval_ms is not None
        self.interval_ms = _WATCH_MS if interval_ms is None else interval_ms
        self.interact = interact
        self.stalls_ms: list[float] = []
        self.error = ""
        self._loop = QEventLoop(self)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._tick)
        self._switcher = QTimer(self)
        self._switcher.setInterval(_TAB_SWITCH_MS)
        self._switcher.timeout.connect(self._switch_tab)
        self._began = 0.0
        self._first: float | None = None
        self._last = 0.0

    def run(self) -> None:
        self._began = self._last = time.perf_counter()
        self._timer.start()
        try:
            self._loop.exec()
        finally:
            self._timer.stop()
            self._switcher.stop()

    def _quit(self, error: str = "") -> None:
        self.error = error
        self._timer.stop()
        self._loop.quit()

    @Slot()
    def _tick(self) -> None:
        now = time.perf_counter()
        if self._first is not None:
            if self.measure:
                self.stalls_ms.append(max(0.0, (now - self._last) * 1000.0 - self.interval_ms))
            if now - self._first >= self.seconds + _MARGIN_S:
                self._quit()
                return
        else:
            progress = self.window.run.progress
            if progress.step > 0 or progress.finished > 0:
                self._first = now
                if self.interact:
                    self._switcher.start()
            elif now - self._began > _START_TIMEOUT_S:
                self._quit("the run in the app trained nothing")
                return
        self._last = now
        if not self.window.is_running():
            self._quit("the study in the app ended before its window did")

    @Slot()
    def _switch_tab(self) -> None:
        tabs = self.window.live.tabs
        tabs.setCurrentIndex(1 if tabs.currentIndex() == 0 else 0)  # loss <-> trajectories


# -- counting ----------------------------------------------------------------------------------
class _Pair:
    """One headless run and one app run compared over the same first tasks."""

    def __init__(self, head: _Work, app: _Work, seconds: float) -> None:
        self.head, self.app = head, app
        self.common = min(head.done_by(seconds), app.done_by(seconds))
        if self.common <= 0:
            raise MetaguiError("bench --gui: a path trained nothing in its window")
        self.head_s, self.app_s = head.time_to(self.common), app.time_to(self.common)
        self.trials = max(head.trials_to(self.common), app.trials_to(self.common))
        self.ratio = self.head_s / self.app_s


@dataclass(frozen=True)
class _Work:
    """What one run recorded: the wall time (UNIX s) of each recorded training step, the
    tasks trained from the first recorded step to it, and the trials' sampled parameters."""

    times: list[float]
    tasks: list[int]
    trial_of: list[int]  # index into ``params`` of each step's trial
    params: list[dict[str, Any]]

    def done_by(self, seconds: float) -> int:
        """Tasks trained in the ``seconds`` after the first recorded step."""
        return self.tasks[bisect_right(self.times, self.times[0] + seconds) - 1]

    def time_to(self, tasks: int) -> float:
        """Seconds from the first recorded step until ``tasks`` tasks were trained (linear
        between two recorded steps)."""
        i = bisect_left(self.tasks, tasks)
        if i == 0:
            return 0.0
        if i >= len(self.tasks):
            raise ValueError(f"only {self.tasks[-1]} tasks were trained, not {tasks}")
        t0, t1 = self.times[i - 1], self.times[i]
        w0, w1 = self.tasks[i - 1], self.tasks[i]
        return t0 + (tasks - w0) / (w1 - w0) * (t1 - t0) - self.times[0]

    def trials_to(self, tasks: int) -> int:
        """How many trials trained until ``tasks`` tasks were trained."""
        i = min(bisect_left(self.tasks, tasks), len(self.tasks) - 1)
        return self.trial_of[i] + 1


def _recorded_work(spec: ExperimentSpec, db: Path) -> _Work:
    from metagui.core.history import HistoryReader

    steps: list[tuple[float, int, int]] = []  # (time, tasks of this step, trial index)
    params: list[dict[str, Any]] = []
    with HistoryReader(db) as reader:
        studies = reader.studies()
        if len(studies) != 1:
            raise MetaguiError(f"bench --gui: {len(studies)} studies in the run's database")
        for index, trial in enumerate(reader.trials(studies[0].id)):
            params.append(trial.params)
            batch = spec.trial_spec(trial.params, trial.seed).training.meta_batch_size
            previous = 0
            for row in reader.metrics(trial.id, "train/loss"):  # one row per reported step
                steps.append((row.time, (row.step - previous) * batch, index))
                previous = row.step
    if not steps:
        raise MetaguiError("bench --gui: a path recorded no training step")
    steps.sort()
    times: list[float] = []
    tasks: list[int] = []
    trial_of: list[int] = []
    total = 0
    for i, (when, done, trial_index) in enumerate(steps):
        total += done if i else 0  # the first step's work was done before the window
        times.append(when)
        tasks.append(total)
        trial_of.append(trial_index)
    return _Work(times, tasks, trial_of, params)


def _stall_statistics(stalls: list[float]) -> tuple[float, float, float]:
    import numpy as np

    if not stalls:
        raise MetaguiError("bench --gui: the event loop's timer never fired while training")
    p50, p99 = np.percentile(np.asarray(stalls, dtype=float), [50.0, 99.0])
    return float(p50), float(p99), float(max(stalls))


def _device_name(name: str) -> str:
    from metagui.core.device import describe_device, resolve_device

    try:
        return describe_device(resolve_device(name))
    except MetaguiError:
        return name
