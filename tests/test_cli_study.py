"""``metagui run``, ``export`` and ``history`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from metagui.cli import main
from metagui.core.history import HistoryReader

TINY = {
    "name": "cli-tiny",
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


@pytest.fixture
def experiment_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("metagui: error:")
    return lines[0]


def test_run_history_and_every_export_format(
    experiment_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    assert main(["run", str(experiment_file), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "study 'cli-tiny' ended (budget)" in out and "2 complete" in out

    assert main(["history", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "cli-tiny" in listing and "complete=2" in listing
    assert main(["history", "--db", str(db), "--study", "cli-tiny"]) == 0
    trials = capsys.readouterr().out.splitlines()
    assert sum(line.lstrip("* ").split()[0] in ("0", "1") for line in trials[1:]) == 2
    assert sum(line.startswith("*") for line in trials) == 1  # the best is marked

    with HistoryReader(db) as reader:
        study = reader.study("cli-tiny")
        assert study is not None
        best = reader.best_trial(study.id)
    assert best is not None
    for fmt, name in [
        ("yaml", "b.yaml"),
        ("json", "b.json"),
        ("toml", "b.toml"),
        ("hydra", "optimization_results.yaml"),
        ("args", "b.txt"),
        ("csv", "trials.csv"),
        ("checkpoint", "best.pt"),
    ]:
        target = tmp_path / name
        assert main(["export", "--db", str(db), "--format", fmt, "-o", str(target)]) == 0
        assert target.is_file() and target.stat().st_size > 0
    exported = json.loads((tmp_path / "b.json").read_text())
    assert exported["_meta"]["trial"] == best.number
    assert exported["algorithm"]["inner_lr"] == pytest.approx(best.params["algorithm.inner_lr"])
    assert "search_space" not in exported  # the settings of one trial: nothing to search
    hydra = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert hydra["best_value"] == pytest.approx(best.value)
    assert (tmp_path / "b.txt").read_text().startswith("--algorithm.inner_lr=")
    assert len((tmp_path / "trials.csv").read_text().strip().splitlines()) == 3
    capsys.readouterr()


def test_run_resume_adds_budget(
    experiment_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    assert main(["run", str(experiment_file), "--db", str(db)]) == 0
    assert main(["run", str(experiment_file), "--db", str(db), "--resume", "--trials", "3"]) == 0
    assert "resuming study 'cli-tiny'" in capsys.readouterr().out
    with HistoryReader(db) as reader:
        study = reader.study("cli-tiny")
        assert study is not None
        assert [t.number for t in reader.trials(study.id)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "search_space": {
                    "params": [
                        {"name": "algorithm.inner_lr", "type": "float", "low": 1.0, "high": 0.1}
                    ]
                }
            },
            "search_space.params.0",
        ),
        ({"algorithm": {"name": "nope"}}, "algorithm.name"),
        (
            {
                "search_space": {
                    "params": [{"name": "optimizer.name", "type": "categorical", "choices": []}]
                }
            },
            "choices",
        ),
        (
            {
                "search_space": {
                    "params": [
                        {
                            "name": "algorithm.inner_lr",
                            "type": "float",
                            "low": 0.0,
                            "high": 1.0,
                            "log": True,
                        }
                    ]
                }
            },
            "log",
        ),
    ],
)
def test_a_bad_experiment_file_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, **change}))
    db = tmp_path / "h.sqlite"
    assert main(["run", str(path), "--db", str(db)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "bad.yaml" in line and expected in line
    assert not db.exists()


def test_errors_name_the_database_and_the_study(
    experiment_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert main(["history", "--db", str(missing)]) == 2
    assert "none.sqlite" in one_error_line(capsys.readouterr().err)
    db = tmp_path / "h.sqlite"
    assert main(["run", str(experiment_file), "--db", str(db)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "export",
                "--db",
                str(db),
                "--study",
                "other",
                "--format",
                "yaml",
                "-o",
                str(tmp_path / "x.yaml"),
            ]
        )
        == 2
    )
    assert "no study named 'other'" in one_error_line(capsys.readouterr().err)
    assert main(["run", str(experiment_file), "--db", str(db), "--resume", "--study", "zz"]) == 2
    assert "no study named 'zz'" in one_error_line(capsys.readouterr().err)
    not_history = tmp_path / "text.sqlite"
    not_history.write_text("hello")
    assert main(["history", "--db", str(not_history)]) == 2
    assert "text.sqlite" in one_error_line(capsys.readouterr().err)


def test_exclude_and_include_a_trial(
    experiment_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    assert main(["run", str(experiment_file), "--db", str(db)]) == 0
    with HistoryReader(db) as reader:
        study = reader.study("cli-tiny")
        assert study is not None
        best = reader.best_trial(study.id)
    assert best is not None
    capsys.readouterr()
    args = ["history", "--db", str(db), "--study", "cli-tiny"]
    assert main([*args, "--exclude", str(best.number)]) == 0
    assert "excluded" in capsys.readouterr().out
    with HistoryReader(db) as reader:
        other = reader.best_trial(study.id)
        assert other is not None and other.number != best.number
        assert len(reader.trials(study.id)) == 2  # still recorded
    assert main([*args, "--include", str(best.number)]) == 0
    with HistoryReader(db) as reader:
        again = reader.best_trial(study.id)
        assert again is not None and again.number == best.number


def test_a_run_whose_every_trial_failed_exits_non_zero_with_the_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # conv4 over sinusoid regression: a configuration no trial can train.
    failing = {**TINY, "search_space": {"params": [
        {"name": "model.kind", "type": "categorical", "choices": ["conv4"]}]}}  # fmt: skip
    exp = tmp_path / "failing.yaml"
    exp.write_text(yaml.safe_dump(failing))
    assert main(["run", str(exp), "--db", str(tmp_path / "h.sqlite"), "--trials", "1"]) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("metagui: error:")]  # after the bar
    assert line.startswith("metagui: error: every trial of this run failed: 1 x ")
    assert "conv4" in line


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_stops_cleanly_and_resume_continues(tmp_path: Path, stop: str) -> None:
    """Ctrl-C, and what schedulers, ``timeout`` and a closed terminal send, all stop a run
    cleanly: its trial recorded as interrupted, the study as stopped."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    slow = {**TINY, "training": {**TINY["training"], "iterations": 90000}, "budget": {"trials": 2}}
    exp = tmp_path / "slow.yaml"
    exp.write_text(yaml.safe_dump(slow))
    db = tmp_path / "h.sqlite"
    command = [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", str(db)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                running = conn.execute("SELECT COUNT(*) FROM trials WHERE state='RUNNING'")
                if running.fetchone()[0]:
                    break
            except sqlite3.OperationalError:
                pass
            finally:
                conn.close()
    proc.send_signal(getattr(signal, stop))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "--resume" in out
    with HistoryReader(db) as reader:
        study = reader.study("cli-tiny")
        assert study is not None and study.status == "stopped"
        trials = reader.trials(study.id)
    assert [t.state for t in trials] == ["FAILED"]
    assert "interrupted" in (trials[0].error or "")
    assert (
        main(["run", str(exp), "--db", str(db), "--resume", "--set", "training.iterations=4"]) == 0
    )
    with HistoryReader(db) as reader:
        after = reader.trials(study.id)
    # The interrupted trial is not a result: its settings run again (trial 1), and the budget
    # of 2 trials counts two results.
    assert [(t.state, t.retry_of) for t in after] == [
        ("FAILED", None),
        ("COMPLETE", 0),
        ("COMPLETE", None),
    ]
