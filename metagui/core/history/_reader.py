"""Reading a history, in full or only what changed since the last look (for following a run
live, in this process or another), and the downsampled curves that draw a big study without
reading its metric rows."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from metagui.core.closing import Closable
from metagui.core.history._curves import Curve
from metagui.core.history._rows import (
    TRIAL_STATES,
    ArtifactRow,
    BestSoFar,
    MetricRow,
    RowValues,
    StoredRow,
    StudyRow,
    StudySummary,
    TrialRow,
    TrialState,
    decode_objective_values,
    decode_objectives,
)
from metagui.core.history._schema import connect_reader, read_error

if TYPE_CHECKING:
    from metagui.core.experience import Fingerprint

__all__ = ["Changes", "HistoryReader", "Watermark"]

R = TypeVar("R", bound=StoredRow)

# The trials that count towards a study's best: finished normally and not excluded by hand.
_COUNTING = "t.state = 'COMPLETE' AND t.excluded = 0 AND t.value IS NOT NULL"


@dataclass(frozen=True, slots=True)
class Watermark:
    """How far a reader has read: the file's change counter and the last row id of each
    append-only table. ``Watermark()`` means "nothing read yet"."""

    seq: int = 0
    metric_id: int = 0
    learned_id: int = 0
    artifact_id: int = 0


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since a watermark, read from one consistent snapshot.

    ``studies`` holds the summary of every study that changed itself or whose trials changed;
    ``trials`` the trials created or changed (their current state); the series and artifacts
    the rows added. Pass ``watermark`` to the next call. ``more`` is True when a ``limit`` cut
    the series short: call again to read the rest.
    """

    studies: tuple[StudySummary, ...]
    trials: tuple[TrialRow, ...]
    metrics: tuple[MetricRow, ...]
    learned: tuple[MetricRow, ...]
    artifacts: tuple[ArtifactRow, ...]
    watermark: Watermark
    more: bool = False

    def __bool__(self) -> bool:
        return bool(self.studies or self.trials or self.metrics or self.learned or self.artifacts)


class HistoryReader(Closable):
    """Reads a history file through its own read-only connection.

    A reader never blocks the writer and is never blocked by it (WAL: it reads a snapshot), and
    it cannot change the file. Calls are serialised by a lock, so one reader may be shared by
    threads.
    """

    def __init__(self, path: str | Path, *, upgrade: bool = False) -> None:
        """``upgrade``: migrate a history of an older schema first, where this process may
        write it (the app does; a plain reader refuses such a file and says how to upgrade)."""
        self.path = Path(path)
        # Rows come as plain tuples (no row_factory), built into row types by their from_rows.
        self._db = connect_reader(self.path, upgrade=upgrade)
        self._lock = threading.RLock()
        self._depth = 0  # nested _snapshot() uses

    # -- studies -------------------------------------------------------------------------------

    def studies(self, *, archived: bool = True) -> list[StudySummary]:
        """Every study, oldest first, with its best value and trial counts; without the
        archived ones if ``archived`` is False."""
        with self._snapshot():
            return self._summaries("1" if archived else "s.archived = 0", [])

    def study(self, name_or_id: str | int) -> StudyRow | None:
        """The study with this name (str) or id (int), or None."""
        column = "id" if isinstance(name_or_id, int) else "name"
        found = self._select(StudyRow, "studies s", f"WHERE s.{column} = ?", [name_or_id])
        return found[0] if found else None

    def fingerprint(self, name_or_id: str | int) -> Fingerprint | None:
        """The fingerprint of the problem of the study with this name (str) or id (int)
        (see :mod:`metagui.core.experience`), or None: no such study, none stored, or one
        that cannot be read."""
        column = "id" if isinstance(name_or_id, int) else "name"
        text = self._scalar(f"SELECT fingerprint FROM studies WHERE {column} = ?", [name_or_id])
        return None if text is None else _fingerprint(text)

    def fingerprints(self) -> dict[int, Fingerprint]:
        """The fingerprint of every study that has one, by study id (one query)."""
        rows = self._rows("SELECT id, fingerprint FROM studies WHERE fingerprint IS NOT NULL", [])
        found = {row[0]: _fingerprint(row[1]) for row in rows}
        return {study_id: f for study_id, f in found.items() if f is not None}

    def experience(self, name_or_id: str | int) -> dict[str, Any] | None:
        """What the study with this name (str) or id (int) learned from: its experience pool
        as recorded (see :mod:`metagui.core.experience`), or None: no such study, one that
        learned from none, or a record that cannot be read."""
        column = "id" if isinstance(name_or_id, int) else "name"
        text = self._scalar(f"SELECT experience FROM studies WHERE {column} = ?", [name_or_id])
        return _json_object(text)

    def provenance(self, name_or_id: str | int) -> dict[str, Any] | None:
        """Where the study with this name (str) or id (int) was made, as recorded when it
        was created (see :mod:`metagui.core.provenance`), or None: no such study, one made
        before metagui recorded it, or a record that cannot be read."""
        column = "id" if isinstance(name_or_id, int) else "name"
        text = self._scalar(f"SELECT provenance FROM studies WHERE {column} = ?", [name_or_id])
        return _json_object(text)

    def artifacts(self, study_id: int) -> list[ArtifactRow]:
        """The files a study recorded, oldest first."""
        return self._select(
            ArtifactRow, "artifacts a", "WHERE a.study_id = ? ORDER BY a.id", [study_id]
        )

    # -- trials --------------------------------------------------------------------------------

    def trials(self, study_id: int) -> list[TrialRow]:
        """A study's trials by number."""
        return self._select(
            TrialRow, "trials t", "WHERE t.study_id = ? ORDER BY t.number", [study_id]
        )

    def trial(self, trial_id: int) -> TrialRow | None:
        """One trial by id, or None."""
        found = self._select(TrialRow, "trials t", "WHERE t.id = ?", [trial_id])
        return found[0] if found else None

    def best_trial(self, study_id: int) -> TrialRow | None:
        """The COMPLETE, not excluded trial with the best value in the study's direction
        (the lower number on a tie), or None if there is none yet."""
        found = self._select(
            TrialRow,
            "trials t",
            f"JOIN studies s ON s.id = t.study_id WHERE t.study_id = ? AND {_COUNTING} "
            "ORDER BY CASE s.direction WHEN 'minimize' THEN t.value ELSE -t.value END, t.number "
            "LIMIT 1",
            [study_id],
        )
        return found[0] if found else None

    def best_so_far(self, study_id: int) -> list[BestSoFar]:
        """The best value after each counting trial finished, in order of finishing."""
        with self._snapshot():
            direction = self._scalar("SELECT direction FROM studies WHERE id = ?", [study_id])
            rows = self._rows(
                f"SELECT t.number, t.finished, t.value FROM trials t WHERE t.study_id = ? "
                f"AND {_COUNTING} ORDER BY t.finished, t.number",
                [study_id],
            )
        points: list[BestSoFar] = []
        for number, finished, value in rows:
            if points:
                best = points[-1].best_value
                value = min(value, best) if direction == "minimize" else max(value, best)
            points.append(BestSoFar(number, finished, value))
        return points

    # -- per-step series -----------------------------------------------------------------------

    def metrics(self, trial_id: int, name: str | None = None) -> list[MetricRow]:
        """A trial's metric rows (only ``name`` if given), by name then step."""
        return self._series("metrics", trial_id, name)

    def learned(self, trial_id: int, name: str | None = None) -> list[MetricRow]:
        """A trial's learned hyperparameter rows (only ``name`` if given), by name then step."""
        return self._series("learned", trial_id, name)

    def curves(
        self, study_id: int, name: str, trial_ids: Iterable[int] | None = None
    ) -> list[Curve]:
        """The stored downsampled curves of metric ``name`` of a study's trials (only of
        ``trial_ids`` if given), by trial number: a few kilobytes per trial, however long it
        trained (see :mod:`metagui.core.history._curves`)."""
        sql = "JOIN trials t ON t.id = c.trial_id WHERE t.study_id = ? AND c.name = ?"
        params: list[Any] = [study_id, name]
        if trial_ids is not None:
            wanted = sorted(set(trial_ids))
            if not wanted:
                return []
            # Through json_each: one parameter however many trials (SQLite caps parameters).
            sql += " AND t.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(wanted))
        return self._select(Curve, "curves c", sql + " ORDER BY t.number", params)

    def metric_names(self, study_id: int) -> list[str]:
        """The names of the metric series a study's trials recorded, sorted."""
        rows = self._rows(
            "SELECT DISTINCT c.name FROM trials t JOIN curves c ON c.trial_id = t.id "
            "WHERE t.study_id = ? ORDER BY c.name",
            [study_id],
        )
        return [row[0] for row in rows]

    # -- following a live run ------------------------------------------------------------------

    def changes_since(
        self,
        watermark: Watermark | None = None,
        *,
        limit: int | None = None,
        series: bool = True,
    ) -> Changes:
        """Everything added or changed after ``watermark`` (everything if None), from one
        snapshot. ``limit`` caps the metric and learned rows returned per call. With
        ``series=False`` no metric or learned rows are returned and the watermark passes over
        them: for a reader that reads curves and series on demand instead (the first look
        at a big history).

        Cheap when little changed: studies and trials are found through their ``updated_seq``
        index, series and artifacts through their id."""
        mark = watermark or Watermark()
        row_limit = (-1 if limit is None else limit) if series else 0
        with self._snapshot():
            seq = int(self._scalar("SELECT value FROM meta WHERE key = 'seq'"))
            studies: list[StudySummary] = []
            trials: list[TrialRow] = []
            if seq != mark.seq:
                studies = self._summaries(
                    "s.updated_seq > ? OR s.id IN (SELECT study_id FROM trials "
                    "WHERE updated_seq > ?)",
                    [mark.seq, mark.seq],
                )
                trials = self._select(
                    TrialRow,
                    "trials t",
                    "WHERE t.updated_seq > ? ORDER BY t.updated_seq, t.id",
                    [mark.seq],
                )
            metrics, learned = (
                self._select(
                    MetricRow, table, "WHERE id > ? ORDER BY id LIMIT ?", [after, row_limit]
                )
                for table, after in (("metrics", mark.metric_id), ("learned", mark.learned_id))
            )
            artifacts = self._select(
                ArtifactRow, "artifacts a", "WHERE a.id > ? ORDER BY a.id", [mark.artifact_id]
            )
            metric_id = metrics[-1].id if metrics else mark.metric_id
            learned_id = learned[-1].id if learned else mark.learned_id
            if not series:
                metric_id = max(self._scalar("SELECT MAX(id) FROM metrics") or 0, metric_id)
                learned_id = max(self._scalar("SELECT MAX(id) FROM learned") or 0, learned_id)
        new_mark = Watermark(
            seq=seq,
            metric_id=metric_id,
            learned_id=learned_id,
            artifact_id=artifacts[-1].id if artifacts else mark.artifact_id,
        )
        more = series and limit is not None and (len(metrics) == limit or len(learned) == limit)
        return Changes(
            tuple(studies),
            tuple(trials),
            tuple(metrics),
            tuple(learned),
            tuple(artifacts),
            new_mark,
            more,
        )

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection. Closing twice does nothing."""
        with self._lock:
            self._db.close()

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Run several queries against one snapshot of the file (a read transaction), so
        their answers agree with each other. Nested uses share the outer snapshot. A query that
        meets a damaged page raises a :class:`MetaguiError` that says so."""
        try:
            with self._lock:
                if self._depth == 0:
                    self._db.execute("BEGIN")
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                    if self._depth == 0 and self._db.in_transaction:
                        self._db.execute("COMMIT")  # read-only: ends the snapshot
        except sqlite3.DatabaseError as error:
            raise read_error(self.path, error) from error

    def _rows(self, sql: str, params: list[Any]) -> list[RowValues]:
        with self._snapshot():
            return self._db.execute(sql, params).fetchall()

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        with self._snapshot():
            row = self._db.execute(sql, params or []).fetchone()
        return None if row is None else row[0]

    def _select(self, row_type: type[R], table: str, rest: str, params: list[Any]) -> list[R]:
        """``SELECT`` ``row_type``'s columns ``FROM`` its ``table`` (``"trials"`` or, with an
        alias, ``"trials t"``) and ``rest`` (joins, ``WHERE``, ``ORDER BY``, ``LIMIT``)."""
        alias = table.split()[-1]
        rows = self._rows(f"SELECT {row_type.select(alias)} FROM {table} {rest}", params)
        return row_type.from_rows(rows)

    def _series(self, table: str, trial_id: int, name: str | None) -> list[MetricRow]:
        where = "trial_id = ?" if name is None else "trial_id = ? AND name = ?"
        params: list[Any] = [trial_id] if name is None else [trial_id, name]
        return self._select(MetricRow, table, f"WHERE {where} ORDER BY name, step, id", params)

    def _summaries(self, where: str, params: list[Any]) -> list[StudySummary]:
        """Summaries of the studies matching ``where`` (over ``studies s``), oldest first."""
        rows = self._rows(
            "SELECT s.id, s.name, s.created, s.direction, s.strategy, s.status, s.seed, "
            "(SELECT CASE s.direction WHEN 'minimize' THEN MIN(t.value) ELSE MAX(t.value) END "
            f"FROM trials t WHERE t.study_id = s.id AND {_COUNTING}), s.updated_seq, s.tags, "
            "s.archived "
            f"FROM studies s WHERE {where} ORDER BY s.created, s.id",
            params,
        )
        counts: dict[int, dict[TrialState, int]] = {
            row[0]: dict.fromkeys(TRIAL_STATES, 0) for row in rows
        }
        for study_id, state, n in self._rows(
            "SELECT study_id, state, COUNT(*) FROM trials WHERE study_id IN "
            f"(SELECT s.id FROM studies s WHERE {where}) GROUP BY study_id, state",
            params,
        ):
            counts[study_id][state] = n
        return StudySummary.from_rows(rows, counts, self._front_sizes(where, params))

    def _front_sizes(self, where: str, params: list[Any]) -> dict[int, int]:
        """How many trials each two-objective study matching ``where`` has on its Pareto
        front (its complete trials that count), by study id; the others are left out."""
        multi = {
            study_id: tuple(o.direction for o in decode_objectives(text))
            for study_id, text in self._rows(
                f"SELECT s.id, s.objectives FROM studies s WHERE ({where}) "
                "AND s.objectives IS NOT NULL",
                params,
            )
        }
        if not multi:
            return {}
        # Imported here: the front's NumPy is for histories that hold such a study.
        from metagui.core.pareto import pareto_front

        points: dict[int, list[tuple[float, ...]]] = {study_id: [] for study_id in multi}
        marks = ", ".join("?" * len(multi))
        for study_id, text in self._rows(
            f"SELECT t.study_id, t.objective_values FROM trials t WHERE t.study_id IN ({marks}) "
            f"AND t.objective_values IS NOT NULL AND {_COUNTING}",
            list(multi),
        ):
            values = decode_objective_values(text)
            if values is not None and len(values) == len(multi[study_id]):
                points[study_id].append(values)
        return {
            study_id: len(pareto_front(found, multi[study_id]))
            for study_id, found in points.items()
        }


def _json_object(text: str | None) -> dict[str, Any] | None:
    """A stored JSON object, or None where there is none or its text is not one."""
    if text is None:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _fingerprint(text: str) -> Fingerprint | None:
    """A stored fingerprint, or None where its text cannot be read as one (damaged by hand):
    the experience pool then fingerprints that study's stored experiment again."""
    # Imported here: the experience package is not needed to open and follow a history.
    from metagui.core.experience import Fingerprint

    try:
        return Fingerprint.from_json(text)
    except ValueError:
        return None
