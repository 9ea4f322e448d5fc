"""The history as a lab notebook: notes and tags on studies and trials, and archiving,
renaming and deleting studies (with their artifact files).

Notes and tags are the researcher's, not results: they may be written at any time, also while
a run holds the study's lease, and the runner never writes those columns, so a running or
resumed study keeps them. Renaming and deleting change what a runner relies on (the study's
name names its artifact folder), so a study being run is refused both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metagui.core.errors import MetaguiError
from metagui.core.history._lease import Holder
from metagui.core.history._rows import decode_tags

__all__ = ["TAG_MAX_CHARS", "NotebookWriting", "StudyFootprint", "artifact_folder", "check_tag"]

TAG_MAX_CHARS = 40
"""The longest tag: a tag is a short word, shown beside a study or trial."""
NOTE_MAX_CHARS = 100_000
"""The longest note: generous for prose, small beside the rows of one trial."""
_TAG = re.compile(r"[^\s,]+")


def check_tag(tag: str) -> str:
    """``tag`` if it can be a tag: one short word (no blanks, no commas, at most
    :data:`TAG_MAX_CHARS` characters); else a :class:`MetaguiError` saying why."""
    if not _TAG.fullmatch(tag) or any(ord(c) < 32 or ord(c) == 127 for c in tag):
        raise MetaguiError(f"tag {tag!r} is not one word (a tag holds no blanks or commas)")
    if len(tag) > TAG_MAX_CHARS:
        raise MetaguiError(
            f"tag {tag[:20]!r}... is {len(tag)} characters long (at most {TAG_MAX_CHARS})"
        )
    return tag


def artifact_folder(db_path: str | os.PathLike[str], study_name: str) -> Path:
    """Where the study ``study_name`` of the history at ``db_path`` keeps its files (the best
    trial's checkpoint): ``<history stem>-artifacts/<study name>`` beside the history."""
    path = Path(db_path)
    return path.parent / f"{path.stem}-artifacts" / study_name


@dataclass(frozen=True)
class StudyFootprint:
    """What deleting a study removes: its name, its number of trials and its artifact files
    (those recorded and any other file in its artifact folder) that exist."""

    name: str
    trials: int
    files: tuple[Path, ...]
    folder: Path


class NotebookWriting:
    """The notebook methods of :class:`HistoryWriter` (a mixin: the writer holds the
    connection and makes the transactions)."""

    path: Path
    _db: sqlite3.Connection
    _lock: threading.RLock

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[None]: ...

        def _next_seq(self) -> int: ...

        def _scalar(self, sql: str, params: list[Any] | None = None) -> Any: ...

    # -- notes and tags ------------------------------------------------------------------------

    def set_note(self, study_id: int, note: str | None, *, trial_id: int | None = None) -> None:
        """Write the note of a study, or of its trial ``trial_id``; an empty note (or None)
        clears it. Allowed while the study runs."""
        text = (note or "").rstrip() or None
        if text is not None and len(text) > NOTE_MAX_CHARS:
            raise MetaguiError(f"a note holds at most {NOTE_MAX_CHARS} characters")
        self._set(study_id, trial_id, "notes", text)

    def set_tags(
        self, study_id: int, tags: Iterable[str], *, trial_id: int | None = None
    ) -> tuple[str, ...]:
        """Replace the tags of a study, or of its trial ``trial_id``, by ``tags`` (each
        checked by :func:`check_tag`, duplicates dropped, order kept); returns them."""
        kept = _unique(check_tag(tag) for tag in tags)
        self._set(study_id, trial_id, "tags", json.dumps(kept) if kept else None)
        return kept

    def change_tags(
        self,
        study_id: int,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        *,
        trial_id: int | None = None,
    ) -> tuple[str, ...]:
        """Add ``add`` to and take ``remove`` from the tags of a study, or of its trial
        ``trial_id``, in one transaction (a tag given twice is kept once); returns the tags
        now held."""
        for tag in add:
            check_tag(tag)
        with self._transaction():
            table, row_id = self._target(study_id, trial_id)
            current = decode_tags(self._scalar(f"SELECT tags FROM {table} WHERE id = ?", [row_id]))
            gone = set(remove)
            kept = _unique(tag for tag in (*current, *add) if tag not in gone)
            self._write(table, row_id, {"tags": json.dumps(kept) if kept else None})
        return kept

    def set_archived(self, study_id: int, archived: bool) -> None:
        """Hide a study from the list of studies (or show it again); its records stay."""
        with self._transaction():
            self._study_name(study_id)
            self._write("studies", study_id, {"archived": int(bool(archived))})

    # -- renaming and deleting -----------------------------------------------------------------

    def rename_study(self, study_id: int, new_name: str) -> None:
        """Give a study a new name, and its artifact folder and stored experiment with it (the
        folder moved in one ``os.rename``; the recorded paths of its files follow; the
        experiment's ``name`` is the new one). Refused while the study runs,
        when the name is taken, or when a folder of that name is already there."""
        # Imported here: the experiment module (pydantic) is not needed to write a history.
        from metagui.core.experiment import check_study_name

        try:
            check_study_name(new_name)
        except ValueError as error:
            raise MetaguiError(f"rename: {error}") from None
        moved: tuple[Path, Path] | None = None
        try:
            with self._transaction():
                old_name = self._study_name(study_id)
                if new_name == old_name:
                    return
                self._refuse_if_running(study_id, old_name, "renamed")
                if self._scalar("SELECT 1 FROM studies WHERE name = ?", [new_name]) is not None:
                    raise MetaguiError(f"{self.path}: a study named {new_name!r} already exists")
                old, new = (
                    artifact_folder(self.path, old_name),
                    artifact_folder(self.path, new_name),
                )
                if os.path.lexists(new):
                    raise MetaguiError(
                        f"cannot rename study {old_name!r}: {new} is already there (not this "
                        "study's files); move it away first"
                    )
                for artifact_id, stored in self._db.execute(
                    "SELECT id, path FROM artifacts WHERE study_id = ?", [study_id]
                ).fetchall():
                    moved_path = _moved(Path(stored), old, new)
                    if moved_path is not None:
                        self._db.execute(
                            "UPDATE artifacts SET path = ? WHERE id = ?",
                            [str(moved_path), artifact_id],
                        )
                self._write(
                    "studies",
                    study_id,
                    {"name": new_name, "spec_json": self._renamed_spec(study_id, new_name)},
                )
                # Last, with the write lock held: no run can take the study meanwhile, and a
                # failed commit moves the folder back below.
                if old.is_dir():
                    try:
                        os.rename(old, new)
                    except OSError as error:
                        raise MetaguiError(
                            f"cannot move the artifacts of study {old_name!r} from {old} to "
                            f"{new} ({error.strerror}); nothing was renamed"
                        ) from error
                    moved = (old, new)
        except BaseException:
            if moved is not None:
                with contextlib.suppress(OSError):
                    os.rename(moved[1], moved[0])
            raise

    def _renamed_spec(self, study_id: int, new_name: str) -> str:
        """The study's stored experiment named ``new_name``: a resume or an export of the
        renamed study runs under its new name, not the old one."""
        stored = self._scalar("SELECT spec_json FROM studies WHERE id = ?", [study_id])
        try:
            spec = json.loads(stored)
        except (TypeError, ValueError):
            return str(stored)  # not an experiment this writer can name: kept as it is
        if not isinstance(spec, dict):
            return str(stored)
        spec["name"] = new_name
        return json.dumps(spec, separators=(",", ":"), ensure_ascii=False)

    def check_not_running(self, study_id: int, verb: str = "changed") -> None:
        """Refuse (a :class:`MetaguiError` in one line) a study that a live process, this one
        included, is running: it holds the study's lease. ``verb`` says what cannot be done
        (``"deleted"``)."""
        with self._lock:
            self._refuse_if_running(study_id, self._study_name(study_id), verb)

    def study_footprint(self, study_id: int) -> StudyFootprint:
        """What :meth:`delete_study` would remove now."""
        with self._lock:
            return self._footprint(study_id, self._study_name(study_id))

    def delete_study(self, study_id: int) -> StudyFootprint:
        """Delete a study: its trials, series and artifacts' records (one transaction), then
        its artifact files and folder; returns what went. Refused while the study runs."""
        with self._transaction():
            name = self._study_name(study_id)
            self._refuse_if_running(study_id, name, "deleted")
            footprint = self._footprint(study_id, name)
            # ON DELETE CASCADE takes the trials, their series and curves, artifacts, lease.
            self._db.execute("DELETE FROM studies WHERE id = ?", [study_id])
            self._next_seq()  # a reader following the file sees that something changed
        # Files after the commit: a file left behind is better than a record of a lost file.
        try:
            for file in footprint.files:
                file.unlink(missing_ok=True)
            if footprint.folder.is_dir():
                shutil.rmtree(footprint.folder)
        except OSError as error:
            raise MetaguiError(
                f"study {name!r} was deleted from the history, but {error.filename} could not "
                f"be removed ({error.strerror}); remove it by hand"
            ) from error
        return footprint

    # -- internals -----------------------------------------------------------------------------

    def _set(self, study_id: int, trial_id: int | None, column: str, value: str | None) -> None:
        with self._transaction():
            table, row_id = self._target(study_id, trial_id)
            self._write(table, row_id, {column: value})

    def _write(self, table: str, row_id: int, changes: dict[str, Any]) -> None:
        """Set columns of one row, marked changed for readers that follow the file (inside
        the caller's transaction)."""
        self._db.execute(
            f"UPDATE {table} SET {', '.join(f'{column} = ?' for column in changes)}, "
            "updated_seq = ? WHERE id = ?",
            [*changes.values(), self._next_seq(), row_id],
        )

    def _target(self, study_id: int, trial_id: int | None) -> tuple[str, int]:
        """The table and row of a study, or of one of its trials; refused if not there."""
        self._study_name(study_id)
        if trial_id is None:
            return "studies", study_id
        found = self._scalar("SELECT study_id FROM trials WHERE id = ?", [trial_id])
        if found != study_id:
            raise MetaguiError(f"{self.path}: study {study_id} has no trial with id {trial_id}")
        return "trials", trial_id

    def _study_name(self, study_id: int) -> str:
        name = self._scalar("SELECT name FROM studies WHERE id = ?", [study_id])
        if name is None:
            raise MetaguiError(f"{self.path}: no study with id {study_id}")
        return str(name)

    def _refuse_if_running(self, study_id: int, name: str, verb: str) -> None:
        """Refuse when a live process (this one included) holds the study's lease."""
        row = self._db.execute(
            "SELECT pid, host, since, heartbeat FROM leases WHERE study_id = ?", [study_id]
        ).fetchone()
        if row is None:
            return
        holder = Holder(*row)
        if holder.stale() is None:
            raise MetaguiError(
                f"study {name!r} is being run by {holder.describe()}; it cannot be {verb} "
                "while it runs (stop the run first)"
            )

    def _footprint(self, study_id: int, name: str) -> StudyFootprint:
        trials = int(self._scalar("SELECT COUNT(*) FROM trials WHERE study_id = ?", [study_id]))
        recorded = [
            Path(row[0])
            for row in self._db.execute(
                "SELECT path FROM artifacts WHERE study_id = ?", [study_id]
            ).fetchall()
        ]
        folder = artifact_folder(self.path, name)
        in_folder = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        files: dict[Path, Path] = {}
        for file in [*recorded, *in_folder]:
            if file.is_file():
                files.setdefault(file.resolve(), file)
        return StudyFootprint(name, trials, tuple(files.values()), folder)


def _unique(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tags))


def _moved(path: Path, old: Path, new: Path) -> Path | None:
    """Where ``path``, a file of the folder ``old``, is once ``old`` is renamed ``new``; None
    for a file elsewhere. Compared as recorded, then resolved (a history opened by another
    path)."""
    with contextlib.suppress(ValueError):
        return new / path.relative_to(old)
    with contextlib.suppress(ValueError, OSError):
        return new.resolve() / path.resolve().relative_to(old.resolve())
    return None
