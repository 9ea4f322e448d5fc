"""What the app knows of a history database, kept current by polling only what changed.

The database is the single source of truth for every view, live run or not: the app's own
worker writes it, and a headless ``metagui run`` in another process writes it the same way.
:class:`HistoryModel` polls ``HistoryReader.changes_since`` on a timer (a poll with no news
costs well under a millisecond) and appends what is new to plain per-study data that views
read when they redraw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from metagui.core.history import HistoryReader, StudySummary, TrialRow, Watermark

__all__ = ["HistoryModel", "Series", "StudyData"]


@dataclass
class Series:
    """A growing (step, value) series of one trial."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def append(self, step: int, value: float, time: float) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.times.append(time)


@dataclass
class StudyData:
    """One study: its summary, trials by id, and per-trial metric and learned series."""

    summary: StudySummary
    spec: dict[str, Any] = field(default_factory=dict)
    trials: dict[int, TrialRow] = field(default_factory=dict)
    metrics: dict[int, dict[str, Series]] = field(default_factory=dict)
    learned: dict[int, dict[str, Series]] = field(default_factory=dict)
    revision: int = 0

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def maximize(self) -> bool:
        return self.summary.direction == "maximize"

    def ordered_trials(self) -> list[TrialRow]:
        return sorted(self.trials.values(), key=lambda t: t.number)

    def counted(self) -> list[TrialRow]:
        """Completed, non-excluded trials with a finite value: those that count for best."""
        return [
            t
            for t in self.ordered_trials()
            if t.state == "COMPLETE"
            and not t.excluded
            and t.value is not None
            and math.isfinite(t.value)
        ]

    def best_trial(self) -> TrialRow | None:
        counted = self.counted()
        if not counted:
            return None
        pick = max if self.maximize else min
        return pick(counted, key=lambda t: t.value)  # type: ignore[arg-type, return-value]

    def best_so_far(self) -> list[tuple[int, float, float]]:
        """``(trial number, finished time, best value so far)`` after each counted trial,
        in the order trials finished."""
        out: list[tuple[int, float, float]] = []
        best: float | None = None
        for t in sorted(self.counted(), key=lambda t: (t.finished or 0.0, t.number)):
            assert t.value is not None
            if best is None or (t.value > best if self.maximize else t.value < best):
                best = t.value
            out.append((t.number, t.finished or 0.0, best))
        return out

    def running_trials(self) -> list[TrialRow]:
        """The trials in flight (several at once when a study runs them in parallel), in
        trial-number order."""
        running = [t for t in self.trials.values() if t.state == "RUNNING"]
        return sorted(running, key=lambda t: t.number)

    def running_trial(self) -> TrialRow | None:
        """The running trial that started last."""
        running = self.running_trials()
        return running[-1] if running else None

    def search_params(self) -> list[dict[str, Any]]:
        """The experiment's search-space entries (as stored with the study)."""
        params: list[dict[str, Any]] = self.spec.get("search_space", {}).get("params", [])
        return params

    def param_names(self) -> list[str]:
        names = [p["name"] for p in self.search_params() if p.get("type") != "fixed"]
        seen = {n for t in self.trials.values() for n in t.params}
        return names + sorted(seen - set(names))

    def is_log(self, name: str) -> bool:
        return any(p["name"] == name and p.get("log") for p in self.search_params())


class HistoryModel(QObject):
    """Follows one history file. ``changed`` fires after a poll that found news (views redraw
    on their own timers and read ``revision``); ``studies_changed`` when the list of studies or
    their summaries changed; ``error(str)`` if the file cannot be read."""

    changed = Signal()
    studies_changed = Signal()
    error = Signal(str)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 250) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.studies: dict[int, StudyData] = {}
        self.revision = 0
        self._reader: HistoryReader | None = None
        self._watermark: Watermark | None = None
        self._study_of: dict[int, int] = {}  # trial id -> study id
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer)

    def open(self, path: str | Path) -> None:
        """Follow ``path`` (the file must exist); reads everything it holds now."""
        self.close()
        self._reader = HistoryReader(Path(path))
        self.path = Path(path)
        self.studies = {}
        self._study_of = {}
        self._watermark = None
        self.revision += 1
        self.poll()
        self.studies_changed.emit()
        self._timer.start()

    def close(self) -> None:
        self._timer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def study_named(self, name: str) -> StudyData | None:
        return next((s for s in self.studies.values() if s.name == name), None)

    @Slot()
    def _on_timer(self) -> None:
        try:
            self.poll()
        except Exception as exc:  # a vanished or damaged file: say so once, stop following
            self._timer.stop()
            self.error.emit(f"{self.path}: {exc}")

    def poll(self) -> bool:
        """Read what changed since the last poll; True if anything did."""
        if self._reader is None:
            return False
        news = False
        studies_news = False
        while True:
            changes = self._reader.changes_since(self._watermark, limit=20_000)
            self._watermark = changes.watermark
            if not changes:
                break
            news = True
            for summary in changes.studies:
                data = self.studies.get(summary.id)
                if data is None:
                    stored = self._reader.study(summary.id)
                    spec = stored.spec if stored is not None else {}
                    self.studies[summary.id] = StudyData(summary, spec)
                else:
                    data.summary = summary
                studies_news = True
            for trial in changes.trials:
                study = self.studies.get(trial.study_id)
                if study is not None:
                    study.trials[trial.id] = trial
                    self._study_of[trial.id] = trial.study_id
                    study.revision += 1
            for rows, attr in ((changes.metrics, "metrics"), (changes.learned, "learned")):
                for row in rows:
                    study = self._study_of_trial(row.trial_id)
                    if study is None:
                        continue
                    series = getattr(study, attr).setdefault(row.trial_id, {})
                    series.setdefault(row.name, Series()).append(row.step, row.value, row.time)
                    study.revision += 1
            if not changes.more:
                break
        if news:
            self.revision += 1
            self.changed.emit()
        if studies_news:
            self.studies_changed.emit()
        return news

    def _study_of_trial(self, trial_id: int) -> StudyData | None:
        study_id = self._study_of.get(trial_id)
        return None if study_id is None else self.studies.get(study_id)
