"""The status bar's run read-out: state, device, trial i/n, best so far, elapsed and ETA, and
throughput, redrawn four times a second from a :class:`RunProgress` while a run is on."""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from metagui.qt._run_controller import RunController

__all__ = ["RunStatus", "format_duration", "format_value"]


def format_duration(seconds: float | None) -> str:
    """``1:05`` or ``2:03:07``; ``–`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


class RunStatus(QObject):
    """Permanent status-bar widgets over a :class:`RunController`'s progress."""

    def __init__(self, controller: RunController, bar: QStatusBar) -> None:
        super().__init__(bar)
        self._bar = bar
        self._controller = controller
        self.state = self._label("runState", "Idle", "what the run is doing")
        self.device = self._label("runDevice", "", "the device trials train on")
        self.trial = self._label("runTrial", "", "trials finished / the budget")
        self.best = self._label("runBest", "", "best objective value so far (trial)")
        self.time = self._label("runTime", "", "training time so far, and the estimated rest")
        self.speed = self._label("runSpeed", "", "meta-training throughput of the running trial")
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

    def _label(self, name: str, text: str, tip: str) -> QLabel:
        label = QLabel(text, self._bar)
        label.setObjectName(name)
        label.setToolTip(tip)
        return label

    @Slot(bool)
    def _on_running(self, running: bool) -> None:
        if running:
            self._timer.start()
            self.bar.show()
        else:
            self._timer.stop()
        self.refresh()

    @Slot(bool)
    def _on_paused(self, _paused: bool) -> None:
        self.refresh()

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
        self.device.setText(p.device)
        done = p.finished_before + p.finished
        planned = p.planned_trials
        running = c.is_running() and p.trial_number is not None
        shown = done + (1 if running else 0)
        text = f"Trial {shown}/{planned}" if planned else f"Trial {shown}"
        if running and p.total_steps:
            text += f" · step {p.step}/{p.total_steps}"
        self.trial.setText(text)
        if p.trial_number is not None and p.total_steps:
            self.trial.setToolTip(
                f"trial {p.trial_number}: step {p.step} of {p.total_steps}; {done} finished"
            )
        best = format_value(p.best_value)
        self.best.setText(
            f"Best {best} (#{p.best_number})" if p.best_number is not None else f"Best {best}"
        )
        elapsed = format_duration(p.elapsed_s())
        self.time.setText(
            f"{elapsed} · ETA {format_duration(p.eta_s())}" if c.is_running() else elapsed
        )
        self.speed.setText(f"{p.tasks_per_s:,.0f} tasks/s" if p.tasks_per_s else "")
        if planned:
            fraction = (p.finished_before + p.trials_done()) / planned
            self.bar.setValue(round(1000 * min(1.0, fraction)))
        elif p.timeout_s:
            self.bar.setValue(round(1000 * min(1.0, p.elapsed_s() / p.timeout_s)))
