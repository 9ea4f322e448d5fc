"""``metagui history`` as a lab notebook: notes and tags shown, kept across a resume and
exported; renaming, archiving and deleting studies; the provenance of a real run."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from metagui.cli import main
from metagui.core.experiment_io import load_experiment_meta
from metagui.core.history import HistoryReader, HistoryWriter, artifact_folder

TINY = {
    "name": "nb",
    "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
    "model": {"hidden_sizes": [8]},
    "training": {
        "iterations": 4,
        "meta_batch_size": 2,
        "eval_every": 2,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 2,
    },
    "search_space": {
        "params": [
            {"name": "algorithm.inner_lr", "type": "float", "low": 0.001, "high": 0.1, "log": True},
        ]
    },
    "strategy": {"name": "random"},
    "budget": {"trials": 2},
    "device": "cpu",
}


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _run(experiment: Path, db: Path, capsys: pytest.CaptureFixture[str], *more: str) -> None:
    assert main(["run", str(experiment), "--db", str(db), *more]) == 0
    capsys.readouterr()


def _history(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", "--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("metagui: error:")
    return lines[0]


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_run_records_its_provenance_and_keeps_notes_and_tags_across_a_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    experiment = repo / "tiny.yaml"
    experiment.write_text(yaml.safe_dump(TINY))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    experiment.write_text(yaml.safe_dump({**TINY, "seed": 5}))  # changed since the commit
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)

    with HistoryReader(db) as reader:
        record = reader.provenance("nb")
    assert record is not None
    assert record["experiment"]["path"] == str(experiment.resolve())
    assert record["experiment"]["git"]["commit"] == head
    assert record["experiment"]["git"]["dirty"] is True
    assert record["device"].startswith("cpu")

    assert _history(db, capsys, "--study", "nb", "--note", "first look\nlr range too wide")[0] == 0
    code, out, _ = _history(db, capsys, "--study", "nb", "--tag", "baseline", "--tag", "cpu")
    assert code == 0 and "tags baseline, cpu" in out
    _history(db, capsys, "--study", "nb", "--trial", "1", "--tag", "look-here", "--note", "odd")
    _history(db, capsys, "--study", "nb", "--untag", "cpu")

    _run(experiment, db, capsys, "--resume", "--study", "nb", "--trials", "3")

    code, listing, _ = _history(db, capsys)
    assert code == 0
    (line,) = [line for line in listing.splitlines() if line.startswith("nb ")]
    assert line.endswith("[baseline]") and "complete=3" in line
    code, details, _ = _history(db, capsys, "--study", "nb")
    assert code == 0
    assert "  tags: baseline" in details
    assert "  note: first look\n        lr range too wide" in details
    assert f"git {head[:12]} with uncommitted changes" in details
    assert str(experiment.resolve()) in details
    trial_lines = {line.lstrip("* ").split()[0]: line for line in details.splitlines()[1:]}
    assert "look-here" in trial_lines["1"] and "look-here" not in trial_lines["0"]
    # The tags column lines the parameters up.
    assert trial_lines["0"].index("algorithm.") == trial_lines["1"].index("algorithm.")
    assert "       note: odd" in details

    with HistoryReader(db) as reader:
        study = reader.study("nb")
        assert study is not None
        best = reader.best_trial(study.id)
    assert best is not None
    best_file = tmp_path / "best.yaml"
    assert (
        main(["export", "--db", str(db), "--study", "nb", "--format", "yaml", "-o", str(best_file)])
        == 0
    )
    meta = load_experiment_meta(best_file)
    assert meta is not None
    assert meta["notes"]["study"] == "first look\nlr range too wide"
    assert meta["tags"]["study"] == ["baseline"]
    assert meta["provenance"]["experiment"]["git"]["commit"] == head
    assert ("trial" in meta["tags"]) == (best.number == 1)
    csv_file = tmp_path / "trials.csv"
    assert (
        main(["export", "--db", str(db), "--study", "nb", "--format", "csv", "-o", str(csv_file)])
        == 0
    )
    with csv_file.open(newline="") as file:
        rows = {row["number"]: row for row in csv.DictReader(file)}
    assert rows["1"]["tags"] == "look-here" and rows["1"]["notes"] == "odd"
    assert rows["0"]["tags"] == ""


def test_a_bad_tag_is_refused_in_one_line_and_nothing_is_written(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)
    code, _, err = _history(db, capsys, "--study", "nb", "--note", "x", "--tag", "two words")
    assert code != 0 and "not one word" in _error_line(err)
    code, _, err = _history(db, capsys, "--note", "which study?")
    assert code != 0 and "--study" in _error_line(err)
    with HistoryReader(db) as reader:
        study = reader.study("nb")
        assert study is not None and study.notes is None and study.tags == ()


def test_rename_moves_the_artifacts_and_frees_the_old_name(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)
    old_files = sorted(p.name for p in artifact_folder(db, "nb").iterdir())
    assert old_files
    code, out, _ = _history(db, capsys, "--study", "nb", "--rename", "nb-first")
    assert code == 0 and "'nb' is now 'nb-first'" in out
    assert not artifact_folder(db, "nb").exists()
    assert sorted(p.name for p in artifact_folder(db, "nb-first").iterdir()) == old_files
    model = tmp_path / "best.pt"
    assert (
        main(
            [
                "export",
                "--db",
                str(db),
                "--study",
                "nb-first",
                "--format",
                "checkpoint",
                "-o",
                str(model),
            ]
        )
        == 0
    )
    assert model.stat().st_size > 0
    _run(experiment, db, capsys)  # the old name is free: a new study takes it, not nb-2
    with HistoryReader(db) as reader:
        assert [s.name for s in reader.studies()] == ["nb-first", "nb"]


def test_delete_says_what_goes_asks_first_and_removes_rows_and_files(
    experiment: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)
    n_files = len(list(artifact_folder(db, "nb").iterdir()))
    code, _, err = _history(db, capsys, "--study", "nb", "--delete")  # no terminal here
    assert code != 0
    assert f"removes 2 trials and {n_files} artifact file" in _error_line(err)
    assert "--yes" in err
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, out, _ = _history(db, capsys, "--study", "nb", "--delete")
    assert code == 1 and "nothing deleted" in out
    assert artifact_folder(db, "nb").is_dir()
    asked: list[str] = []

    def yes(prompt: str) -> str:
        asked.append(prompt)
        return "y"

    monkeypatch.setattr("builtins.input", yes)
    code, out, _ = _history(db, capsys, "--study", "nb", "--delete")
    assert code == 0 and f"deleted study 'nb': 2 trials and {n_files} artifact file" in out
    assert "2 trials" in asked[0]
    assert not artifact_folder(db, "nb").exists()
    code, out, _ = _history(db, capsys)
    assert out.strip() == "no studies yet"


@pytest.mark.parametrize("action", [["--delete", "--yes"], ["--rename", "other"]])
def test_a_running_study_is_neither_deleted_nor_renamed(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)
    with HistoryWriter(db) as run:
        study = run.get_study("nb")
        assert study is not None
        lease = run.acquire_lease(study.id)  # as `metagui run --resume` holds it
        code, _, err = _history(db, capsys, "--study", "nb", *action)
        assert code != 0 and "is being run by PID" in _error_line(err)
        code, _, _ = _history(db, capsys, "--study", "nb", "--note", "while it runs")
        assert code == 0
        run.release_lease(lease)
    with HistoryReader(db) as reader:
        kept = reader.study("nb")
        assert kept is not None and kept.notes == "while it runs"
    assert artifact_folder(db, "nb").is_dir()


def test_an_archived_study_is_listed_only_with_all(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    _run(experiment, db, capsys)
    _run(experiment, db, capsys, "--study", "kept")
    assert _history(db, capsys, "--study", "nb", "--archive")[0] == 0
    names = [line.split()[0] for line in _history(db, capsys)[1].splitlines()[1:]]
    assert names == ["kept", "(1"]  # the last line says one is hidden
    listing = _history(db, capsys, "--all")[1]
    assert [line.split()[:3:2] for line in listing.splitlines()[1:]] == [
        ["nb", "archived"],
        ["kept", "finished"],
    ]
    assert "(archived)" in _history(db, capsys, "--study", "nb")[1].splitlines()[0]
    assert _history(db, capsys, "--study", "nb", "--unarchive")[0] == 0
    assert "nb " in _history(db, capsys)[1]
