"""What the app knows of a history database, kept current by polling only what changed.

The database is the single source of truth for every view, live run or not: the app's own
worker writes it, and a headless ``metagui run`` in another process writes it the same way.
:class:`HistoryModel` polls ``HistoryReader.changes_since`` on a timer (a poll with no news
costs well under a millisecond) and records what is new in per-study
:class:`~metagui.qt._study_data.StudyData` that views read when they redraw.

Opening a history reads its studies and trials, not its series: a study of 10,000 trials
opens without reading its millions of metric rows. Views read what they draw on demand, through
the study (stored curves of every trial, the full series of the trials they show), and the
polls keep those series up to date while trials run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from metagui.core.history import Curve, HistoryReader, HistoryWriter, MetricRow, Watermark
from metagui.qt._study_data import Series, StudyData

__all__ = ["HistoryModel", "Series", "StudyData"]

T = TypeVar("T")


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
        """Follow ``path`` (the file must exist): read its studies and trials now (a history
        of an older schema is upgraded first, where this process may write it)."""
        self.close()
        self._reader = HistoryReader(Path(path), upgrade=True)
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

    def reload(self) -> None:
        """Read the followed file afresh: after a study was deleted or renamed (the polls
        follow what is added and changed, not what is gone)."""
        if self.path is not None:
            self.open(self.path)

    def edit(self, change: Callable[[HistoryWriter], T]) -> T:
        """Make one of the researcher's changes (a note, tags, archiving, renaming, deleting)
        with a short-lived writer on the followed file, then read it back at once; returns
        what ``change`` returns. A refusal (a :class:`MetaguiError`) is raised as it comes.

        The file may have another writer meanwhile (a run, in this process or another): the
        change waits for its transaction (SQLite's busy timeout), and the notebook's columns
        are ones a run never writes."""
        if self.path is None:
            raise RuntimeError("no history is open")
        with HistoryWriter(self.path) as writer:
            result = change(writer)
        self.refresh()
        return result

    def study_named(self, name: str) -> StudyData | None:
        return next((s for s in self.studies.values() if s.name == name), None)

    @Slot()
    def _on_timer(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        """:meth:`poll`, for the GUI: a file that cannot be read any more (vanished, damaged)
        stops the following and is said once through ``error``, instead of raising into a
        slot. True if anything changed."""
        try:
            return self.poll()
        except Exception as exc:
            self._timer.stop()
            text = str(exc)  # a MetaguiError names the file already
            self.error.emit(text if str(self.path) in text else f"{self.path}: {text}")
            return False

    def poll(self) -> bool:
        """Read what changed since the last poll; True if anything did."""
        if self._reader is None:
            return False
        news = False
        studies_news = False
        while True:
            # The first look reads no series: views read what they draw (see StudyData).
            first = self._watermark is None
            changes = self._reader.changes_since(self._watermark, limit=20_000, series=not first)
            self._watermark = changes.watermark
            if not changes:
                break
            news = True
            for summary in changes.studies:
                data = self.studies.get(summary.id)
                if data is None:
                    stored = self._reader.study(summary.id)
                    spec = stored.spec if stored is not None else {}
                    objectives = stored.objectives if stored is not None else ()
                    self.studies[summary.id] = StudyData(
                        summary, spec, source=self, objectives=objectives
                    )
                else:
                    if summary.updated_seq != data.summary.updated_seq:
                        # The study's row changed (its status, notes, or its experiment: a
                        # resume with an edited search space): read its experiment again.
                        stored = self._reader.study(summary.id)
                        if stored is not None and stored.spec != data.spec:
                            data.set_spec(stored.spec)
                    data.summary = summary
                studies_news = True
            for trial in changes.trials:
                study = self.studies.get(trial.study_id)
                if study is None:
                    continue
                if not first and trial.id not in study.trials:
                    # Started since the first look: all its rows come through the polls.
                    study.metrics.follow(trial.id)
                    study.learned.follow(trial.id)
                study.set_trial(trial)
                self._study_of[trial.id] = trial.study_id
            for row in changes.metrics:
                study = self._study_of_trial(row.trial_id)
                if study is not None:
                    study.metrics.add(row)
                    study.saw_metric(row.name)
                    study.revision += 1
            for row in changes.learned:
                study = self._study_of_trial(row.trial_id)
                if study is not None:
                    study.learned.add(row)
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

    # -- on demand, for StudyData (the views ask through it) -------------------------------------
    def trial_series(self, kind: str, trial_id: int) -> list[MetricRow]:
        """One trial's full series, ``kind`` 'metrics' or 'learned' (none once closed)."""
        if self._reader is None:
            return []
        if kind == "metrics":
            return self._reader.metrics(trial_id)
        return self._reader.learned(trial_id)

    def study_curves(self, study_id: int, name: str, trial_ids: set[int] | None) -> list[Curve]:
        if self._reader is None:
            return []
        return self._reader.curves(study_id, name, trial_ids)

    def study_experience(self, study_id: int) -> dict[str, Any] | None:
        """What the study learned from (its recorded experience pool), or None."""
        return None if self._reader is None else self._reader.experience(study_id)

    def study_notes(self, study_id: int) -> str | None:
        """The researcher's notes on the study (not kept with its summary: read when shown)."""
        if self._reader is None:
            return None
        row = self._reader.study(study_id)
        return None if row is None else row.notes

    def study_provenance(self, study_id: int) -> dict[str, Any] | None:
        """Where the study was made (versions, host, devices, experiment file), or None."""
        return None if self._reader is None else self._reader.provenance(study_id)

    def study_metric_names(self, study_id: int) -> list[str]:
        return [] if self._reader is None else self._reader.metric_names(study_id)
