"""``metagui run --resume`` with an edited experiment file: what changed is printed one line
per change with the trials now outside the search space, a change that may not be made is
refused in one line, and ``metagui history --study`` marks the trials outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from metagui.cli import main
from metagui.core.history import HistoryReader

LR = "algorithm.inner_lr"


def experiment(low: float, high: float, **more: Any) -> dict[str, Any]:
    return {
        "name": "cli-edit",
        "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
        "model": {"hidden_sizes": [8]},
        "training": {"iterations": 3, "meta_batch_size": 2, "eval_every": 3, "eval_tasks": 2,
                     "test_tasks": 2, "log_every": 3},
        "search_space": {"params": [
            {"name": LR, "type": "float", "low": low, "high": high, "log": True},
        ]},
        "strategy": {"name": "random"},
        "budget": {"trials": 4},
        "device": "cpu",
        "seed": 3,
        **more,
    }  # fmt: skip


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_resume_with_a_narrowed_range_prints_the_change_and_marks_trials_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    exp = write(tmp_path / "exp.yaml", experiment(1e-3, 0.5))
    assert main(["run", str(exp), "--db", str(db)]) == 0
    with HistoryReader(db) as reader:
        study = reader.study("cli-edit")
        assert study is not None
        values = {t.number: t.params[LR] for t in reader.trials(study.id)}
    outside = sorted(n for n, v in values.items() if not 0.01 <= v <= 0.1)
    assert 0 < len(outside) < 4  # the seed gives both kinds
    capsys.readouterr()

    write(exp, experiment(0.01, 0.1, budget={"trials": 5}))
    assert main(["run", str(exp), "--db", str(db), "--resume"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"  search space: {LR} range 0.001..0.5 log -> 0.01..0.1 log" in out
    assert "  changed: budget.trials 4 -> 5" in out
    assert any(
        line.startswith(f"  {len(outside)} of 4 trials now lie outside the search space")
        for line in out
    )
    with HistoryReader(db) as reader:
        trials = reader.trials(study.id)
    assert [t.number for t in trials if t.outside_space] == outside
    assert len(trials) == 5 and 0.01 <= trials[4].params[LR] <= 0.1

    assert main(["history", "--db", str(db), "--study", "cli-edit"]) == 0
    shown = capsys.readouterr().out
    lines = {int(line[1:5]): line for line in shown.splitlines() if line[1:5].strip().isdigit()}
    assert sorted(lines) == [0, 1, 2, 3, 4]
    assert [n for n, line in lines.items() if "(outside the space)" in line] == outside
    assert f"({len(outside)} trial" in shown and "outside the current search space" in shown
    assert "search space edited" in shown  # the note, with its time


def test_resume_with_a_change_of_what_a_trial_means_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    exp = write(tmp_path / "exp.yaml", experiment(1e-3, 0.5, budget={"trials": 1}))
    assert main(["run", str(exp), "--db", str(db)]) == 0
    before = db.read_bytes()
    capsys.readouterr()
    changed = experiment(1e-3, 0.5, budget={"trials": 1})
    changed["model"] = {"hidden_sizes": [16]}
    write(exp, changed)
    assert main(["run", str(exp), "--db", str(db), "--resume", "--trials", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("metagui: error: cannot resume study 'cli-edit' with this experiment: ")
    assert "model.hidden_sizes" in err
    assert db.read_bytes() == before
