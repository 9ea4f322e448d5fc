"""``metagui history --where`` and ``metagui export --format csv --where``: the same trial
filter over a small real history, and a bad filter as one line of error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from metagui.cli import main
from metagui.core.history import HistoryWriter

EXAMPLE = 'value < 0.5 and algorithm.name == "maml" and "baseline" in tags'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Study ``s``: five trials over two algorithms (``algorithm.inner_lr`` only for the
    gradient-based ones), some tagged ``baseline``, one failed."""
    path = tmp_path / "h.sqlite"
    trials = [
        ({"algorithm.name": "maml", "algorithm.inner_lr": 0.1}, 0.4, ["baseline"]),
        ({"algorithm.name": "maml", "algorithm.inner_lr": 0.01}, 0.7, ["baseline"]),
        ({"algorithm.name": "maml", "algorithm.inner_lr": 0.03}, 0.2, []),
        ({"algorithm.name": "protonet", "model.hidden_sizes.0": 64}, 0.1, ["baseline"]),
        ({"algorithm.name": "maml", "algorithm.inner_lr": 0.05}, None, ["baseline"]),
    ]
    with HistoryWriter(path) as writer:
        study = writer.create_study("s", json.dumps({"name": "s"}), "minimize", "random", 0)
        for number, (params, value, tags) in enumerate(trials):
            trial = writer.start_trial(study, number, params)
            if value is None:
                writer.finish_trial(trial, "FAILED", error="diverged")
            else:
                writer.finish_trial(trial, "COMPLETE", value=value)
            writer.change_tags(study, tags, trial_id=trial)
        writer.set_study_status(study, "finished")
    return path


def _history(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", "--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _listed(out: str) -> list[int]:
    """The numbers of the trials a ``metagui history --study`` lists."""
    return [int(line[1:5]) for line in out.splitlines() if line[1:5].strip().isdigit()]


def test_history_where_lists_the_matching_trials(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _history(db, capsys, "--study", "s", "--where", EXAMPLE)
    assert code == 0 and _listed(out) == [0]
    assert out.rstrip().endswith("(--where: 1 of 5 trials)")
    code, out, _ = _history(db, capsys, "--study", "s")
    assert code == 0 and _listed(out) == [0, 1, 2, 3, 4] and "--where" not in out
    # a conditional parameter: trial 3 has no inner_lr, so neither comparison holds for it
    _, out, _ = _history(db, capsys, "--study", "s", "--where", "algorithm.inner_lr >= 0.03")
    assert _listed(out) == [0, 2, 4]
    _, out, _ = _history(db, capsys, "--study", "s", "--where", "not algorithm.inner_lr < 1")
    assert _listed(out) == [3]
    _, out, _ = _history(
        db, capsys, "--study", "s", "--where", 'state == "failed" or model.hidden_sizes.0 > 32'
    )
    assert _listed(out) == [3, 4]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            'algoritm.name == "maml"',
            "--where: column 1: unknown name 'algoritm.name'; did you mean 'algorithm.name'?",
        ),
        ("value < ", "--where: column 9: the filter ends early: expected a name or a literal"),
        (
            "__import__('os').system('echo hi')",
            "--where: column 11: calling '__import__' is not allowed: a filter has no functions",
        ),
    ],
)
def test_a_bad_where_is_one_line_and_exit_code_2(
    db: Path, capsys: pytest.CaptureFixture[str], where: str, message: str
) -> None:
    code, out, err = _history(db, capsys, "--study", "s", "--where", where)
    assert code == 2 and out == ""
    assert err == f"metagui: error: {message}\n"


def test_history_where_needs_a_study_and_no_trial(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["--where", "value < 1"], ["--study", "s", "--trial", "0", "--where", "true"]):
        code, _, err = _history(db, capsys, *args)
        assert code == 2 and "--where picks trials of one study" in err
    code, _, err = _history(db, capsys, "--study", "s", "--tag", "x", "--where", "true")
    assert code == 2 and "--where only lists trials" in err


def _export(db: Path, out: Path, *more: str) -> int:
    return main(["export", "--db", str(db), "--study", "s", "-o", str(out), *more])


def test_export_csv_where_writes_only_the_matching_trials(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every, some = tmp_path / "every.csv", tmp_path / "some.csv"
    assert _export(db, every, "--format", "csv") == 0
    assert _export(db, some, "--format", "csv", "--where", '"baseline" in tags') == 0
    capsys.readouterr()
    with every.open(newline="") as f:
        all_rows = list(csv.DictReader(f))
    with some.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["number"] for r in all_rows] == ["0", "1", "2", "3", "4"]
    assert [r["number"] for r in rows] == ["0", "1", "3", "4"]
    # the same columns as the whole export: every parameter of the study, matched or not
    assert list(rows[0]) == list(all_rows[0])
    assert "param:model.hidden_sizes.0" in rows[0]
    assert _export(db, some, "--format", "csv", "--where", EXAMPLE) == 0
    with some.open(newline="") as f:
        assert [r["number"] for r in csv.DictReader(f)] == ["0"]


def test_export_where_refuses_a_bad_filter_and_other_formats(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.csv"
    code = _export(db, out, "--format", "csv", "--where", "value <> 1")
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("metagui: error: --where: column 8: ")
    assert not out.exists()
    code = _export(db, tmp_path / "t.yaml", "--format", "yaml", "--where", "value < 1")
    _, err = capsys.readouterr()
    assert code == 2 and "a trial filter is for the csv format" in err


def test_front_in_where_is_the_pareto_front_in_history_and_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from metagui.core.history import Objective
    from metagui.core.pareto import pareto_front

    path = tmp_path / "two.sqlite"
    values = [(0.9, 500.0), (0.7, 100.0), (0.8, 600.0), (0.6, 50.0), (0.7, 300.0)]
    objectives = (Objective("val/accuracy", "maximize"), Objective("parameters", "minimize"))
    with HistoryWriter(path) as writer:
        study = writer.create_study(
            "s", json.dumps({"name": "s"}), "maximize", "nsga2", 0, objectives=objectives
        )
        for number, pair in enumerate(values):
            trial = writer.start_trial(study, number, {"lr": 0.1 * (number + 1)})
            writer.finish_trial(trial, "COMPLETE", value=pair[0], values=pair)
    expected = pareto_front(values, ["maximize", "minimize"])
    assert expected == [0, 1, 3]
    code, out, _ = _history(path, capsys, "--study", "s", "--where", "front")
    assert code == 0 and _listed(out) == expected
    code, out, _ = _history(path, capsys, "--study", "s", "--where", "not front")
    assert code == 0 and _listed(out) == [2, 4]
    csv_path = tmp_path / "front.csv"
    assert (
        main(
            [
                "export",
                "--db",
                str(path),
                "--study",
                "s",
                "-o",
                str(csv_path),
                "--format",
                "csv",
                "--where",
                "front",
            ]
        )
        == 0
    )
    with csv_path.open(newline="") as f:
        assert [int(r["number"]) for r in csv.DictReader(f)] == expected


def test_front_of_one_objective_is_the_best_and_its_ties_as_in_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.sqlite"
    with HistoryWriter(path) as writer:
        study = writer.create_study("s", json.dumps({"name": "s"}), "minimize", "random", 0)
        for number, value in enumerate([0.3, 0.1, 0.5, 0.1]):
            trial = writer.start_trial(study, number, {"lr": 0.1 * (number + 1)})
            writer.finish_trial(trial, "COMPLETE", value=value)
    code, out, _ = _history(path, capsys, "--study", "s", "--where", "front")
    assert code == 0 and _listed(out) == [1, 3]
