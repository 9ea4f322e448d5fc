"""The on-disk schema of a history file, its versions and migrations, and how connections to it
are opened, checked and configured.

A history file is an SQLite database whose ``meta`` table holds ``app = 'metagui'`` and
``schema_version``. A new (missing, empty, or table-less) file is initialised by running every
migration from version 0; a file written by an older metagui is migrated forward; a file from a
newer metagui, another program's SQLite file, or a file that is not SQLite at all is refused with
a :class:`MetaguiError` and left byte-for-byte untouched.

Connections are plain :mod:`sqlite3` ones in autocommit mode (``isolation_level=None``): every
transaction is spelled out (``BEGIN``, ``BEGIN IMMEDIATE``, ``COMMIT``), and nothing heavier
than :mod:`sqlite3` is imported on the app's start path. Migrations run through sqlite-utils'
schema tools (imported only when a file must be created or upgraded: it imports pandas, which
costs a second and more): the rows themselves are read and written with plain :mod:`sqlite3`,
without a dict per row.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from metagui.core.errors import MetaguiError
from metagui.core.history import _curves

if TYPE_CHECKING:
    import sqlite_utils

    from metagui.core.experience import DataFeatures

__all__ = [
    "APP",
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect_reader",
    "connect_writer",
    "inspect_version",
    "read_error",
    "storage_error",
    "upgrade_file",
    "write_transaction",
]

APP = "metagui"
SCHEMA_VERSION = 7
# How long a connection waits for a lock before giving up. Readers on a WAL database only ever
# wait for the brief moments when the WAL index is rebuilt or reset; writers may wait for another
# writer's transaction. Both are short in this program, so 5 s means "something is wrong".
BUSY_TIMEOUT_MS = 5000

_SQLITE_HEADER = b"SQLite format 3\x00"

# Version 1. Written as plain DDL because the file format is a contract: CHECK constraints,
# AUTOINCREMENT (metric ids are reader watermarks, so they must never be reused) and composite
# UNIQUE keys are all spelled out here in one place.
_V1 = [
    # `value` has no declared type, so the integers stored there (schema_version, seq) stay
    # integers and `app` stays text.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value)",
    """CREATE TABLE studies (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        spec_json TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),
        strategy TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'stopped')),
        seed INTEGER,
        updated_seq INTEGER NOT NULL
    )""",
    "CREATE INDEX studies_updated_seq ON studies (updated_seq)",
    """CREATE TABLE trials (
        id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('QUEUED', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAILED')),
        params_json TEXT NOT NULL,
        value REAL,
        test_value REAL,
        seed INTEGER,
        started REAL,
        finished REAL,
        error TEXT,
        pruned_at_step INTEGER,
        pruned_reason TEXT,
        excluded INTEGER NOT NULL DEFAULT 0 CHECK (excluded IN (0, 1)),
        device TEXT,
        updated_seq INTEGER NOT NULL,
        UNIQUE (study_id, number)
    )""",
    "CREATE INDEX trials_updated_seq ON trials (updated_seq)",
    *(
        f"""CREATE TABLE {series} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            name TEXT NOT NULL,
            value REAL,
            time REAL NOT NULL
        )"""
        for series in ("metrics", "learned")
    ),
    "CREATE INDEX metrics_trial_name_step ON metrics (trial_id, name, step)",
    "CREATE INDEX learned_trial_name_step ON learned (trial_id, name, step)",
    """CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        study_id INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
        trial_id INTEGER REFERENCES trials (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        created REAL NOT NULL,
        note TEXT
    )""",
    "CREATE INDEX artifacts_study ON artifacts (study_id)",
]


def _migrate_0_to_1(db: sqlite_utils.Database) -> None:
    """Create every table of version 1 in a file that has none."""
    for statement in _V1:
        db.execute(statement)
    rows: list[dict[str, object]] = [{"key": "app", "value": APP}, {"key": "seq", "value": 0}]
    db.table("meta").insert_all(rows)


def _migrate_1_to_2(db: sqlite_utils.Database) -> None:
    """Version 2, for trials that run in parallel on Ray: where each trial ran
    (``trials.device``, the device's name, was there already; ``host`` is new);
    ``retry_of``, the trial (lost with its worker, or interrupted) whose settings a trial runs
    again; and ``leases``, the one process running each study."""
    trials = db.table("trials")
    trials.add_column("host", str)
    trials.add_column("retry_of", int)
    # One runner per study: the process that holds a study's lease is the only one that runs
    # it and the only one that may mark its running trials as crashed.
    db.execute(
        """CREATE TABLE leases (
            study_id INTEGER PRIMARY KEY REFERENCES studies (id) ON DELETE CASCADE,
            token TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            since REAL NOT NULL,
            heartbeat REAL NOT NULL
        )"""
    )


def _migrate_2_to_3(db: sqlite_utils.Database) -> None:
    """Version 3, for big studies: ``curves``, each trial's metric series downsampled as the
    writer goes (see :mod:`metagui.core.history._curves`), so that the app draws every trial
    of a study without reading every metric row. Filled here for the series already stored:
    one pass over ``metrics`` in index order (about a second per million rows, once)."""
    # A rowid table with the blob last: looking up which trials have which curves reads the
    # small (trial_id, name) index, never the blobs.
    db.execute(
        """CREATE TABLE curves (
            id INTEGER PRIMARY KEY,
            trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            count INTEGER NOT NULL,
            width INTEGER NOT NULL,
            last_step INTEGER,
            last_value REAL,
            buckets BLOB NOT NULL,
            UNIQUE (trial_id, name)
        )"""
    )
    _curves.backfill(db.conn)


def _migrate_3_to_4(db: sqlite_utils.Database) -> None:
    """Version 4, for the experience pool: ``studies.fingerprint``, the JSON of each study's
    problem (:class:`metagui.core.experience.Fingerprint`), written when a study is created.
    Back-filled here from each study's stored experiment; data no longer on disk is marked
    unknown in it, never an error. Each data set is read once (its files listed and hashed:
    milliseconds for Omniglot's zips), however many studies used it."""
    # Imported here: the experience package reads task-set configs (pydantic), which a plain
    # reader of a current history never needs.
    from metagui.core.experience import fingerprint_of_stored

    db.table("studies").add_column("fingerprint", str)
    cache: dict[str, DataFeatures] = {}
    rows = db.conn.execute("SELECT id, spec_json, direction FROM studies ORDER BY id").fetchall()
    for study_id, spec_json, direction in rows:
        fingerprint = fingerprint_of_stored(spec_json, direction, cache=cache)
        db.conn.execute(
            "UPDATE studies SET fingerprint = ? WHERE id = ?", [fingerprint.to_json(), study_id]
        )


def _migrate_4_to_5(db: sqlite_utils.Database) -> None:
    """Version 5, for learning from the experience pool: ``studies.experience``, the JSON of
    what a study learned from (its pool's studies, their similarity and the last trial of each
    it used, and which of initial design, prior and pruning it used; NULL for a study that
    learned from none), and ``trials.seeded_from``, for a trial whose settings came from the
    pool, the trial they came from (``"study-name #12"``). Older studies learned from none."""
    db.table("studies").add_column("experience", str)
    db.table("trials").add_column("seeded_from", str)


def _migrate_5_to_6(db: sqlite_utils.Database) -> None:
    """Version 6, the history as a lab notebook: ``notes`` (free text) and ``tags`` (a JSON
    list of short words) on studies and trials, ``studies.archived`` (0/1: hidden from the
    list of studies), and ``studies.provenance``, the JSON of where a study was made (versions,
    devices, host, the experiment file and its git commit). All NULL, 0 or empty for older
    studies: what was not recorded then is unknown."""
    studies = db.table("studies")
    studies.add_column("notes", str)
    studies.add_column("tags", str)
    studies.add_column("provenance", str)
    # Plain DDL for the default and the CHECK, as in version 1's CREATE TABLE.
    db.execute(
        "ALTER TABLE studies ADD COLUMN archived INTEGER NOT NULL DEFAULT 0 "
        "CHECK (archived IN (0, 1))"
    )
    trials = db.table("trials")
    trials.add_column("notes", str)
    trials.add_column("tags", str)


def _migrate_6_to_7(db: sqlite_utils.Database) -> None:
    """Version 7, for studies of two objectives and search spaces changed while a study lives.
    ``studies.objectives``: the JSON list of a multi-objective study's objectives
    (``[{"name": "val/accuracy", "direction": "maximize"}, {"name": "parameters", ...}]``), NULL
    for a study of one (its ``direction`` says which way). ``trials.objective_values``: the JSON
    list of a multi-objective trial's values, one per objective (``value`` keeps the first, so
    every reader of one value still reads one); NULL for a trial of a single-objective study.
    ``trials.outside_space`` (0/1): the trial's settings lie outside the study's current search
    space, after the space was edited; it stays in the history but no longer steers the search.
    Older studies had one objective and a space that never changed."""
    db.table("studies").add_column("objectives", str)
    db.table("trials").add_column("objective_values", str)
    # Plain DDL for the default and the CHECK, as in version 1's CREATE TABLE.
    db.execute(
        "ALTER TABLE trials ADD COLUMN outside_space INTEGER NOT NULL DEFAULT 0 "
        "CHECK (outside_space IN (0, 1))"
    )


# MIGRATIONS[v] takes a file from version v to v + 1; a new file is version 0. They all run in
# one write transaction, so a migration must not need a PRAGMA that cannot change inside one
# (foreign_keys, journal_mode): plain DDL such as ALTER TABLE ... ADD COLUMN is what fits.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
    _migrate_3_to_4,
    _migrate_4_to_5,
    _migrate_5_to_6,
    _migrate_6_to_7,
]


def inspect_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of the history behind ``conn`` (0 for a file with no tables yet).

    Raises :class:`MetaguiError` naming ``path`` if the file is not SQLite, belongs to another
    program, or was written by a newer metagui. Only reads.
    """
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return 0
        if "meta" not in tables:
            raise MetaguiError(f"{path}: not a metagui history (an SQLite file of another program)")
        meta = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema_version')")
        )
    except sqlite3.OperationalError as error:
        if "no such" not in str(error):  # the file could not be read: not a verdict on it
            raise _unreadable(path, error) from error
        # A foreign `meta` table without key/value columns ("no such column").
        raise MetaguiError(f"{path}: not a metagui history ({error})") from error
    except sqlite3.DatabaseError as error:
        raise MetaguiError(f"{path}: not a metagui history ({error})") from error
    if meta.get("app") != APP:
        raise MetaguiError(f"{path}: not a metagui history (an SQLite file of another program)")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise MetaguiError(f"{path}: damaged metagui history (no valid schema_version)")
    if version > SCHEMA_VERSION:
        raise MetaguiError(
            f"{path}: written by a newer metagui (history schema {version}, this version reads "
            f"up to {SCHEMA_VERSION}); upgrade metagui to open it"
        )
    return version


def _unreadable(path: Path, error: sqlite3.Error) -> MetaguiError:
    """A history that could not be read for a reason outside the file's content: SQLite's
    index or journal could not be made next to it (a full disk, or a failing one), it is
    locked, or the folder is gone."""
    return MetaguiError(
        f"{path}: cannot read the history ({error}; {_free_space(path)}); if the disk is full, "
        "free some space and try again"
    )


def _free_space(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MB free in {path.parent}"
    except OSError:
        return "free space unknown"


def _check_header(path: Path) -> None:
    """Refuse a non-empty file that does not start with the SQLite header, before SQLite sees it."""
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise MetaguiError(f"{path}: cannot read history ({error.strerror})") from error
    if header and header != _SQLITE_HEADER:
        raise MetaguiError(f"{path}: not a metagui history (not an SQLite database)")


def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Set what every history connection needs: explicit transactions only, the busy timeout
    and foreign keys."""
    conn.isolation_level = None
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _open_failed(path: Path, error: sqlite3.Error) -> MetaguiError:
    return MetaguiError(f"{path}: cannot open history ({error})")


def connect_reader(path: str | Path, *, upgrade: bool = False) -> sqlite3.Connection:
    """A read-only connection to an existing, current-version history at ``path``; with
    ``upgrade``, a history of an older schema is migrated first (see :func:`upgrade_file`).

    Read-only (``mode=ro``) so that a reader can never take a write lock, never checkpoint the
    WAL into the file and never change a file it refuses. In WAL mode a reader works on a
    snapshot and is never blocked by the writer, nor blocks it. A history in a folder this
    process cannot write (a shared or archived copy) is opened as immutable, see
    :func:`_read_only_uri`.
    """
    path = Path(path)
    if not path.is_file():
        raise MetaguiError(f"{path}: no history file there")
    _check_header(path)
    if upgrade:
        upgrade_file(path)
    try:
        # check_same_thread=False: a reader may be made in one thread and polled in another;
        # HistoryReader serialises its own calls.
        conn = sqlite3.connect(
            _read_only_uri(path),
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
    except sqlite3.Error as error:
        raise _open_failed(path, error) from error
    try:
        version = inspect_version(conn, path)
        if version == 0:
            raise MetaguiError(f"{path}: not a metagui history yet (no tables)")
        if version < SCHEMA_VERSION:
            raise MetaguiError(
                f"{path}: history schema {version} is older than {SCHEMA_VERSION}; "
                "open it once for writing (metagui run or the app) to upgrade it"
            )
        return _configure(conn)
    except BaseException:
        conn.close()
        raise


def _read_only_uri(path: Path) -> str:
    """The URI that opens ``path`` read-only.

    Reading a WAL file needs its ``-shm`` index, which SQLite creates next to the file; in a
    folder this process cannot write it cannot, and ``mode=ro`` alone fails with "attempt to
    write a readonly database". There, and when no ``-wal`` with unmerged commits lies beside
    the file (no writer is live, and the last one closed cleanly), ``immutable=1`` reads the
    file as it is without any lock or index. With a live ``-wal`` plain ``mode=ro`` is kept:
    SQLite then reads through the writer's index if it may."""
    uri = path.resolve().as_uri() + "?mode=ro"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        wal = path.with_name(path.name + "-wal")
        if not (wal.exists() and wal.stat().st_size > 0):
            uri += "&immutable=1"
    return uri


def _check_writable(path: Path) -> None:
    """Refuse, before SQLite tries and fails half-way, a history this process cannot write:
    a read-only file, or a folder where SQLite cannot make its ``-wal`` and ``-shm`` files."""
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MetaguiError(
            f"{path}: the history cannot be written (folder {folder} is read-only); it can "
            "still be read (metagui history, export, the app's History tab); to run, give "
            "write access or copy it somewhere writable"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise MetaguiError(
            f"{path}: the history cannot be written (the file is read-only); it can still be "
            "read (metagui history, export, the app's History tab); to run, give write access "
            "or copy it somewhere writable"
        )


def upgrade_file(path: str | Path) -> bool:
    """Migrate the history at ``path`` to the current schema if it is older and this process
    may write it (else leave it: reading it then says why); True if it was migrated. Files
    that are not metagui histories, or newer ones, are refused as :func:`connect_writer`
    refuses them."""
    path = Path(path)
    probe = _probe(path)
    try:
        version = inspect_version(probe, path)
    finally:
        probe.close()
    writable = os.access(path.parent, os.W_OK | os.X_OK) and os.access(path, os.W_OK)
    if not 0 < version < SCHEMA_VERSION or not writable:
        return False
    connect_writer(path).close()
    return True


def connect_writer(path: str | Path) -> sqlite3.Connection:
    """A read-write connection to the history at ``path``, created or migrated as needed.

    The file is checked through a read-only connection first, so a refused file is never
    opened for writing (and so never modified). Accepted files are switched to WAL.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise MetaguiError(f"{path}: folder {path.parent} does not exist")
    if path.exists():
        _check_header(path)
        if path.stat().st_size > 0:
            probe = _probe(path)
            try:
                inspect_version(probe, path)
                _quick_check(probe, path)
            finally:
                probe.close()
    _check_writable(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except sqlite3.Error as error:
        raise _open_failed(path, error) from error
    try:
        db = _configure(conn)
        # WAL: readers keep reading a consistent snapshot while the writer commits, so the GUI
        # can follow a run live without ever blocking it. synchronous FULL rather than the
        # NORMAL often paired with WAL: a commit is durable once it returns, so a finished
        # trial survives even a power cut; series rows are batched, so that costs one fsync
        # per batch.
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        _migrate(db, path)
        return db
    except BaseException:
        conn.close()
        raise


def _probe(path: Path) -> sqlite3.Connection:
    """A plain read-only connection, for looking at a file before deciding to open it."""
    try:
        return sqlite3.connect(_read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as error:
        raise _open_failed(path, error) from error


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse to write into a damaged file: ``PRAGMA quick_check`` reads every page once (its
    cost grows with the file, about a second per GB) and finds the damage a torn write or a bad
    disk leaves, so a run never adds records to a file that already lost some."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        raise MetaguiError(
            f"{path}: the history file is damaged ({problems[0]}); nothing was written to it. "
            "Restore a copy, or record into a new history with --db; what it still holds can "
            "be read with metagui history and export"
        )


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction: all migrations apply, or none."""
    if len(MIGRATIONS) != SCHEMA_VERSION:
        raise RuntimeError("MIGRATIONS must hold one function per schema version")
    with write_transaction(db, path):
        # Read the version again under the write lock: another process may have created or
        # migrated the file since it was checked.
        version = inspect_version(db, path)
        if version == SCHEMA_VERSION:
            return
        import sqlite_utils  # only here: see the module's docstring

        tool = sqlite_utils.Database(db)
        for step in range(version, SCHEMA_VERSION):
            try:
                MIGRATIONS[step](tool)
            except sqlite3.Error as error:
                raise MetaguiError(
                    f"{path}: upgrading history schema {step} to {step + 1} failed ({error}); "
                    "the file was left as it was"
                ) from error
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION],
        )


@contextmanager
def write_transaction(db: sqlite3.Connection, path: Path) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

    IMMEDIATE takes the write lock up front (waiting up to the busy timeout for another
    writer), so a transaction that reads before it writes cannot fail half-way with
    SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise MetaguiError(
            f"{path}: history is busy, another program is writing it ({error})"
        ) from error
    try:
        yield
    except sqlite3.DatabaseError as error:
        _rollback(db)
        raise storage_error(path, error) from error
    except BaseException:
        _rollback(db)
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.DatabaseError as error:
        _rollback(db)
        raise storage_error(path, error) from error
    except BaseException:
        _rollback(db)
        raise


def _rollback(db: sqlite3.Connection) -> None:
    # After a failed write the rollback may fail too (a full disk); the error that matters is
    # the first one.
    with contextlib.suppress(sqlite3.Error):
        db.rollback()


def storage_error(path: Path, error: sqlite3.DatabaseError) -> MetaguiError:
    """What a failed write of the history at ``path`` means to the user, in one line: a full
    disk (with the space left), a read-only file or folder, a damaged file, or else SQLite's
    own words."""
    text = str(error)
    if "full" in text:
        return MetaguiError(
            f"{path}: the disk is full ({_free_space(path)}); free some space, then "
            "continue with --resume (what was recorded so far is kept)"
        )
    if "readonly" in text or "read-only" in text:
        return MetaguiError(
            f"{path}: the history cannot be written (a read-only file or folder); give write "
            "access, or copy it somewhere writable"
        )
    if _damaged(text):
        return MetaguiError(
            f"{path}: the history file is damaged ({text}); restore a copy, or record into a "
            "new history with --db"
        )
    return MetaguiError(f"{path}: the history could not be written ({text})")


def read_error(path: Path, error: sqlite3.DatabaseError) -> MetaguiError:
    """What a failed read of the history at ``path`` means to the user, in one line: most often
    a damaged file (a query met a bad page), else SQLite's own words."""
    text = str(error)
    if _damaged(text):
        return MetaguiError(
            f"{path}: the history file is damaged ({text}); what could be read was shown, the "
            "rest is lost unless you restore a copy"
        )
    return MetaguiError(f"{path}: the history could not be read ({text})")


def _damaged(text: str) -> bool:
    return "malformed" in text or "not a database" in text or "corrupt" in text
