"""The status bar's run read-out: state, trials (``Trial 3 · step 20/50 · 3/40 done`` one at
a time; ``3 running, 12/40 done`` in parallel), best so far (``Front: 4 trials`` for a study of
two objectives), elapsed and a smoothed ETA, throughput, and the device (or where the trials
run on Ray), redrawn four times a second from a :class:`RunProgress` while a run is on. The
texts are computed apart from the widgets (:func:`trials_text`, :func:`where_text`,
:func:`best_text`, :class:`SmoothedEta`)."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from metagui.core.reports import format_clock, format_rate, format_value
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._run_controller import RunController, RunningTrial, RunProgress

__all__ = [
    "RunStatus",
    "SmoothedEta",
    "best_text",
    "trials_text",
    "where_text",
]


class SmoothedEta:
    """The ETA the status bar shows: the run's own estimate (:meth:`RunProgress.eta_s`)
    smoothed over time, so that it counts down steadily instead of jumping with each trial's
    slow first steps, its evaluations and its pruning.

    Between two readings the shown value counts down by the time that passed, then moves a
    share ``1 - exp(-dt / tau)`` of the way towards the new estimate, ``tau`` being a tenth
    of that estimate, at most 10 minutes and at most a fifth of the time since the first one
    (which comes from the slow first steps: it is followed closely while the run is young),
    and at least 5 s: an exponentially weighted estimate that follows a lasting change in
    pace and smooths the swings of a minute or two. An estimate that counts down exactly is
    shown exactly."""

    MIN_TAU_S = 5.0
    MAX_TAU_S = 600.0

    def __init__(self) -> None:
        self._value: float | None = None
        self._at = 0.0
        self._since: float | None = None  # the first estimate's time

    def reset(self) -> None:
        self._value = self._since = None

    def update(self, now: float, estimate: float | None, paused: bool = False) -> float | None:
        """The ETA to show at ``now`` (monotonic seconds) given the run's ``estimate``; while
        ``paused`` the shown value holds still."""
        if estimate is None or not math.isfinite(estimate):
            self._value = None
            return None
        if self._since is None:
            self._since = now
        if self._value is None:
            self._value, self._at = estimate, now
            return estimate
        dt = max(0.0, now - self._at)
        self._at = now
        if paused:
            return self._value
        counted_down = max(0.0, self._value - dt)
        tau = min(self.MAX_TAU_S, 0.1 * estimate, 0.2 * (now - self._since))
        tau = max(self.MIN_TAU_S, tau)
        share = 1.0 - math.exp(-dt / tau)
        self._value = counted_down + share * (estimate - counted_down)
        return self._value


def is_parallel(p: RunProgress) -> bool:
    """Whether the run's trials run on Ray (several at once, or on a cluster)."""
    return p.parallel > 1 or p.where not in ("", "in process")


def trials_text(p: RunProgress, running: bool, paused: bool = False) -> tuple[str, str]:
    """The trials read-out and its tooltip. One trial at a time: ``Trial 3 · step 9/50 · 3/40
    done`` (the trial's number as in the trials table);
    in parallel: ``3 running, 12/40 done``, and while launching is paused ``no new trials
    start; 2 running finish · 12/40 done``."""
    done = p.finished_before + p.counted()
    planned = p.planned_trials
    of = f"{done}/{planned}" if planned else f"{done}"
    if not is_parallel(p):
        # The running trial by its number, as the trials table shows it.
        newest = p.newest() if running else None
        if newest is None:
            return f"{of} done", "trials finished / the budget"
        text = f"Trial {newest.number}"
        tip = f"trial {newest.number} is running"
        if newest.total_steps:
            text += f" · step {newest.step}/{newest.total_steps}"
            tip = f"trial {newest.number}: step {newest.step} of {newest.total_steps}"
        return f"{text} · {of} done", f"{tip}; {done} finished"
    n = len(p.running) if running else 0
    if running and paused:
        finish = f"{n} running finish{'es' if n == 1 else ''}" if n else "none running"
        text = f"no new trials start; {finish} · {of} done"
    else:
        text = f"{n} running, {of} done" if running else f"{of} done"
    tips = [f"trial {t.number}: step {t.step} of {t.total_steps}" for t in _by_number(p)]
    tip = "\n".join([f"{p.parallel} trials at once; {done} finished", *tips])
    return text, tip


def where_text(p: RunProgress) -> tuple[str, str]:
    """The device (in process) or where on Ray, with the running trials' devices; tooltip:
    each running trial's host and device."""
    if not is_parallel(p):
        return p.device, "the device trials train on"
    short = list(dict.fromkeys(d.split(" (")[0] for d in p.devices()))
    text = p.where or "Ray"
    if short:
        text += " · " + ", ".join(short[:3]) + (" …" if len(short) > 3 else "")
    lines = [f"Trials run on {p.where or 'Ray'}"]
    lines += [f"trial {t.number}: {t.host or '?'}, {t.device or 'starting'}" for t in _by_number(p)]
    return text, "\n".join(lines)


def best_text(p: RunProgress, study: StudyData | None = None) -> tuple[str, str]:
    """The best-so-far read-out and its tooltip: ``Best 0.1052 (#2)``; for a study of two
    objectives (``study``, the run's as the history holds it), which has no one best,
    ``Front: 4 trials`` (those on its Pareto front)."""
    if study is not None and study.multi_objective:
        front = study.front()
        numbers = ", ".join(f"#{t.number}" for t in front[:12]) + (" …" if len(front) > 12 else "")
        tip = "trials on the Pareto front so far: no other is better on both objectives"
        return f"Front: {len(front)} trial{'' if len(front) == 1 else 's'}", (
            f"{tip}\n{numbers}" if front else tip
        )
    best = format_value(p.best_value)
    text = f"Best {best} (#{p.best_number})" if p.best_number is not None else f"Best {best}"
    return text, "best objective value so far (trial)"


def _by_number(p: RunProgress) -> list[RunningTrial]:
    return [p.running[n] for n in sorted(p.running)]


class RunStatus(QObject):
    """Permanent status-bar widgets over a :class:`RunController`'s progress; ``model``, the
    history the run writes, tells a two-objective study's front (:func:`best_text`)."""

    def __init__(
        self, controller: RunController, bar: QStatusBar, model: HistoryModel | None = None
    ) -> None:
        super().__init__(bar)
        self._bar = bar
        self._controller = controller
        self._model = model
        self.eta = SmoothedEta()
        self.state = self._label("runState", "Idle", "what the run is doing")
        self.device = self._label("runDevice", "", "the device trials train on")
        self.trial = self._label("runTrial", "", "trials finished / the budget")
        self.best = self._label("runBest", "", "best objective value so far (trial)")
        self.time = self._label("runTime", "", "training time so far, and the estimated rest")
        self.speed = self._label(
            "runSpeed", "", "meta-training throughput of the running trials together"
        )
        self.bar = QProgressBar(bar)
        self.bar.setObjectName("runProgress")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(140)
        self.bar.setToolTip("study progress")
        self.bar.hide()
        for widget in (self.state, self.bar, self.trial, self.best, self.time, self.speed):
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(self.device)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        controller.running_changed.connect(self._on_running)
        controller.paused_changed.connect(self._on_paused)
        if model is not None:
            # The last trials reach the history after the run's last refresh.
            model.changed.connect(self._on_history)

    def _label(self, name: str, text: str, tip: str) -> QLabel:
        label = QLabel(text, self._bar)
        label.setObjectName(name)
        label.setToolTip(tip)
        return label

    @Slot(bool)
    def _on_running(self, running: bool) -> None:
        if running:
            self.eta.reset()
            self._timer.start()
            self.bar.show()
        else:
            self._timer.stop()
        self.refresh()

    @Slot(bool)
    def _on_paused(self, _paused: bool) -> None:
        self.refresh()

    @Slot()
    def _on_history(self) -> None:
        if not self._timer.isActive():  # while a run is on, the timer refreshes
            self.refresh()

    def study(self) -> StudyData | None:
        """The run's study as the history holds it (None: no run yet, or not read yet)."""
        study_id = self._controller.progress.study_id
        if self._model is None or study_id is None:
            return None
        return self._model.studies.get(study_id)

    @Slot()
    def refresh(self) -> None:
        c = self._controller
        p = c.progress
        if c.is_running():
            self.state.setText("Stopping…" if c.stopping else "Paused" if c.paused else "Running")
        elif p.started_at is not None:
            self.state.setText(f"Ended ({p.end_reason})" if p.end_reason else "Ended")
            self.bar.hide()
        else:
            self.state.setText("Idle")
        self.state.setProperty("runState", self.state.text().split(" ")[0].rstrip("…").lower())
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        if p.started_at is None:
            return
        running = c.is_running()
        device, device_tip = where_text(p)
        self.device.setText(device)
        self.device.setToolTip(device_tip)
        text, tip = trials_text(p, running, c.paused)
        self.trial.setText(text)
        self.trial.setToolTip(tip)
        best, best_tip = best_text(p, self.study())
        self.best.setText(best)
        self.best.setToolTip(best_tip)
        elapsed = format_clock(p.elapsed_s())
        now = time.monotonic()
        eta = self.eta.update(now, p.eta_s(now), paused=c.paused) if running else None
        self.time.setText(f"{elapsed} · ETA {format_clock(eta)}" if running else elapsed)
        rate = p.trials_per_hour()
        per_hour = "" if rate is None else f"{format_rate(rate)} trials/h"
        self.time.setToolTip(
            "training time so far, and the estimated rest"
            + (f" (at {per_hour} so far)" if per_hour else "")
        )
        speed = f"{format_rate(p.tasks_per_s)} tasks/s" if p.tasks_per_s else ""
        if is_parallel(p) and per_hour:
            speed = f"{speed} · {per_hour}" if speed else per_hour
        self.speed.setText(speed)
        planned = p.planned_trials
        if planned:
            fraction = (p.finished_before + p.trials_done()) / planned
            self.bar.setValue(round(1000 * min(1.0, fraction)))
        elif p.timeout_s:
            self.bar.setValue(round(1000 * min(1.0, p.elapsed_s() / p.timeout_s)))
