"""The history as a lab notebook (core): notes and tags on studies and trials, archiving,
renaming and deleting studies with their artifacts, the schema migration that adds them, and
the provenance recorded with a study."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metagui.core.errors import MetaguiError
from metagui.core.history import (
    HistoryReader,
    HistoryWriter,
    _schema,
    artifact_folder,
    check_tag,
)
from metagui.core.provenance import capture_provenance, describe_provenance, git_state

SPEC = json.dumps({"name": "s"})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "h.sqlite"


@pytest.fixture
def writer(path: Path) -> Iterator[HistoryWriter]:
    with HistoryWriter(path) as w:
        yield w


def _study(writer: HistoryWriter, name: str = "s") -> int:
    return writer.create_study(name, SPEC, "minimize", "random", 0)


def _trial(writer: HistoryWriter, study: int, number: int) -> int:
    trial = writer.start_trial(study, number, {"lr": 0.1 * (number + 1)})
    writer.add_metrics(trial, 0, {"train/loss": 1.0})
    writer.finish_trial(trial, "COMPLETE", value=1.0 / (number + 1))
    return trial


def _checkpoint(writer: HistoryWriter, study: int, trial: int, name: str = "s") -> Path:
    """A checkpoint file where the runner keeps it, recorded as the study's artifact."""
    file = artifact_folder(writer.path, name) / f"trial-{trial:04d}.pt"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"weights")
    writer.add_artifact(study, "checkpoint", file, trial, "best so far")
    return file


# -- notes and tags ----------------------------------------------------------------------------


def test_notes_and_tags_of_a_study_and_a_trial_read_back(writer: HistoryWriter, path: Path) -> None:
    study = _study(writer)
    trial = _trial(writer, study, 0)
    other = _trial(writer, study, 1)
    writer.set_note(study, "baseline run\nsecond line  \n")
    writer.set_note(study, "the lr is too high", trial_id=trial)
    assert writer.set_tags(study, ["baseline", "lr", "baseline"]) == ("baseline", "lr")
    assert writer.change_tags(study, add=["sweep"], remove=["lr"], trial_id=trial) == ("sweep",)
    assert writer.change_tags(study, add=["good", "sweep"], trial_id=trial) == ("sweep", "good")
    with HistoryReader(path) as reader:
        row = reader.study(study)
        assert row is not None
        assert row.notes == "baseline run\nsecond line"  # trailing blanks dropped
        assert row.tags == ("baseline", "lr")
        (summary,) = reader.studies()
        assert summary.tags == ("baseline", "lr") and not summary.archived
        trials = {t.id: t for t in reader.trials(study)}
        assert trials[trial].notes == "the lr is too high"
        assert trials[trial].tags == ("sweep", "good")
        assert trials[other].notes is None and trials[other].tags == ()
        assert reader.trial(trial) == trials[trial]
    writer.set_note(study, "")  # an empty note clears it
    writer.change_tags(study, remove=["baseline", "lr", "never-there"])
    with HistoryReader(path) as reader:
        row = reader.study("s")
        assert row is not None and row.notes is None and row.tags == ()
    with sqlite3.connect(path) as conn:  # no tags is NULL, not "[]": no decoding per row
        assert conn.execute("SELECT tags FROM studies").fetchone() == (None,)
    conn.close()


def test_notes_and_tags_are_followed_by_a_live_reader(writer: HistoryWriter, path: Path) -> None:
    study = _study(writer)
    trial = _trial(writer, study, 0)
    with HistoryReader(path) as reader:
        mark = reader.changes_since().watermark
        writer.change_tags(study, add=["good"], trial_id=trial)
        writer.set_note(study, "checked")
        changes = reader.changes_since(mark)
    assert [t.tags for t in changes.trials] == [("good",)]
    assert [s.name for s in changes.studies] == ["s"]


@pytest.mark.parametrize(
    "tag", ["two words", "a,b", "", "tab\tbed", "x" * 41, "new\nline", "bell\x07"]
)
def test_a_tag_that_is_not_one_short_word_is_refused(writer: HistoryWriter, tag: str) -> None:
    study = _study(writer)
    with pytest.raises(MetaguiError, match="tag") as error:
        check_tag(tag)
    assert "\n" not in str(error.value)
    with pytest.raises(MetaguiError):
        writer.change_tags(study, add=["fine", tag])
    assert writer.get_study("s").tags == ()  # type: ignore[union-attr]  # nothing written
    assert check_tag("x" * 40) == "x" * 40
    assert check_tag("lr-sweep_2/é") == "lr-sweep_2/é"


def test_a_note_on_a_trial_of_another_study_is_refused(writer: HistoryWriter) -> None:
    first, second = _study(writer, "a"), _study(writer, "b")
    trial = _trial(writer, first, 0)
    with pytest.raises(MetaguiError, match="has no trial"):
        writer.set_note(second, "wrong study", trial_id=trial)
    with pytest.raises(MetaguiError, match="no study"):
        writer.set_note(999, "nowhere")


def test_notes_are_written_while_another_writer_runs_the_study_and_are_kept(
    writer: HistoryWriter, path: Path
) -> None:
    study = _study(writer)
    writer.acquire_lease(study)  # `writer` is the run
    running = writer.start_trial(study, 0, {"lr": 0.1})
    with HistoryWriter(path) as notebook:  # `metagui history --note` meanwhile
        notebook.set_note(study, "started late on purpose")
        notebook.change_tags(study, add=["night"], trial_id=running)
    # The run goes on writing its study and trial: the notes stay.
    writer.add_metrics(running, 1, {"train/loss": 0.5})
    writer.finish_trial(running, "COMPLETE", value=0.5)
    writer.set_study_status(study, "finished")
    writer.mark_running_trials_failed(study, "crashed")
    with HistoryReader(path) as reader:
        row = reader.study(study)
        assert row is not None and row.notes == "started late on purpose"
        (trial,) = reader.trials(study)
        assert trial.tags == ("night",) and trial.value == 0.5


# -- archive, rename, delete -------------------------------------------------------------------


def test_an_archived_study_is_left_out_of_the_list_only_when_asked(
    writer: HistoryWriter, path: Path
) -> None:
    _study(writer, "kept")
    gone = _study(writer, "old")
    writer.set_archived(gone, True)
    with HistoryReader(path) as reader:
        assert [s.name for s in reader.studies(archived=False)] == ["kept"]
        assert [(s.name, s.archived) for s in reader.studies()] == [
            ("kept", False),
            ("old", True),
        ]
        assert reader.study("old").archived  # type: ignore[union-attr]
    writer.set_archived(gone, False)
    with HistoryReader(path) as reader:
        assert [s.name for s in reader.studies(archived=False)] == ["kept", "old"]


def test_renaming_moves_the_artifacts_and_frees_the_old_name(
    writer: HistoryWriter, path: Path
) -> None:
    study = _study(writer)
    trial = _trial(writer, study, 0)
    old_file = _checkpoint(writer, study, trial)
    writer.set_note(study, "keep me")
    writer.rename_study(study, "renamed")
    new_folder = artifact_folder(path, "renamed")
    assert not old_file.parent.exists()
    assert (new_folder / old_file.name).read_bytes() == b"weights"
    with HistoryReader(path) as reader:
        row = reader.study("renamed")
        assert row is not None and row.id == study and row.notes == "keep me"
        assert reader.study("s") is None
        (artifact,) = reader.artifacts(study)
        assert Path(artifact.path) == new_folder / old_file.name
    # The old name is free again, folder and all.
    again = _study(writer, "s")
    _checkpoint(writer, again, _trial(writer, again, 0))
    assert artifact_folder(path, "s").is_dir()


def test_renaming_is_refused_for_a_taken_name_a_bad_name_or_a_folder_in_the_way(
    writer: HistoryWriter, path: Path
) -> None:
    study = _study(writer)
    _study(writer, "taken")
    with pytest.raises(MetaguiError, match="'taken' already exists"):
        writer.rename_study(study, "taken")
    with pytest.raises(MetaguiError, match="cannot name a folder"):
        writer.rename_study(study, "a/b")
    stranger = artifact_folder(path, "free")
    stranger.mkdir(parents=True)
    (stranger / "theirs.txt").write_text("not ours")
    with pytest.raises(MetaguiError, match="already there"):
        writer.rename_study(study, "free")
    assert writer.get_study("s") is not None and writer.get_study("free") is None
    assert (stranger / "theirs.txt").read_text() == "not ours"


def test_renaming_renames_the_stored_experiment_so_an_export_resumes_the_renamed_study(
    tmp_path: Path,
) -> None:
    # Imported here: the runner and the exports are needed by this test alone.
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.experiment_io import load_experiment
    from metagui.core.runner import StudyRunner, StudyStarted
    from metagui.core.study_export import export_from_history

    db = tmp_path / "h.sqlite"
    spec = ExperimentSpec.model_validate(
        {
            "name": "before",
            "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
            "model": {"hidden_sizes": [8]},
            "training": {"iterations": 2, "meta_batch_size": 2, "eval_every": 2,
                         "eval_tasks": 2, "test_tasks": 2, "log_every": 1},
            "search_space": {"params": [
                {"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2},
            ]},
            "strategy": {"name": "random"},
            "budget": {"trials": 1},
            "device": "cpu",
        }
    )  # fmt: skip
    for _ in StudyRunner(spec, db).run():
        pass
    with HistoryWriter(db) as writer:
        study = writer.get_study("before")
        assert study is not None
        writer.rename_study(study.id, "after")
        renamed = writer.get_study("after")
    assert renamed is not None
    assert renamed.spec == {**study.spec, "name": "after"}  # the name, nothing else
    exported = export_from_history(db, "yaml", tmp_path / "best.yaml", study="after")
    again = load_experiment(exported)
    assert again.name == "after"
    # The exported file resumes the renamed study (its settings are fixed: nothing to run).
    started, *_ = StudyRunner(again, db, resume=True).run()
    assert isinstance(started, StudyStarted)
    assert (started.study, started.study_id, started.resumed) == ("after", study.id, True)
    with HistoryReader(db) as reader:
        assert [s.name for s in reader.studies()] == ["after"]


def test_renaming_keeps_a_stored_experiment_that_is_not_an_object_as_it_is(
    writer: HistoryWriter,
) -> None:
    study = writer.create_study("s", "[1, 2]", "minimize", "random", 0)
    writer.rename_study(study, "t")
    renamed = writer.get_study("t")
    assert renamed is not None and renamed.spec_json == "[1, 2]"


class _FailingCommit:
    """A writer's connection whose next COMMIT fails, as on a disk that fills up."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)  # type: ignore[arg-type]


def test_a_rename_that_cannot_be_committed_moves_the_folder_back(
    writer: HistoryWriter, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(writer)
    file = _checkpoint(writer, study, _trial(writer, study, 0))
    monkeypatch.setattr(writer, "_db", _FailingCommit(writer._db))
    with pytest.raises(MetaguiError, match="disk is full"):
        writer.rename_study(study, "renamed")
    monkeypatch.undo()
    assert file.read_bytes() == b"weights"  # moved back
    assert not artifact_folder(path, "renamed").exists()
    assert writer.get_study("s") is not None and writer.get_study("renamed") is None
    with HistoryReader(path) as reader:
        assert [Path(a.path) for a in reader.artifacts(study)] == [file]


def test_deleting_removes_rows_and_files_and_says_how_many(
    writer: HistoryWriter, path: Path
) -> None:
    study = _study(writer)
    kept = _study(writer, "kept")
    trials = [_trial(writer, study, n) for n in range(3)]
    _trial(writer, kept, 0)
    recorded = _checkpoint(writer, study, trials[0])
    stray = artifact_folder(path, "s") / "partial.pt.tmp"
    stray.write_bytes(b"")
    writer.set_note(study, "gone soon")
    footprint = writer.study_footprint(study)
    assert footprint.trials == 3
    assert sorted(footprint.files) == sorted([recorded, stray])
    gone = writer.delete_study(study)
    assert gone.trials == 3 and len(gone.files) == 2
    assert not artifact_folder(path, "s").exists()
    with HistoryReader(path) as reader:
        assert [s.name for s in reader.studies()] == ["kept"]
    with sqlite3.connect(path) as conn:
        for table in ("trials", "metrics", "curves", "artifacts"):
            (n,) = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE "
                + ("study_id = ?" if table in ("trials", "artifacts") else "trial_id = ?"),
                [study if table in ("trials", "artifacts") else trials[0]],
            ).fetchone()
            assert n == 0, table
        assert conn.execute("SELECT COUNT(*) FROM trials").fetchone() == (1,)
    conn.close()


@pytest.mark.parametrize("verb", ["deleted", "renamed"])
def test_a_running_study_cannot_be_deleted_or_renamed(
    writer: HistoryWriter, path: Path, verb: str
) -> None:
    study = _study(writer)
    file = _checkpoint(writer, study, _trial(writer, study, 0))
    lease = writer.acquire_lease(study)
    with HistoryWriter(path) as other:
        with pytest.raises(MetaguiError, match=f"being run by PID .* cannot be {verb}") as error:
            if verb == "deleted":
                other.delete_study(study)
            else:
                other.rename_study(study, "renamed")
        assert "\n" not in str(error.value)
        other.set_note(study, "notes are fine meanwhile")
    assert file.is_file() and writer.get_study("s") is not None
    writer.release_lease(lease)
    writer.rename_study(study, "renamed")
    assert writer.delete_study(study).trials == 1


def test_a_stale_lease_does_not_keep_a_study_from_deletion(
    writer: HistoryWriter, path: Path
) -> None:
    study = _study(writer)
    ended = subprocess.Popen(["true"])
    ended.wait()
    with sqlite3.connect(path) as conn:  # the lease of a run that died
        conn.execute(
            "INSERT INTO leases VALUES (?, 'x', ?, ?, 0, 0)",
            [study, ended.pid, socket.gethostname()],
        )
    conn.close()
    assert writer.delete_study(study).trials == 0


# -- the schema --------------------------------------------------------------------------------


def test_a_schema_5_history_gains_empty_notebook_columns(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        old.setattr(_schema, "SCHEMA_VERSION", 5)
        old.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:5])
        with HistoryWriter(path) as writer:
            study = _study(writer)
            _trial(writer, study, 0)
    with pytest.raises(MetaguiError, match=f"older than {_schema.SCHEMA_VERSION}"):
        HistoryReader(path)
    with HistoryReader(path, upgrade=True) as reader:
        row = reader.study(study)
        assert row is not None
        assert (row.notes, row.tags, row.archived) == (None, (), False)
        assert reader.provenance(study) is None
        assert row.objectives == ()  # version 7: one objective, as every study had then
        (trial,) = reader.trials(study)
        assert (trial.notes, trial.tags) == (None, ())
        assert (trial.values, trial.outside_space) == (None, False)
    with HistoryWriter(path) as writer:  # and takes notes from now on
        writer.set_note(study, "from before")
        writer.set_archived(study, True)
    with HistoryReader(path) as reader:
        assert reader.studies(archived=False) == []


# -- provenance --------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@needs_git
def test_provenance_names_the_commit_and_whether_the_work_tree_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    experiment = repo / "exp" / "tiny.yaml"
    experiment.parent.mkdir()
    experiment.write_text("name: tiny\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "history.sqlite").write_bytes(b"untracked")  # files git does not track don't count

    clean = capture_provenance(experiment, "cpu")
    assert clean["python"] == platform.python_version()
    assert clean["host"] == socket.gethostname()
    assert clean["device"].startswith("cpu")
    assert clean["experiment"]["path"] == str(experiment.resolve())
    assert clean["experiment"]["sha256"] == hashlib.sha256(b"name: tiny\n").hexdigest()
    assert clean["experiment"]["git"] == {
        "root": str(repo.resolve()),
        "commit": head,
        "dirty": False,
    }
    experiment.write_text("name: tiny\nseed: 3\n")
    dirty = capture_provenance(experiment)["experiment"]
    assert dirty["git"]["dirty"] is True and dirty["git"]["commit"] == head
    assert dirty["sha256"] != clean["experiment"]["sha256"]
    assert json.loads(json.dumps(clean)) == clean  # stored as JSON as it is
    assert any(
        "with uncommitted changes" in line
        for line in describe_provenance(capture_provenance(experiment))
    )


@needs_git
def test_an_experiment_outside_a_repository_has_no_git_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text("name: tiny\n")
    found = capture_provenance(experiment)
    assert found["experiment"]["git"] is None
    assert found["experiment"]["sha256"] is not None
    _git(tmp_path, "init", "-q")  # a repository without a commit yet
    assert git_state(tmp_path) is None


def test_without_git_or_an_experiment_file_provenance_still_records_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text("name: tiny\n")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # no git to run
    found = capture_provenance(experiment, "cpu")
    assert found["experiment"]["git"] is None
    assert found["torch"] is not None and found["python"] == platform.python_version()
    assert capture_provenance(None)["experiment"] is None
    assert capture_provenance(tmp_path / "gone.yaml")["experiment"]["sha256"] is None


def test_a_study_keeps_the_provenance_it_was_created_with(
    writer: HistoryWriter, path: Path
) -> None:
    record = {"metagui": "9.9", "python": "3.11.0", "experiment": None}
    study = writer.create_study("s", SPEC, "minimize", "random", provenance_json=json.dumps(record))
    with pytest.raises(MetaguiError, match="provenance_json is not a JSON object"):
        writer.create_study("t", SPEC, "minimize", "random", provenance_json="[1]")
    with HistoryReader(path) as reader:
        assert reader.provenance(study) == record
        assert reader.provenance("s") == record
        assert reader.provenance("nobody") is None
