"""Frozen rows read back from a history: plain Python values, safe to hand to another thread.

Every row type is built the one way :class:`StoredRow` defines: select its ``COLUMNS`` (see
:meth:`StoredRow.select`) as plain tuples (no ``row_factory``: the fastest rows sqlite3 makes)
and pass them to its ``from_rows``, which builds the whole list in one comprehension, a tuple
unpack per row, for the 10,000 trials and millions of metric rows of a big history.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, NamedTuple, Self

__all__ = [
    "DIRECTIONS",
    "FINISHED_STATES",
    "STUDY_STATUSES",
    "TRIAL_STATES",
    "ArtifactRow",
    "BestSoFar",
    "Direction",
    "MetricRow",
    "Objective",
    "RowValues",
    "StoredRow",
    "StudyRow",
    "StudyStatus",
    "StudySummary",
    "TrialRow",
    "TrialState",
    "columns_of",
    "decode_objective_values",
    "decode_objectives",
    "decode_tags",
]

Direction = Literal["minimize", "maximize"]
StudyStatus = Literal["running", "finished", "stopped"]
TrialState = Literal["QUEUED", "RUNNING", "COMPLETE", "PRUNED", "FAILED"]

DIRECTIONS: tuple[Direction, ...] = ("minimize", "maximize")
STUDY_STATUSES: tuple[StudyStatus, ...] = ("running", "finished", "stopped")
TRIAL_STATES: tuple[TrialState, ...] = ("QUEUED", "RUNNING", "COMPLETE", "PRUNED", "FAILED")
FINISHED_STATES: tuple[TrialState, ...] = ("COMPLETE", "PRUNED", "FAILED")

RowValues = Sequence[Any]
"""One row as sqlite3 returns it without a ``row_factory``: a tuple of column values."""


class StoredRow:
    """A row type read from one table: ``COLUMNS`` are its stored columns in the order of its
    fields, and :meth:`from_rows` builds rows from tuples of exactly those columns."""

    __slots__ = ()

    COLUMNS: ClassVar[tuple[str, ...]]

    @classmethod
    def select(cls, table: str) -> str:
        """The ``SELECT`` list of :attr:`COLUMNS` from ``table`` (its name or alias)."""
        return ", ".join(f"{table}.{column}" for column in cls.COLUMNS)

    @classmethod
    def from_rows(cls, rows: Iterable[RowValues]) -> list[Self]:
        """Rows of :attr:`COLUMNS`, built in order. This default suits a type whose fields
        are its columns as stored; a type that decodes a column overrides it."""
        return [cls(*row) for row in rows]


def decode_tags(text: str | None) -> tuple[str, ...]:
    """Tags as stored (a JSON list, or NULL for none) as a tuple; a list damaged by hand
    reads as its string items."""
    if not text:
        return ()
    try:
        found = json.loads(text)
    except ValueError:
        return ()
    return tuple(item for item in found if isinstance(item, str)) if isinstance(found, list) else ()


class Objective(NamedTuple):
    """One objective of a multi-objective study: the name of what a trial is scored by (a
    stored metric such as ``val/accuracy``, or a measure of the trial such as ``parameters``)
    and which way is better."""

    name: str
    direction: Direction


def decode_objectives(text: str | None) -> tuple[Objective, ...]:
    """A study's objectives as stored (a JSON list of ``{"name", "direction"}``; NULL for a
    single-objective study) as a tuple, empty for a study of one objective."""
    if not text:
        return ()
    found = json.loads(text)
    return tuple(Objective(str(item["name"]), item["direction"]) for item in found)


def decode_objective_values(text: str | None) -> tuple[float, ...] | None:
    """A trial's objective values as stored (a JSON list, one per objective, ``null`` for a
    value that is not a number) as floats (NaN for those), or None when none were stored."""
    if not text:
        return None
    nan = math.nan
    return tuple(nan if value is None else float(value) for value in json.loads(text))


def columns_of(row_type: type[StoredRow], **stored_as: str) -> tuple[str, ...]:
    """The columns of ``row_type``'s fields, in order; ``stored_as`` renames a field's."""
    return tuple(stored_as.get(field.name, field.name) for field in fields(row_type))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StudyRow(StoredRow):
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
    notes: str | None = None
    """The researcher's notes on the study (free text), or None."""
    tags: tuple[str, ...] = ()
    """The study's tags: short words (``baseline``, ``lr-sweep``), in the order given."""
    archived: bool = False
    """Hidden from the list of studies (``metagui history --all`` shows it)."""
    objectives: tuple[Objective, ...] = ()
    """A multi-objective study's objectives, in order (``direction`` is the first's); empty
    for a study of one objective."""

    @property
    def multi_objective(self) -> bool:
        """Whether trials are scored by several objectives (their ``values``)."""
        return len(self.objectives) > 1

    @property
    def directions(self) -> tuple[Direction, ...]:
        """Which way each objective is better: one direction for a single-objective study."""
        return tuple(o.direction for o in self.objectives) or (self.direction,)

    @property
    def spec(self) -> dict[str, Any]:
        """The experiment, decoded from ``spec_json``."""
        spec: dict[str, Any] = json.loads(self.spec_json)
        return spec

    @classmethod
    def from_rows(cls, rows: Iterable[RowValues]) -> list[Self]:
        """Studies from rows of :attr:`COLUMNS`: ``tags`` and ``objectives`` decoded,
        ``archived`` from 0/1."""
        # Positional, by slices: mypy cannot count starred arguments.
        return [
            cls(*row[:10], decode_tags(row[10]), bool(row[11]), decode_objectives(row[12]))  # type: ignore[call-arg]
            for row in rows
        ]


StudyRow.COLUMNS = columns_of(StudyRow)


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
    tags: tuple[str, ...] = ()
    archived: bool = False
    """Hidden from the list of studies unless asked for (``metagui history --all``)."""
    front_size: int | None = None
    """A two-objective study's count of trials on its Pareto front (no one trial is best:
    ``best_value`` is the first objective's); None for a study of one objective."""

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[RowValues],
        counts: Mapping[int, dict[TrialState, int]],
        fronts: Mapping[int, int] | None = None,
    ) -> list[StudySummary]:
        """Summaries of rows of (id, name, created, direction, strategy, status, seed,
        best_value, updated_seq, tags, archived), with each study's trial ``counts`` by
        study id, and the front sizes of the two-objective ones (``fronts``, by study id)."""
        fronts = fronts or {}
        # Positional, by slices: mypy cannot count starred arguments.
        return [
            cls(  # type: ignore[call-arg]
                *row[:8],
                counts[row[0]],
                row[8],
                decode_tags(row[9]),
                bool(row[10]),
                fronts.get(row[0]),
            )
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class TrialRow(StoredRow):
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
    notes: str | None = None
    """The researcher's notes on the trial (free text), or None."""
    tags: tuple[str, ...] = ()
    """The trial's tags: short words, in the order given."""
    values: tuple[float, ...] | None = None
    """A multi-objective trial's values, one per objective of its study (``value`` is the
    first); None for a trial of a single-objective study or one without a result."""
    outside_space: bool = False
    """The trial's settings lie outside its study's current search space (edited after it
    ran): it stays in the history, but no longer steers the search."""

    @property
    def objective_values(self) -> tuple[float, ...] | None:
        """The trial's result as one value per objective: ``values`` for a multi-objective
        trial, ``(value,)`` for a single-objective one; None without a result."""
        if self.values is not None:
            return self.values
        return None if self.value is None else (self.value,)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while it has not finished."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @classmethod
    def from_rows(cls, rows: Iterable[RowValues]) -> list[Self]:
        """Trials from rows of :attr:`COLUMNS`: ``params`` decoded from its JSON text,
        ``excluded`` and ``outside_space`` from 0/1, ``tags`` and ``values`` from their JSON
        lists (NULL, the common case, costs no decoding)."""
        loads = json.loads
        # Positional, by slices: mypy cannot count starred arguments.
        return [
            cls(  # type: ignore[call-arg]
                *row[:4],
                loads(row[4]),
                *row[5:13],
                bool(row[13]),
                *row[14:20],
                () if row[20] is None else decode_tags(row[20]),
                None if row[21] is None else decode_objective_values(row[21]),
                bool(row[22]),
            )
            for row in rows
        ]


TrialRow.COLUMNS = columns_of(TrialRow, params="params_json", values="objective_values")


@dataclass(frozen=True, slots=True)
class MetricRow(StoredRow):
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
    def from_rows(cls, rows: Iterable[RowValues]) -> list[Self]:
        """Values from rows of :attr:`COLUMNS`, a NULL value read as NaN."""
        nan = math.nan
        return [
            cls(id, trial_id, step, name, nan if value is None else value, time)
            for id, trial_id, step, name, value, time in rows
        ]


MetricRow.COLUMNS = columns_of(MetricRow)


@dataclass(frozen=True, slots=True)
class ArtifactRow(StoredRow):
    """A file a study produced (``kind`` e.g. ``'checkpoint'``), optionally of one trial."""

    id: int
    study_id: int
    trial_id: int | None
    kind: str
    path: str
    created: float
    note: str | None


ArtifactRow.COLUMNS = columns_of(ArtifactRow)


class BestSoFar(NamedTuple):
    """The best value among the trials that count, after trial ``number`` finished."""

    number: int
    finished: float
    best_value: float
