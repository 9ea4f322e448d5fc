"""Two-objective studies from the command line: ``metagui run`` shows the Pareto front where a
study of one objective shows its best, ``metagui history`` a column per objective with the
front marked, and ``metagui export`` asks for a trial when the front has several and says so
when the one exported is not on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from metagui.cli import main
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, HistoryWriter, Objective
from metagui.core.pareto import front_trials

TINY: dict[str, Any] = {
    "name": "two-cli",
    "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
    "model": {"hidden_sizes": [8]},
    "training": {
        "iterations": 3,
        "meta_batch_size": 2,
        "eval_every": 0,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 3,
    },
    "search_space": {
        "params": [
            {"name": "model.hidden_sizes.0", "type": "int", "low": 2, "high": 40},
            {"name": "algorithm.inner_lr", "type": "float", "low": 0.001, "high": 0.1},
        ]
    },
    "objective": {"second": {"metric": "parameters"}},
    "strategy": {"name": "nsga2", "population_size": 2},
    "budget": {"trials": 4},
    "device": "cpu",
}

# Trial number -> (validation MSE, parameters): the front is 0, 2 and 3; 1 is beaten by 0.
POINTS = [(1.0, 300.0), (2.0, 400.0), (0.5, 900.0), (3.0, 50.0)]


def history_of(db: Path, points: list[tuple[float, float]], name: str = "made") -> None:
    """A finished two-objective study of ``points`` (no training: the values are given)."""
    spec = ExperimentSpec.model_validate({**TINY, "name": name})
    objectives = (Objective("val/mse", "minimize"), Objective("parameters", "minimize"))
    with HistoryWriter(db) as writer:
        study = writer.create_study(
            name, spec.model_dump_json(), "minimize", "nsga2", 0, objectives=objectives
        )
        for number, values in enumerate(points):
            params = {"model.hidden_sizes.0": 4 + number, "algorithm.inner_lr": 0.01}
            trial = writer.start_trial(study, number, params, number, None)
            writer.finish_trial(trial, "COMPLETE", value=values[0], values=values)
        writer.set_study_status(study, "finished")


def export(db: Path, *args: str) -> int:
    return main(["export", "--db", str(db), "--study", "made", *args])


def test_run_and_history_show_the_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = tmp_path / "two.yaml"
    experiment.write_text(yaml.safe_dump(TINY))
    db = tmp_path / "h.sqlite"
    assert main(["run", str(experiment), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "(nsga2 search, minimize validation MSE and minimize parameters)" in out
    with HistoryReader(db) as reader:
        study = reader.study("two-cli")
        assert study is not None
        trials = reader.trials(study.id)
    front = [t.number for t in front_trials(trials, study.directions)]
    shown = ", ".join(f"#{n}" for n in front)
    ended = next(line for line in out.splitlines() if line.startswith("study 'two-cli' ended"))
    assert ended.endswith(f"front: {len(front)} trial{'' if len(front) == 1 else 's'} ({shown})")
    assert "best value" not in out
    assert "export a trial of the front" in out

    assert main(["history", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert f"front {len(front)}" in listing
    assert main(["history", "--db", str(db), "--study", "two-cli"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "minimize validation MSE and minimize parameters" in lines[0]
    assert any("(* on the Pareto front): validation MSE, then parameters" in ln for ln in lines)
    rows = {int(ln[1:5]): ln for ln in lines if ln[1:5].strip().isdigit()}
    assert sorted(rows) == [t.number for t in trials]
    for t in trials:
        assert t.values is not None
        assert rows[t.number].startswith("*") == (t.number in front)
        columns = rows[t.number][5:].split()
        assert columns[:3] == ["COMPLETE", f"{t.values[0]:.4g}", f"{t.values[1]:,.0f}"]


def test_export_asks_for_a_trial_of_a_front_of_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    history_of(db, POINTS)
    out = tmp_path / "chosen.json"
    assert export(db, "--format", "json", "-o", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("metagui: error: study 'made' has 3 trials on its Pareto front")
    for number in (0, 2, 3):
        assert f"#{number} (validation MSE" in err
    assert "#1 " not in err and "--trial N" in err and not out.exists()

    assert export(db, "--format", "json", "--trial", "2", "-o", str(out)) == 0
    assert capsys.readouterr().err == ""  # on the front: nothing to say
    meta = json.loads(out.read_text())["_meta"]
    assert meta["trial"] == 2 and meta["value"] == 0.5 and meta["on_front"] is True
    assert [(o["name"], o["direction"], o["value"]) for o in meta["objectives"]] == [
        ("val/mse", "minimize", 0.5),
        ("parameters", "minimize", 900.0),
    ]
    assert json.loads(out.read_text())["model"]["hidden_sizes"] == [6]


def test_export_says_when_the_trial_is_off_the_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    history_of(db, POINTS)
    out = tmp_path / "off.yaml"
    assert export(db, "--format", "yaml", "--trial", "1", "-o", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"wrote {out}"
    assert "trial 1 is not on the Pareto front of study 'made'" in captured.err
    assert yaml.safe_load(out.read_text())["_meta"]["on_front"] is False

    hydra = tmp_path / "optimization_results.yaml"
    assert export(db, "--format", "hydra", "--trial", "3", "-o", str(hydra)) == 0
    assert yaml.safe_load(hydra.read_text())["solutions"] == [
        {"params": {"model.hidden_sizes.0": 7, "algorithm.inner_lr": 0.01}, "values": [3.0, 50.0]}
    ]
    table = tmp_path / "trials.csv"
    assert export(db, "--format", "csv", "-o", str(table)) == 0
    header, *rows = table.read_text().splitlines()
    assert "objective:val/mse,objective:parameters" in header
    assert rows[3].split(",")[12:14] == ["3.0", "50.0"]


def test_export_takes_the_front_when_it_holds_one_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    history_of(db, [(2.0, 400.0), (1.0, 100.0), (1.5, 300.0)])
    out = tmp_path / "best.yaml"
    assert export(db, "--format", "yaml", "-o", str(out)) == 0
    assert capsys.readouterr().err == ""
    meta = yaml.safe_load(out.read_text())["_meta"]
    assert meta["trial"] == 1 and meta["on_front"] is True


def test_a_refused_strategy_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = tmp_path / "two.yaml"
    experiment.write_text(yaml.safe_dump({**TINY, "strategy": {"name": "cmaes"}}))
    assert main(["run", str(experiment), "--db", str(tmp_path / "h.sqlite")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "strategy.name: cmaes searches one objective" in err[0], err
    assert not (tmp_path / "h.sqlite").exists()
