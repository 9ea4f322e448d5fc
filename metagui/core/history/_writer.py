"""The one writer of a history file: studies, trials, per-step series and artifacts."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from time import monotonic  # by name, so a test can replace the flush clock
from typing import Any

from metagui.core.closing import Closable
from metagui.core.errors import MetaguiError
from metagui.core.history._curves import Curve, CurveBuilder, store
from metagui.core.history._lease import Holder, Lease
from metagui.core.history._notebook import NotebookWriting
from metagui.core.history._rows import (
    DIRECTIONS,
    FINISHED_STATES,
    STUDY_STATUSES,
    Direction,
    Objective,
    StudyRow,
    StudyStatus,
    TrialState,
)
from metagui.core.history._schema import connect_writer, write_transaction
from metagui.core.reports import StepReport

__all__ = ["HistoryWriter", "step_metrics"]

_SERIES = ("metrics", "learned")
_INSERT = {
    series: f"INSERT INTO {series} (trial_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)"
    for series in _SERIES
}
SeriesRow = tuple[int, int, str, float, float]


def step_metrics(report: StepReport) -> dict[str, float]:
    """The metric values of one training step under their stored names: ``train/loss``,
    ``train/accuracy``, ``val/<metric>`` and ``val/<metric>_ci95`` (after the last adaptation
    step). Learned hyperparameters are stored separately, under ``report.learned``'s names."""
    values = {"train/loss": report.train_loss}
    if report.train_accuracy is not None:
        values["train/accuracy"] = report.train_accuracy
    if report.validation is not None:
        values[f"val/{report.validation.metric}"] = report.validation.final
        values[f"val/{report.validation.metric}_ci95"] = report.validation.final_ci95
    return values


class HistoryWriter(NotebookWriting, Closable):
    """Writes one history file; create it where the training runs (the worker).

    Every study and trial change is its own committed transaction, so a crash never loses a
    finished trial. Per-step series rows are buffered and written in one transaction every
    ``flush_seconds`` seconds (checked when rows are added), on :meth:`flush`, with every
    other change, and whenever ``flush_rows`` rows are waiting (a bound on memory); a crash
    loses at most that last buffer: the last second of metrics. Each flush is one
    ``executemany`` per series and one transaction (one disk sync), which is what lets a run
    log tens of thousands of rows a second. With the rows, each metric series' downsampled
    curve (:mod:`metagui.core.history._curves`) is kept up to date in the same transaction.

    Calls are serialised by a lock, so the writer may be made in one thread and used in another
    (or, rarely, from two). The notebook's methods (notes, tags, archiving, renaming and
    deleting studies) come from :class:`NotebookWriting`.
    """

    def __init__(
        self, path: str | Path, *, flush_rows: int = 50_000, flush_seconds: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._db = connect_writer(self.path)
        self._lock = threading.RLock()
        self._pending: dict[str, list[SeriesRow]] = {series: [] for series in _SERIES}
        self._pending_rows = 0
        # (trial id, metric name) -> its curve; the changed ones are stored at the next flush
        self._curves: dict[tuple[int, str], CurveBuilder] = {}
        self._changed_curves: set[tuple[int, str]] = set()
        self._last_flush = monotonic()
        self._known_trials: set[int] = set()
        self._closed = False

    # -- studies -------------------------------------------------------------------------------

    def create_study(
        self,
        name: str,
        spec_json: str,
        direction: Direction,
        strategy: str,
        seed: int | None = None,
        *,
        fingerprint_json: str | None = None,
        provenance_json: str | None = None,
        objectives: Sequence[Objective] = (),
    ) -> int:
        """Record a new study and return its id; a name already taken is refused.
        ``fingerprint_json``: its problem's fingerprint (``Fingerprint.to_json()`` of
        :mod:`metagui.core.experience`), read back by :meth:`HistoryReader.fingerprint`.
        ``provenance_json``: where it is made (a JSON object, see
        :mod:`metagui.core.provenance`), read back by :meth:`HistoryReader.provenance`.
        ``objectives``: a multi-objective study's objectives (two or more; ``direction`` must
        be the first's); empty for a study of one objective."""
        _require_choice("direction", direction, DIRECTIONS)
        if objectives:
            if len(objectives) < 2:
                raise MetaguiError(f"study {name!r}: give two or more objectives, or none")
            for objective in objectives:
                _require_choice("objective direction", objective.direction, DIRECTIONS)
            if objectives[0].direction != direction:
                raise MetaguiError(
                    f"study {name!r}: direction {direction!r} is not the first objective's "
                    f"({objectives[0].direction!r})"
                )
        _json_text(name, "spec_json", spec_json)
        if fingerprint_json is not None and not isinstance(
            _json_text(name, "fingerprint_json", fingerprint_json), dict
        ):
            raise MetaguiError(f"study {name!r}: fingerprint_json is not a JSON object")
        if provenance_json is not None and not isinstance(
            _json_text(name, "provenance_json", provenance_json), dict
        ):
            raise MetaguiError(f"study {name!r}: provenance_json is not a JSON object")
        with self._transaction():
            if self._scalar("SELECT 1 FROM studies WHERE name = ?", [name]) is not None:
                raise MetaguiError(f"{self.path}: a study named {name!r} already exists")
            row = {
                "name": name,
                "created": time.time(),
                "spec_json": spec_json,
                "direction": direction,
                "strategy": strategy,
                "status": "running",
                "seed": seed,
                "updated_seq": self._next_seq(),
            }
            if fingerprint_json is not None:
                row["fingerprint"] = fingerprint_json
            if provenance_json is not None:
                row["provenance"] = provenance_json
            if objectives:
                row["objectives"] = json.dumps(
                    [{"name": o.name, "direction": o.direction} for o in objectives]
                )
            return self._insert("studies", row)

    def set_study_experience(self, study_id: int, experience_json: str) -> None:
        """Record what the study learns from (its experience pool, as a JSON object), read
        back by :meth:`HistoryReader.experience`; a resumed study reads the same pool from it."""
        if not isinstance(_json_text(str(study_id), "experience_json", experience_json), dict):
            raise MetaguiError(f"study {study_id}: experience_json is not a JSON object")
        self._update("studies", study_id, {"experience": experience_json})

    def set_study_experiment(
        self, study_id: int, spec_json: str, strategy: str, *, fingerprint_json: str | None = None
    ) -> None:
        """Make ``spec_json`` the study's stored experiment (resumed with an edited search
        space, see :mod:`metagui.core.space_edit`), with its strategy's name and, if given,
        its problem's new fingerprint."""
        _json_text(str(study_id), "spec_json", spec_json)
        changes = {"spec_json": spec_json, "strategy": strategy}
        if fingerprint_json is not None:
            _json_text(str(study_id), "fingerprint_json", fingerprint_json)
            changes["fingerprint"] = fingerprint_json
        self._update("studies", study_id, changes)

    def get_study(self, name: str) -> StudyRow | None:
        """The study called ``name``, or None."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {StudyRow.select('studies')} FROM studies WHERE name = ?", [name]
            ).fetchall()
        found = StudyRow.from_rows(rows)
        return found[0] if found else None

    def set_study_status(self, study_id: int, status: StudyStatus) -> None:
        """Mark a study running, finished or stopped."""
        _require_choice("status", status, STUDY_STATUSES)
        self._update("studies", study_id, {"status": status})

    # -- trials --------------------------------------------------------------------------------

    def start_trial(
        self,
        study_id: int,
        number: int,
        params: Mapping[str, Any],
        seed: int | None = None,
        device: str | None = None,
        *,
        retry_of: int | None = None,
        seeded_from: str | None = None,
    ) -> int:
        """Record trial ``number`` of a study as RUNNING with its sampled ``params``; return
        its id. A number already used in the study is refused. ``retry_of``: the number of
        the trial, lost with its worker, whose settings this one runs again. ``seeded_from``:
        the experience-pool trial whose settings this one runs (``"study-name #12"``)."""
        params_json = _params_json(params)
        with self._lock, self._transaction():
            if self._scalar("SELECT 1 FROM studies WHERE id = ?", [study_id]) is None:
                raise MetaguiError(f"{self.path}: no study with id {study_id}")
            taken = "SELECT 1 FROM trials WHERE study_id = ? AND number = ?"
            if self._scalar(taken, [study_id, number]) is not None:
                raise MetaguiError(f"{self.path}: study {study_id} already has a trial {number}")
            row = {
                "study_id": study_id,
                "number": number,
                "state": "RUNNING",
                "params_json": params_json,
                "seed": seed,
                "started": time.time(),
                "device": device,
                "excluded": 0,
                "retry_of": retry_of,
                "seeded_from": seeded_from,
                "updated_seq": self._next_seq(),
            }
            trial_id = self._insert("trials", row)
        # Known only once committed: series rows for an uncommitted trial would fail every
        # later transaction on their foreign key.
        self._known_trials.add(trial_id)
        return trial_id

    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        value: float | None = None,
        test_value: float | None = None,
        error: str | None = None,
        pruned_at_step: int | None = None,
        pruned_reason: str | None = None,
        *,
        values: Sequence[float] | None = None,
    ) -> None:
        """End a running trial as COMPLETE, PRUNED or FAILED, with its buffered series rows,
        in one committed transaction. Ending a trial twice is refused. ``values``: a
        multi-objective trial's values, one per objective (``value`` is then the first)."""
        _require_choice("state", state, FINISHED_STATES)
        with self._transaction():
            current = self._scalar("SELECT state FROM trials WHERE id = ?", [trial_id])
            if current is None:
                raise MetaguiError(f"{self.path}: no trial with id {trial_id}")
            if current in FINISHED_STATES:
                raise MetaguiError(f"{self.path}: trial {trial_id} already ended as {current}")
            changes = {
                "state": state,
                "value": _optional_float(value),
                "test_value": _optional_float(test_value),
                "error": error,
                "pruned_at_step": pruned_at_step,
                "pruned_reason": pruned_reason,
                "finished": time.time(),
                "updated_seq": self._next_seq(),
            }
            if values is not None:
                changes["objective_values"] = _values_json(values)
            self._db.execute(
                f"UPDATE trials SET {', '.join(f'{column} = ?' for column in changes)} "
                "WHERE id = ?",
                [*changes.values(), trial_id],
            )
        # Its curves are stored: a finished trial logs no more.
        for key in [key for key in self._curves if key[0] == trial_id]:
            del self._curves[key]

    def set_trial_placement(self, trial_id: int, host: str, device: str) -> None:
        """Record where a running trial trains: the machine's name and the device's."""
        self._update("trials", trial_id, {"host": host, "device": device})

    def set_outside_space(self, study_id: int, numbers: Iterable[int]) -> None:
        """Mark the study's trials ``numbers`` as lying outside its current search space (after
        an edit of the space) and every other trial of the study as inside it."""
        outside = sorted(set(numbers))
        with self._lock, self._transaction():
            rows = self._db.execute(
                "SELECT id, number, outside_space FROM trials WHERE study_id = ?", [study_id]
            ).fetchall()
            for trial_id, number, was in rows:
                now = int(number in outside)
                if now != was:
                    self._db.execute(
                        "UPDATE trials SET outside_space = ?, updated_seq = ? WHERE id = ?",
                        [now, self._next_seq(), trial_id],
                    )

    def set_excluded(self, trial_id: int, excluded: bool) -> None:
        """Leave a trial out of (or take it back into) best values and best-so-far."""
        self._update("trials", trial_id, {"excluded": int(bool(excluded))})

    # -- the study's lease -----------------------------------------------------------------------

    def acquire_lease(self, study_id: int, *, force: bool = False) -> Lease:
        """Take the lease of a study for this process: refused (``MetaguiError``) while
        another live process holds it, unless ``force``; a stale one is taken over, and the
        returned lease says whose it was."""
        lease_token = Lease.token_for_this_process()
        now = time.time()
        with self._transaction():
            row = self._db.execute(
                "SELECT pid, host, since, heartbeat FROM leases WHERE study_id = ?", [study_id]
            ).fetchone()
            took_over = None
            if row is not None:
                pid, host, since, heartbeat = row
                holder = Holder(pid, host, since, heartbeat)
                why = holder.stale(now)
                if why is None and not force:
                    name = self._scalar("SELECT name FROM studies WHERE id = ?", [study_id])
                    raise MetaguiError(
                        f"study {name!r} is being run by {holder.describe()}; wait for it, or "
                        "use --force after checking that it is gone"
                    )
                took_over = why or f"{holder.describe()}, taken by force"
                self._db.execute("DELETE FROM leases WHERE study_id = ?", [study_id])
            self._db.execute(
                "INSERT INTO leases (study_id, token, pid, host, since, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [study_id, lease_token, os.getpid(), socket.gethostname(), now, now],
            )
        return Lease(study_id, lease_token, took_over)

    def renew_lease(self, lease: Lease) -> None:
        """Say that the lease's process is still running the study. A lease taken over by
        another process (``--force``) is refused: this process must stop."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE leases SET heartbeat = ? WHERE study_id = ? AND token = ?",
                [time.time(), lease.study_id, lease.token],
            )
            if cursor.rowcount == 0:
                raise MetaguiError(
                    f"{self.path}: another process took over this study's lease (--force); "
                    "this run stops"
                )

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up (the run ended); nothing if another process took it over."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM leases WHERE study_id = ? AND token = ?",
                [lease.study_id, lease.token],
            )

    def mark_running_trials_failed(self, study_id: int, reason: str) -> int:
        """End every trial of a study still RUNNING (left so by a crash) as FAILED with
        ``reason``; return how many there were. Call it before resuming a study."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE trials SET state = 'FAILED', error = ?, finished = ?, updated_seq = ? "
                "WHERE study_id = ? AND state = 'RUNNING'",
                [reason, time.time(), self._next_seq(), study_id],
            )
            return cursor.rowcount

    # -- per-step series -----------------------------------------------------------------------

    def add_metrics(
        self, trial_id: int, step: int, values: Mapping[str, float], time: float | None = None
    ) -> None:
        """Buffer metric values (``{'train/loss': 0.3, 'val/accuracy': 0.8}``) of a step."""
        self._buffer("metrics", trial_id, step, values, time)

    def add_learned(
        self, trial_id: int, step: int, values: Mapping[str, float], time: float | None = None
    ) -> None:
        """Buffer learned hyperparameter values (``{'inner_lr/body.0': 0.01}``) of a step."""
        self._buffer("learned", trial_id, step, values, time)

    def add_step(self, trial_id: int, report: StepReport, time: float | None = None) -> None:
        """Buffer the metrics (see :func:`step_metrics`) and learned values of a StepReport."""
        self.add_metrics(trial_id, report.step, step_metrics(report), time)
        if report.learned:
            self.add_learned(trial_id, report.step, report.learned, time)

    def flush(self) -> None:
        """Write the buffered series rows now, in one transaction."""
        with self._lock:
            if self._pending_rows:
                # Committing a transaction is what writes the buffered rows (see _transaction).
                with self._transaction():
                    pass
            self._last_flush = monotonic()

    # -- artifacts -----------------------------------------------------------------------------

    def add_artifact(
        self,
        study_id: int,
        kind: str,
        path: str | Path,
        trial_id: int | None = None,
        note: str | None = None,
    ) -> int:
        """Record a file the study produced (``kind`` e.g. 'checkpoint'); return its id."""
        row = {
            "study_id": study_id,
            "trial_id": trial_id,
            "kind": kind,
            "path": str(path),
            "created": time.time(),
            "note": note,
        }
        with self._transaction():
            try:
                return self._insert("artifacts", row)
            except sqlite3.IntegrityError as error:
                raise MetaguiError(
                    f"{self.path}: artifact for unknown study {study_id} or trial {trial_id}"
                ) from error

    def update_artifacts(
        self, *, notes: Mapping[int, str | None] | None = None, remove: Iterable[int] = ()
    ) -> None:
        """Change the notes of artifacts (id -> note) and forget the artifacts ``remove``
        names (their rows: deleting their files is the caller's), in one transaction."""
        with self._transaction():
            for artifact_id, note in (notes or {}).items():
                self._db.execute("UPDATE artifacts SET note = ? WHERE id = ?", [note, artifact_id])
            self._db.executemany("DELETE FROM artifacts WHERE id = ?", [[i] for i in remove])

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is buffered and close the file. Closing twice does nothing."""
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
                # Copy what readers do not hold back into the main file now, so the .db file
                # alone is complete; PASSIVE never waits for a reader. A checkpoint the disk
                # cannot take (full) loses nothing: the WAL keeps those commits, and the next
                # opening of the file copies them.
                with contextlib.suppress(sqlite3.DatabaseError):
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                self._closed = True
                self._db.close()

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction that also writes the buffered series rows; the buffer is
        emptied only once they are committed, so a failed commit loses nothing."""
        with self._lock:
            if self._closed:
                raise MetaguiError(f"{self.path}: the history writer is closed")
            with write_transaction(self._db, self.path):
                for series, rows in self._pending.items():
                    if rows:
                        self._db.executemany(_INSERT[series], rows)
                if self._changed_curves:
                    store(
                        self._db,
                        [self._curves[key].row(*key) for key in self._changed_curves],
                    )
                yield
            for rows in self._pending.values():
                rows.clear()
            self._pending_rows = 0
            self._changed_curves.clear()
            self._last_flush = monotonic()

    def _buffer(
        self,
        series: str,
        trial_id: int,
        step: int,
        values: Mapping[str, float],
        when: float | None,
    ) -> None:
        with self._lock:
            # Checked here, not at flush: a row for a missing trial would make every later
            # transaction fail on its foreign key.
            if trial_id not in self._known_trials:
                if self._scalar("SELECT 1 FROM trials WHERE id = ?", [trial_id]) is None:
                    raise MetaguiError(f"{self.path}: no trial with id {trial_id}")
                self._known_trials.add(trial_id)
            stamp = time.time() if when is None else float(when)
            step = int(step)
            rows = self._pending[series]
            for name, value in values.items():
                number = float(value)
                rows.append((trial_id, step, name, number, stamp))
                if series == "metrics":
                    key = (trial_id, name)
                    curve = self._curves.get(key) or self._stored_curve(key)
                    curve.add(step, number)
                    self._changed_curves.add(key)
            self._pending_rows += len(values)
            if (
                self._pending_rows >= self.flush_rows
                or monotonic() - self._last_flush >= self.flush_seconds
            ):
                self.flush()

    def _stored_curve(self, key: tuple[int, str]) -> CurveBuilder:
        """The curve of a series this writer has not logged yet: new, or as stored (a trial
        that goes on in a new writer)."""
        rows = self._db.execute(
            f"SELECT {Curve.select('curves')} FROM curves WHERE trial_id = ? AND name = ?", key
        ).fetchall()
        curve = CurveBuilder.from_curve(Curve.from_rows(rows)[0]) if rows else CurveBuilder()
        self._curves[key] = curve
        return curve

    def _update(self, table: str, row_id: int, changes: dict[str, Any]) -> None:
        with self._transaction():
            cursor = self._db.execute(
                f"UPDATE {table} SET {', '.join(f'{column} = ?' for column in changes)}, "
                "updated_seq = ? WHERE id = ?",
                [*changes.values(), self._next_seq(), row_id],
            )
            if cursor.rowcount == 0:
                noun = {"studies": "study", "trials": "trial"}[table]
                raise MetaguiError(f"{self.path}: no {noun} with id {row_id}")

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row and return its id."""
        cursor = self._db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        row_id = cursor.lastrowid
        assert isinstance(row_id, int)
        return row_id

    def _next_seq(self) -> int:
        """Advance the file's change counter and return it, inside the current transaction.

        Write transactions are serialised by SQLite, so seq values commit in increasing order:
        a reader that has seen seq N can ask for ``updated_seq > N`` and miss nothing."""
        self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq'")
        return int(self._scalar("SELECT value FROM meta WHERE key = 'seq'"))

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self._db.execute(sql, params or []).fetchone()
        return None if row is None else row[0]


def _require_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise MetaguiError(f"{what} must be one of {', '.join(choices)}, not {value!r}")


def _json_text(study: str, what: str, text: str) -> Any:
    """``text`` decoded, or a :class:`MetaguiError` saying it is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise MetaguiError(f"study {study!r}: {what} is not JSON text ({error})") from error


def _values_json(values: Sequence[float]) -> str:
    """Objective values as stored: a JSON list, a value that is not a finite number as null
    (it reads back as NaN)."""
    return json.dumps([float(v) if math.isfinite(float(v)) else None for v in values])


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _params_json(params: Mapping[str, Any]) -> str:
    def plain(value: Any) -> Any:
        # numpy and torch scalars, which search libraries hand back, have .item()
        if hasattr(value, "item"):
            return value.item()
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    try:
        return json.dumps(dict(params), default=plain, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise MetaguiError(f"trial parameters cannot be stored: {error}") from error
