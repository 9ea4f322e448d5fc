"""The history store: schema and migrations, refusal of files that are not ours (left untouched),
round trips of the writer and reader APIs, buffering of per-step series, best values that respect
direction and exclusion, incremental reads, and crash safety."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlite_utils

from metagui.core.errors import MetaguiError
from metagui.core.history import (
    SCHEMA_VERSION,
    HistoryReader,
    HistoryWriter,
    Objective,
    Watermark,
    _schema,
    _writer,
    step_metrics,
)
from metagui.core.reports import EvalResult, StepReport

SPEC = json.dumps({"taskset": {"family": "sinusoid"}, "algorithm": {"name": "maml"}})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def writer(path: Path) -> Iterator[HistoryWriter]:
    # Flush only when asked or on a state change, so tests decide what is visible when.
    with HistoryWriter(path, flush_rows=10**9, flush_seconds=1e9) as history:
        yield history


@pytest.fixture
def reader(writer: HistoryWriter, path: Path) -> Iterator[HistoryReader]:
    with HistoryReader(path) as history:
        yield history


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _study(writer: HistoryWriter, name: str = "s", direction: str = "minimize") -> int:
    return writer.create_study(name, SPEC, direction, "tpe", seed=7)  # type: ignore[arg-type]


def _finished(writer: HistoryWriter, study: int, number: int, value: float | None) -> int:
    trial = writer.start_trial(study, number, {"lr": 0.1 * (number + 1)})
    writer.finish_trial(trial, "COMPLETE", value=value)
    return trial


# -- schema ------------------------------------------------------------------------------------


def test_a_new_file_gets_every_table_in_wal_mode(writer: HistoryWriter, path: Path) -> None:
    db = sqlite_utils.Database(path)
    try:
        assert {"meta", "studies", "trials", "metrics", "learned", "artifacts", "curves"} <= set(
            db.table_names()
        )
        meta = {row["key"]: row["value"] for row in db.query("SELECT key, value FROM meta")}
        assert meta["app"] == "metagui"
        assert meta["schema_version"] == SCHEMA_VERSION == 7
        assert "host" in db.table("trials").columns_dict
        assert db.table("studies").columns_dict["fingerprint"] is str
        assert db.table("studies").columns_dict["experience"] is str
        assert db.table("trials").columns_dict["seeded_from"] is str
        assert db.table("studies").columns_dict["objectives"] is str
        assert db.table("trials").columns_dict["objective_values"] is str
        assert db.table("trials").columns_dict["outside_space"] is int
        assert db.journal_mode == "wal"
        assert ["trial_id", "name", "step"] in [
            index.columns for index in db.table("metrics").indexes
        ]
        assert ["study_id", "number"] in [
            index.columns for index in db.table("trials").indexes if index.unique
        ]
    finally:
        db.close()


def test_a_two_objective_study_keeps_its_objectives_and_values(
    writer: HistoryWriter, path: Path
) -> None:
    objectives = (Objective("val/accuracy", "maximize"), Objective("parameters", "minimize"))
    study = writer.create_study("two", SPEC, "maximize", "nsga2", objectives=objectives)
    trial = writer.start_trial(study, 0, {"lr": 0.1})
    writer.finish_trial(trial, "COMPLETE", value=0.8, values=[0.8, float("inf")])
    plain = _finished(writer, _study(writer, "one"), 0, 0.5)
    writer.flush()
    with HistoryReader(path) as reader:
        stored = reader.study("two")
        assert stored is not None and stored.objectives == objectives
        assert stored.multi_objective and stored.directions == ("maximize", "minimize")
        (row,) = reader.trials(study)
        assert row.value == 0.8 and row.values is not None
        assert row.values[0] == 0.8 and row.values[1] != row.values[1]  # inf stored as NaN
        single = reader.trial(plain)
        assert single is not None and single.values is None and single.objective_values == (0.5,)
        one = reader.study("one")
        assert one is not None and one.objectives == () and one.directions == ("minimize",)
    with pytest.raises(MetaguiError, match="first objective"):
        writer.create_study("bad", SPEC, "minimize", "nsga2", objectives=objectives)


def test_trials_are_marked_outside_the_space_and_back(writer: HistoryWriter, path: Path) -> None:
    study = _study(writer)
    for number in range(3):
        _finished(writer, study, number, float(number))
    writer.set_outside_space(study, [0, 2])
    with HistoryReader(path) as reader:
        assert [t.outside_space for t in reader.trials(study)] == [True, False, True]
    writer.set_outside_space(study, [])
    with HistoryReader(path) as reader:
        assert not any(t.outside_space for t in reader.trials(study))


@pytest.mark.parametrize("make", ["empty file", "SQLite file without tables"])
def test_an_empty_file_is_initialised(path: Path, make: str) -> None:
    if make == "empty file":
        path.write_bytes(b"")
    else:
        sqlite3.connect(path).close()
    HistoryWriter(path).close()
    with HistoryReader(path) as reader:
        assert reader.studies() == []


def _newer_history(path: Path) -> None:
    HistoryWriter(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [SCHEMA_VERSION + 1])
    conn.close()


def _foreign_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
        conn.execute("INSERT INTO photos (path) VALUES ('a.jpg')")
    conn.close()


def _foreign_meta(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
        conn.execute("INSERT INTO meta VALUES ('app', 'photoalbum'), ('schema_version', 1)")
    conn.close()


def _garbage(path: Path) -> None:
    path.write_bytes(b"step,loss\n1,0.5\n" * 100)


def _corrupt_sqlite(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_newer_history, "newer metagui"),
        (_foreign_sqlite, "another program"),
        (_foreign_meta, "another program"),
        (_garbage, "not an SQLite database"),
        (_corrupt_sqlite, "not a metagui history"),
    ],
)
@pytest.mark.parametrize("opener", [HistoryWriter, HistoryReader])
def test_a_file_that_is_not_ours_is_refused_and_left_untouched(
    path: Path, make: Callable[[Path], None], reason: str, opener: type
) -> None:
    make(path)
    before = _sha256(path)
    with pytest.raises(MetaguiError, match=reason) as refused:
        opener(path)
    assert str(path) in str(refused.value)
    assert _sha256(path) == before


def test_a_missing_history_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(MetaguiError, match="no history file"):
        HistoryReader(tmp_path / "nothing.db")
    with pytest.raises(MetaguiError, match="does not exist"):
        HistoryWriter(tmp_path / "no folder" / "history.db")


# -- migrations --------------------------------------------------------------------------------


@pytest.fixture
def version_2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pretend this metagui has schema 2, whose migration adds a column; returns the list the
    migrations append their target version to each time they run."""
    ran: list[int] = []
    first = _schema.MIGRATIONS[0]

    def to_1(db: sqlite_utils.Database) -> None:
        ran.append(1)
        first(db)

    def to_2(db: sqlite_utils.Database) -> None:
        ran.append(2)
        db.execute("ALTER TABLE trials ADD COLUMN notes TEXT")

    monkeypatch.setattr(_schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(_schema, "MIGRATIONS", [to_1, to_2])
    return ran


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return int(version)


def test_a_new_file_runs_every_migration_once(path: Path, version_2: list[int]) -> None:
    HistoryWriter(path).close()
    HistoryWriter(path).close()
    assert version_2 == [1, 2]
    assert _schema_version(path) == 2


def test_an_old_file_is_migrated_once_and_keeps_its_data(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A version-1 file, as metagui wrote it before trials recorded their host.
    with monkeypatch.context() as old:
        old.setattr(_schema, "SCHEMA_VERSION", 1)
        old.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:1])
        with HistoryWriter(path) as writer:
            study_id = _study(writer)
    with sqlite3.connect(path) as conn:  # a trial as a version-1 writer stored it
        conn.execute(
            "INSERT INTO trials (study_id, number, state, params_json, value, excluded, "
            "updated_seq) VALUES (?, 0, 'COMPLETE', '{}', 0.25, 0, 1)",
            [study_id],
        )
    conn.close()
    ran: list[int] = []
    real = _schema.MIGRATIONS[1]

    def to_2(db: sqlite_utils.Database) -> None:
        ran.append(2)
        real(db)

    monkeypatch.setattr(
        _schema, "MIGRATIONS", [_schema.MIGRATIONS[0], to_2, *_schema.MIGRATIONS[2:]]
    )
    with pytest.raises(MetaguiError, match="older"):
        HistoryReader(path)  # a reader cannot migrate
    HistoryWriter(path).close()
    HistoryWriter(path).close()
    assert ran == [2]
    assert _schema_version(path) == SCHEMA_VERSION
    with HistoryReader(path) as reader:
        (study,) = reader.studies()
        (trial,) = reader.trials(study.id)
        assert (trial.value, trial.host, trial.retry_of) == (0.25, None, None)
    with HistoryWriter(path) as writer:
        writer.set_trial_placement(trial.id, "node-7", "NVIDIA H200")
    with HistoryReader(path) as reader:
        assert (reader.trial(trial.id).host, reader.trial(trial.id).device) == (
            "node-7",
            "NVIDIA H200",
        )


def test_a_failed_migration_leaves_the_file_as_it_was(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    HistoryWriter(path).close()

    def broken(db: sqlite_utils.Database) -> None:
        db.execute("ALTER TABLE trials ADD COLUMN remarks TEXT")
        db.execute("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    monkeypatch.setattr(_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(_schema, "MIGRATIONS", [*_schema.MIGRATIONS, broken])
    with pytest.raises(
        MetaguiError, match=f"schema {SCHEMA_VERSION} to {SCHEMA_VERSION + 1} failed"
    ):
        HistoryWriter(path)
    assert _schema_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(trials)")]
    conn.close()
    assert "remarks" not in columns


# -- round trips -------------------------------------------------------------------------------


def test_studies_round_trip(writer: HistoryWriter, reader: HistoryReader) -> None:
    study = _study(writer, "sinusoid-maml", "maximize")
    stored = writer.get_study("sinusoid-maml")
    assert stored is not None
    assert stored.id == study
    assert (stored.direction, stored.strategy, stored.status, stored.seed) == (
        "maximize",
        "tpe",
        "running",
        7,
    )
    assert stored.spec == json.loads(SPEC)
    assert reader.study("sinusoid-maml") == stored == reader.study(study)
    assert writer.get_study("other") is None
    assert reader.study("other") is None

    writer.set_study_status(study, "finished")
    (summary,) = reader.studies()
    assert (summary.name, summary.status, summary.best_value) == ("sinusoid-maml", "finished", None)
    assert summary.counts == dict.fromkeys(["QUEUED", "RUNNING", "COMPLETE", "PRUNED", "FAILED"], 0)


def test_bad_study_arguments_are_refused(writer: HistoryWriter) -> None:
    study = _study(writer, "taken")
    with pytest.raises(MetaguiError, match="already exists"):
        _study(writer, "taken")
    with pytest.raises(MetaguiError, match="direction"):
        writer.create_study("x", SPEC, "upwards", "tpe")  # type: ignore[arg-type]
    with pytest.raises(MetaguiError, match="not JSON"):
        writer.create_study("y", "{not json", "minimize", "tpe")
    with pytest.raises(MetaguiError, match="status"):
        writer.set_study_status(study, "paused")  # type: ignore[arg-type]
    with pytest.raises(MetaguiError, match="no study with id 99"):
        writer.set_study_status(99, "stopped")


def test_trials_round_trip(writer: HistoryWriter, reader: HistoryReader) -> None:
    study = _study(writer)
    done = writer.start_trial(study, 0, {"lr": 0.01, "algorithm": "maml"}, seed=3, device="cpu")
    writer.finish_trial(done, "COMPLETE", value=0.5, test_value=0.4)
    pruned = writer.start_trial(study, 1, {"lr": 1.0})
    writer.finish_trial(pruned, "PRUNED", pruned_at_step=20, pruned_reason="median rule")
    failed = writer.start_trial(study, 2, {"lr": 9.0})
    writer.finish_trial(failed, "FAILED", error="CUDA out of memory")
    running = writer.start_trial(study, 3, {"lr": 0.2})

    trials = reader.trials(study)
    assert [(t.number, t.state) for t in trials] == [
        (0, "COMPLETE"),
        (1, "PRUNED"),
        (2, "FAILED"),
        (3, "RUNNING"),
    ]
    first = trials[0]
    assert first.params == {"lr": 0.01, "algorithm": "maml"}
    assert (first.value, first.test_value, first.seed, first.device) == (0.5, 0.4, 3, "cpu")
    assert first.duration is not None and first.duration >= 0
    assert (trials[1].pruned_at_step, trials[1].pruned_reason) == (20, "median rule")
    assert trials[2].error == "CUDA out of memory"
    assert trials[3].finished is None and trials[3].duration is None
    assert reader.trial(running) == trials[3]
    assert reader.trial(999) is None
    (summary,) = reader.studies()
    assert summary.counts == {"QUEUED": 0, "RUNNING": 1, "COMPLETE": 1, "PRUNED": 1, "FAILED": 1}
    assert summary.n_trials == 4


def test_bad_trial_arguments_are_refused(writer: HistoryWriter) -> None:
    study = _study(writer)
    trial = _finished(writer, study, 0, 1.0)
    with pytest.raises(MetaguiError, match="already has a trial 0"):
        writer.start_trial(study, 0, {})
    with pytest.raises(MetaguiError, match="no study"):
        writer.start_trial(42, 0, {})
    with pytest.raises(MetaguiError, match="already ended as COMPLETE"):
        writer.finish_trial(trial, "FAILED", error="twice")
    with pytest.raises(MetaguiError, match="state"):
        writer.finish_trial(trial, "RUNNING")
    with pytest.raises(MetaguiError, match="no trial"):
        writer.add_metrics(999, 1, {"train/loss": 1.0})
    with pytest.raises(MetaguiError, match="cannot be stored"):
        writer.start_trial(study, 1, {"net": object()})


def test_metrics_and_learned_round_trip(writer: HistoryWriter, reader: HistoryReader) -> None:
    trial = writer.start_trial(_study(writer), 0, {})
    for step in (1, 2):
        writer.add_metrics(trial, step, {"train/loss": 1.0 / step, "val/accuracy": 0.5}, time=10.0)
        writer.add_learned(trial, step, {"inner_lr/body.0": 0.01 * step})
    writer.add_metrics(trial, 3, {"train/loss": float("nan")})
    writer.flush()

    losses = reader.metrics(trial, "train/loss")
    assert [(m.step, m.value) for m in losses[:2]] == [(1, 1.0), (2, 0.5)]
    assert losses[2].value != losses[2].value  # NaN survives (SQLite stores it as NULL)
    assert losses[0].time == 10.0
    assert [m.name for m in reader.metrics(trial)] == ["train/loss"] * 3 + ["val/accuracy"] * 2
    assert [(m.step, m.value) for m in reader.learned(trial)] == [(1, 0.01), (2, 0.02)]
    assert reader.learned(trial, "other") == []


def test_a_step_report_is_stored_under_its_names(
    writer: HistoryWriter, reader: HistoryReader
) -> None:
    trial = writer.start_trial(_study(writer), 0, {})
    validation = EvalResult("accuracy", means=(0.2, 0.6), ci95=(0.05, 0.04), tasks=10)
    report = StepReport(
        step=5,
        total_steps=10,
        train_loss=0.3,
        train_accuracy=0.9,
        learned={"inner_lr/body.0": 0.02},
        validation=validation,
    )
    assert step_metrics(report) == {
        "train/loss": 0.3,
        "train/accuracy": 0.9,
        "val/accuracy": 0.6,
        "val/accuracy_ci95": 0.04,
    }
    writer.add_step(trial, report)
    writer.flush()
    assert {(m.name, m.step, m.value) for m in reader.metrics(trial)} == {
        ("train/loss", 5, 0.3),
        ("train/accuracy", 5, 0.9),
        ("val/accuracy", 5, 0.6),
        ("val/accuracy_ci95", 5, 0.04),
    }
    assert [(m.name, m.value) for m in reader.learned(trial)] == [("inner_lr/body.0", 0.02)]


def test_artifacts_round_trip(writer: HistoryWriter, reader: HistoryReader, path: Path) -> None:
    study = _study(writer)
    trial = _finished(writer, study, 0, 1.0)
    first = writer.add_artifact(study, "checkpoint", path.parent / "best.pt", trial, note="best")
    second = writer.add_artifact(study, "export", "best.yaml")
    rows = reader.artifacts(study)
    assert [(a.id, a.kind, a.path, a.trial_id, a.note) for a in rows] == [
        (first, "checkpoint", str(path.parent / "best.pt"), trial, "best"),
        (second, "export", "best.yaml", None, None),
    ]
    with pytest.raises(MetaguiError, match="unknown study"):
        writer.add_artifact(99, "checkpoint", "x.pt")


def test_running_trials_are_marked_failed_for_a_resume(
    writer: HistoryWriter, reader: HistoryReader
) -> None:
    study, other = _study(writer, "a"), _study(writer, "b")
    _finished(writer, study, 0, 1.0)
    for number in (1, 2):
        writer.start_trial(study, number, {})
    writer.start_trial(other, 0, {})
    assert writer.mark_running_trials_failed(study, "metagui stopped unexpectedly") == 2
    assert [(t.state, t.error) for t in reader.trials(study)] == [
        ("COMPLETE", None),
        ("FAILED", "metagui stopped unexpectedly"),
        ("FAILED", "metagui stopped unexpectedly"),
    ]
    assert [t.state for t in reader.trials(other)] == ["RUNNING"]
    assert writer.mark_running_trials_failed(study, "again") == 0


def test_a_closed_writer_refuses_to_write(path: Path) -> None:
    writer = HistoryWriter(path)
    writer.close()
    writer.close()
    with pytest.raises(MetaguiError, match="closed"):
        _study(writer)


# -- best values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "best", "so_far"),
    [("minimize", 0.2, [0.5, 0.5, 0.2, 0.2]), ("maximize", 0.9, [0.5, 0.9, 0.9, 0.9])],
)
def test_best_respects_direction(
    writer: HistoryWriter,
    reader: HistoryReader,
    direction: str,
    best: float,
    so_far: list[float],
) -> None:
    study = _study(writer, direction=direction)
    for number, value in enumerate([0.5, 0.9, 0.2, 0.3]):
        _finished(writer, study, number, value)
    failed = writer.start_trial(study, 4, {})
    writer.finish_trial(failed, "FAILED", value=-100.0)  # a failed trial never counts
    best_trial = reader.best_trial(study)
    assert best_trial is not None and best_trial.value == best
    assert reader.studies()[0].best_value == best
    points = reader.best_so_far(study)
    assert [p.best_value for p in points] == so_far
    assert [p.number for p in points] == [0, 1, 2, 3]


def test_excluded_trials_do_not_count(writer: HistoryWriter, reader: HistoryReader) -> None:
    study = _study(writer)
    _finished(writer, study, 0, 0.5)
    outlier = _finished(writer, study, 1, 0.01)
    writer.set_excluded(outlier, True)
    best = reader.best_trial(study)
    assert best is not None and best.number == 0
    assert reader.studies()[0].best_value == 0.5
    assert [p.best_value for p in reader.best_so_far(study)] == [0.5]
    excluded = reader.trial(outlier)
    assert excluded is not None and excluded.excluded

    writer.set_excluded(outlier, False)
    assert reader.studies()[0].best_value == 0.01
    with pytest.raises(MetaguiError, match="no trial"):
        writer.set_excluded(999, True)


def test_a_study_without_results_has_no_best(writer: HistoryWriter, reader: HistoryReader) -> None:
    study = _study(writer)
    _finished(writer, study, 0, None)
    assert reader.best_trial(study) is None
    assert reader.best_so_far(study) == []
    assert reader.studies()[0].best_value is None


# -- buffering ---------------------------------------------------------------------------------


def test_series_rows_are_written_in_batches_of_flush_rows(path: Path) -> None:
    with HistoryWriter(path, flush_rows=3, flush_seconds=1e9) as writer:
        trial = writer.start_trial(_study(writer), 0, {})
        with HistoryReader(path) as reader:
            writer.add_metrics(trial, 1, {"train/loss": 1.0})
            writer.add_learned(trial, 1, {"inner_lr": 0.1})
            assert reader.metrics(trial) == [] and reader.learned(trial) == []
            writer.add_metrics(trial, 2, {"train/loss": 0.9})
            assert len(reader.metrics(trial)) == 2 and len(reader.learned(trial)) == 1
            writer.add_metrics(trial, 3, {"train/loss": 0.8})
            assert len(reader.metrics(trial)) == 2
            writer.finish_trial(trial, "COMPLETE", value=0.8)
            assert [m.step for m in reader.metrics(trial)] == [1, 2, 3]


def test_series_rows_are_written_after_flush_seconds(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(_writer, "monotonic", lambda: clock[0])
    with HistoryWriter(path, flush_rows=10**9, flush_seconds=1.0) as writer:
        trial = writer.start_trial(_study(writer), 0, {})
        with HistoryReader(path) as reader:
            clock[0] += 0.5
            writer.add_metrics(trial, 1, {"train/loss": 1.0})
            assert reader.metrics(trial) == []
            clock[0] += 0.6
            writer.add_metrics(trial, 2, {"train/loss": 0.9})
            assert [m.step for m in reader.metrics(trial)] == [1, 2]


def test_a_crash_loses_only_the_running_trials_last_batch(path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from metagui.core.history import HistoryWriter
        writer = HistoryWriter({str(path)!r}, flush_rows=4, flush_seconds=1e9)
        study = writer.create_study("s", "{{}}", "minimize", "random")
        done = writer.start_trial(study, 0, {{}})
        writer.add_metrics(done, 1, {{"train/loss": 1.0}})
        writer.finish_trial(done, "COMPLETE", value=1.0)
        running = writer.start_trial(study, 1, {{}})
        for step in range(6):  # 4 rows flushed, the last 2 still buffered
            writer.add_metrics(running, step, {{"train/loss": 1.0}})
        os._exit(3)
        """
    )
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert crashed.returncode == 3, crashed.stderr
    with HistoryWriter(path) as writer:
        study = writer.get_study("s")
        assert study is not None
        assert writer.mark_running_trials_failed(study.id, "crashed") == 1
    with HistoryReader(path) as reader:
        done, running = reader.trials(study.id)
        assert (done.state, done.value, len(reader.metrics(done.id))) == ("COMPLETE", 1.0, 1)
        assert (running.state, len(reader.metrics(running.id))) == ("FAILED", 4)


# -- reading while writing ---------------------------------------------------------------------


def test_changes_since_returns_only_what_changed(
    writer: HistoryWriter, reader: HistoryReader
) -> None:
    quiet, busy = _study(writer, "quiet"), _study(writer, "busy")
    old = _finished(writer, quiet, 0, 1.0)
    trial = writer.start_trial(busy, 0, {"lr": 0.1})
    writer.add_metrics(trial, 1, {"train/loss": 1.0})
    writer.add_learned(trial, 1, {"inner_lr": 0.1})
    writer.flush()

    everything = reader.changes_since(Watermark())
    assert [s.name for s in everything.studies] == ["quiet", "busy"]
    assert {t.id for t in everything.trials} == {old, trial}
    assert len(everything.metrics) == len(everything.learned) == 1
    mark = everything.watermark

    nothing = reader.changes_since(mark)
    assert not nothing
    assert nothing.watermark == mark

    writer.add_metrics(trial, 2, {"train/loss": 0.5})
    writer.flush()
    rows = reader.changes_since(mark)
    assert [(m.step, m.value) for m in rows.metrics] == [(2, 0.5)]
    assert rows.studies == rows.trials == rows.learned == ()
    mark = rows.watermark

    writer.finish_trial(trial, "COMPLETE", value=0.5)
    artifact = writer.add_artifact(busy, "checkpoint", "best.pt", trial)
    finished = reader.changes_since(mark)
    assert [(t.id, t.state) for t in finished.trials] == [(trial, "COMPLETE")]
    # The study is reported again because one of its trials changed: its summary did.
    assert [(s.name, s.best_value, s.counts["COMPLETE"]) for s in finished.studies] == [
        ("busy", 0.5, 1)
    ]
    assert [a.id for a in finished.artifacts] == [artifact]
    assert finished.metrics == finished.learned == ()
    assert not reader.changes_since(finished.watermark)


def test_changes_since_pages_through_rows_with_a_limit(
    writer: HistoryWriter, reader: HistoryReader
) -> None:
    trial = writer.start_trial(_study(writer), 0, {})
    for step in range(7):
        writer.add_metrics(trial, step, {"train/loss": float(step)})
    writer.flush()
    seen: list[int] = []
    mark, pages = Watermark(), 0
    while True:
        changes = reader.changes_since(mark, limit=3)
        seen += [m.step for m in changes.metrics]
        mark, pages = changes.watermark, pages + 1
        if not changes.more:
            break
    assert seen == list(range(7))
    assert pages == 3


def test_a_reader_is_not_blocked_by_an_open_write_transaction(
    writer: HistoryWriter, reader: HistoryReader, path: Path
) -> None:
    _study(writer, "committed")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("BEGIN EXCLUSIVE")
        other.execute(
            "INSERT INTO studies (name, created, spec_json, direction, strategy, status, "
            "updated_seq) VALUES ('uncommitted', 0, '{}', 'minimize', 'tpe', 'running', 99)"
        )
        assert [s.name for s in reader.changes_since().studies] == ["committed"]
        other.rollback()
    finally:
        other.close()


def test_the_writer_is_not_blocked_by_an_open_read_snapshot(
    writer: HistoryWriter, path: Path
) -> None:
    snapshot = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=0)
    try:
        snapshot.execute("BEGIN")
        assert snapshot.execute("SELECT COUNT(*) FROM studies").fetchone() == (0,)
        study = _study(writer)
        _finished(writer, study, 0, 1.0)
        assert snapshot.execute("SELECT COUNT(*) FROM studies").fetchone() == (0,)
        snapshot.rollback()
        assert snapshot.execute("SELECT COUNT(*) FROM studies").fetchone() == (1,)
    finally:
        snapshot.close()
