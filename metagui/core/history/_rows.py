"""Frozen rows read back from a history: plain Python values, safe to hand to another thread."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    Row = sqlite3.Row | Mapping[str, Any]
    """A row as read: sqlite3's (by column name) or a plain mapping."""

__all__ = [
    "DIRECTIONS",
    "FINISHED_STATES",
    "STUDY_STATUSES",
    "TRIAL_STATES",
    "ArtifactRow",
    "BestSoFar",
    "Direction",
    "MetricRow",
    "StudyRow",
    "StudyStatus",
    "StudySummary",
    "TrialRow",
    "TrialState",
]

Direction = Literal["minimize", "maximize"]
StudyStatus = Literal["running", "finished", "stopped"]
TrialState = Literal["QUEUED", "RUNNING", "COMPLETE", "PRUNED", "FAILED"]

DIRECTIONS: tuple[Direction, ...] = ("minimize", "maximize")
STUDY_STATUSES: tuple[StudyStatus, ...] = ("running", "finished", "stopped")
TRIAL_STATES: tuple[TrialState, ...] = ("QUEUED", "RUNNING", "COMPLETE", "PRUNED", "FAILED")
FINISHED_STATES: tuple[TrialState, ...] = ("COMPLETE", "PRUNED", "FAILED")


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One study as stored, with its experiment as JSON text."""

    id: int
    name: str
    created: float
    spec_json: str
    direction: Direction
    strategy: str
    status: StudyStatus
    seed: int | None
    updated_seq: int

    @property
    def spec(self) -> dict[str, Any]:
        """The experiment, decoded from ``spec_json``."""
        spec: dict[str, Any] = json.loads(self.spec_json)
        return spec

    @classmethod
    def from_row(cls, row: Row) -> StudyRow:
        return cls(**{field.name: row[field.name] for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class StudySummary:
    """A study as listed: what it is, how far it got and the best value of its trials that count
    (COMPLETE and not excluded); ``counts`` holds every trial state, zeros included."""

    id: int
    name: str
    created: float
    direction: Direction
    strategy: str
    status: StudyStatus
    seed: int | None
    best_value: float | None
    counts: dict[TrialState, int]
    updated_seq: int

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class TrialRow:
    """One trial: its sampled parameters, state, result and timings (UNIX seconds)."""

    id: int
    study_id: int
    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    test_value: float | None
    seed: int | None
    started: float | None
    finished: float | None
    error: str | None
    pruned_at_step: int | None
    pruned_reason: str | None
    excluded: bool
    device: str | None
    updated_seq: int
    host: str | None = None
    """The machine the trial trained on (its hostname); None for a trial recorded before
    metagui recorded hosts."""
    retry_of: int | None = None
    """The number of the trial, lost with its worker, whose settings this one ran again."""
    seeded_from: str | None = None
    """For a trial whose settings came from the experience pool, the pool trial they came
    from (``"study-name #12"``); None for any other trial."""

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while it has not finished."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @classmethod
    def from_row(cls, row: Row) -> TrialRow:
        return cls(
            id=row["id"],
            study_id=row["study_id"],
            number=row["number"],
            state=row["state"],
            params=json.loads(row["params_json"]),
            value=row["value"],
            test_value=row["test_value"],
            seed=row["seed"],
            started=row["started"],
            finished=row["finished"],
            error=row["error"],
            pruned_at_step=row["pruned_at_step"],
            pruned_reason=row["pruned_reason"],
            excluded=bool(row["excluded"]),
            device=row["device"],
            updated_seq=row["updated_seq"],
            host=row["host"],
            retry_of=row["retry_of"],
            seeded_from=row["seeded_from"],
        )


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One value of a named series at a meta-training step: a metric (``'train/loss'``,
    ``'val/accuracy'``) or a learned hyperparameter (``'inner_lr/body.0'``).

    SQLite stores NaN as NULL, so a NaN written comes back as NaN here too."""

    id: int
    trial_id: int
    step: int
    name: str
    value: float
    time: float

    @classmethod
    def from_row(cls, row: Row) -> MetricRow:
        value = row["value"]
        return cls(
            id=row["id"],
            trial_id=row["trial_id"],
            step=row["step"],
            name=row["name"],
            value=math.nan if value is None else value,
            time=row["time"],
        )


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    """A file a study produced (``kind`` e.g. ``'checkpoint'``), optionally of one trial."""

    id: int
    study_id: int
    trial_id: int | None
    kind: str
    path: str
    created: float
    note: str | None

    @classmethod
    def from_row(cls, row: Row) -> ArtifactRow:
        return cls(**{field.name: row[field.name] for field in fields(cls)})


class BestSoFar(NamedTuple):
    """The best value among the trials that count, after trial ``number`` finished."""

    number: int
    finished: float
    best_value: float
