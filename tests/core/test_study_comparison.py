"""Studies side by side (core): the rows of the comparison table computed from a real history,
the best trial as the history reader picks it, the time a study had trials running, and the
table as CSV."""

from __future__ import annotations

import csv
import io
import json
import platform
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from metagui.core.history import HistoryReader, HistoryWriter, Objective, TrialRow
from metagui.core.provenance import capture_provenance
from metagui.core.reports import format_value
from metagui.core.study_comparison import (
    BLANK,
    INACTIVE,
    PROVENANCE,
    RESULTS,
    SETTINGS,
    ComparedStudy,
    Comparison,
    best_trial,
    busy_seconds,
    compare_studies,
)

LR = {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True}
STEPS = {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 5}
ACTIVATION = {"name": "model.activation", "type": "categorical", "choices": ["relu", "tanh"]}
MOMENTUM = {
    "name": "optimizer.momentum",
    "type": "float",
    "low": 0.0,
    "high": 0.99,
    "condition": {"param": "optimizer.name", "in": ["sgd"]},
}
OPTIMIZER = {"name": "optimizer.name", "type": "categorical", "choices": ["adam", "sgd"]}


def _spec(name: str, params: list[dict[str, Any]], **more: Any) -> str:
    return json.dumps(
        {
            "name": name,
            "taskset": {"family": "omniglot", "n_way": 5, "k_shot": 1},
            "algorithm": {"name": "maml"},
            "model": {"kind": "conv4"},
            "search_space": {"params": params},
            **more,
        }
    )


def _trial(
    writer: HistoryWriter,
    study: int,
    number: int,
    params: dict[str, Any],
    state: str = "COMPLETE",
    value: float | None = None,
    test_value: float | None = None,
) -> int:
    trial = writer.start_trial(study, number, params)
    writer.finish_trial(trial, state, value=value, test_value=test_value)  # type: ignore[arg-type]
    return trial


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """ "alpha" (minimise, lr/steps/activation, provenance from a git work tree with changes)
    and "beta" (maximise, lr/optimizer/momentum, made before provenance was recorded)."""
    db = tmp_path / "h.sqlite"
    provenance = {
        "metagui": "0.9.0",
        "python": "3.12.1",
        "host": "lab-1",
        "platform": "Linux-6.8",
        "torch": "2.5.0",
        "cuda": "12.4",
        "device": "NVIDIA H200 (cuda:0)",
        "gpus": ["NVIDIA H200"],
        "experiment": {
            "path": "/work/exp/alpha.yaml",
            "sha256": "ab" * 32,
            "git": {"root": "/work/exp", "commit": "0123456789abcdef0123", "dirty": True},
        },
    }
    with HistoryWriter(db) as writer:
        alpha = writer.create_study(
            "alpha",
            _spec("alpha", [LR, STEPS, ACTIVATION], pruner={"name": "median"}),
            "minimize",
            "tpe",
            1,
            provenance_json=json.dumps(provenance),
        )
        _trial(
            writer,
            alpha,
            0,
            {"optimizer.lr": 0.01, "algorithm.inner_steps": 2, "model.activation": "relu"},
            value=0.5,
            test_value=0.55,
        )
        _trial(
            writer,
            alpha,
            1,
            {"optimizer.lr": 0.001234567, "algorithm.inner_steps": 3, "model.activation": "tanh"},
            value=0.25,
            test_value=0.3,
        )
        _trial(
            writer,
            alpha,
            2,
            {"optimizer.lr": 0.1, "algorithm.inner_steps": 1, "model.activation": "relu"},
            state="PRUNED",
        )
        writer.set_study_status(alpha, "finished")
        beta = writer.create_study(
            "beta",
            _spec("beta", [LR, OPTIMIZER, MOMENTUM], objective={"split": "test"}),
            "maximize",
            "random",
            2,
        )
        _trial(writer, beta, 0, {"optimizer.lr": 0.01, "optimizer.name": "adam"}, value=0.8)
        _trial(
            writer,
            beta,
            1,
            {"optimizer.lr": 0.02, "optimizer.name": "sgd", "optimizer.momentum": 0.9},
            value=0.7,
        )
        _trial(
            writer,
            beta,
            2,
            {"optimizer.lr": 0.05, "optimizer.name": "sgd", "optimizer.momentum": 0.5},
            state="FAILED",
        )
    return db


def _read(db: Path, *names: str) -> list[ComparedStudy]:
    with HistoryReader(db) as reader:
        out = []
        for name in names:
            row = reader.study(name)
            assert row is not None
            (summary,) = [s for s in reader.studies() if s.id == row.id]
            out.append(
                ComparedStudy(summary, row.spec, reader.trials(row.id), reader.provenance(row.id))
            )
        return out


def _cells(comparison: Comparison, label: str) -> tuple[str, ...]:
    return comparison.row(label).cells


def test_one_column_per_study_in_the_order_given_with_what_each_study_is(history: Path) -> None:
    comparison = compare_studies(_read(history, "beta", "alpha"))
    assert comparison.studies == ("beta", "alpha")
    assert comparison.sections() == ["Study", RESULTS, SETTINGS, PROVENANCE]
    assert _cells(comparison, "Status") == ("running", "finished")
    assert _cells(comparison, "Strategy") == ("random", "tpe, median pruner")
    assert _cells(comparison, "Objective") == ("maximize on test", "minimize on validation")
    assert _cells(comparison, "Task set") == ("omniglot 5-way 1-shot",) * 2
    assert _cells(comparison, "Algorithm") == ("maml (conv4)",) * 2
    assert _cells(comparison, "Seed") == ("2", "1")
    assert comparison.row("Strategy").differs
    assert not comparison.row("Task set").differs
    # A state and a date are not settings: never marked as a difference.
    assert not comparison.row("Status").differs and not comparison.row("Created").differs


def test_results_give_the_counts_the_best_trial_and_its_test_value(history: Path) -> None:
    comparison = compare_studies(_read(history, "alpha", "beta"))
    assert _cells(comparison, "Trials: complete / pruned / failed") == (
        "2 / 1 / 0 of 3",
        "2 / 0 / 1 of 3",
    )
    # alpha minimises (trial 1, 0.25), beta maximises (trial 0, 0.8).
    assert _cells(comparison, "Best value") == ("0.25 (trial 1)", "0.8 (trial 0)")
    assert _cells(comparison, "Best trial's test value") == ("0.3", "–")
    for label in ("Time running trials", "Median trial duration"):
        assert all(cell.count(":") == 1 for cell in _cells(comparison, label))  # m:ss clocks
    assert not any(row.differs for row in comparison.rows if row.section == RESULTS)


def test_settings_cover_the_union_of_the_search_spaces_blank_where_a_study_has_none(
    history: Path,
) -> None:
    comparison = compare_studies(_read(history, "alpha", "beta"))
    settings = [row for row in comparison.rows if row.section == SETTINGS]
    assert [row.label for row in settings] == [
        "optimizer.lr",
        "algorithm.inner_steps",
        "model.activation",
        "optimizer.name",
        "optimizer.momentum",
    ]
    assert _cells(comparison, "optimizer.lr") == (format_value(0.001234567), "0.01")
    assert _cells(comparison, "algorithm.inner_steps") == ("3", BLANK)
    assert _cells(comparison, "model.activation") == ("tanh", BLANK)
    assert _cells(comparison, "optimizer.name") == (BLANK, "adam")
    # beta's best trial ran adam: its momentum (a condition on sgd) was not used.
    assert _cells(comparison, "optimizer.momentum") == (BLANK, INACTIVE)
    assert all(row.differs for row in settings)


def test_the_same_setting_in_both_studies_is_not_marked(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with HistoryWriter(db) as writer:
        for name, lr, steps in (("a", 0.01, 2), ("b", 0.01, 3)):
            study = writer.create_study(name, _spec(name, [LR, STEPS]), "minimize", "tpe", 0)
            _trial(
                writer, study, 0, {"optimizer.lr": lr, "algorithm.inner_steps": steps}, value=1.0
            )
    comparison = compare_studies(_read(db, "a", "b"))
    assert not comparison.row("optimizer.lr").differs
    assert comparison.row("algorithm.inner_steps").differs
    # Neither has provenance: the same "not recorded" everywhere, nothing marked.
    provenance = [row for row in comparison.rows if row.section == PROVENANCE]
    assert {cell for row in provenance for cell in row.cells} == {"not recorded"}
    assert not any(row.differs for row in provenance)


def test_provenance_rows_show_versions_where_and_the_git_state(history: Path) -> None:
    comparison = compare_studies(_read(history, "alpha", "beta"))
    assert _cells(comparison, "metagui") == ("0.9.0", "not recorded")
    assert _cells(comparison, "torch") == ("2.5.0 (CUDA 12.4)", "not recorded")
    assert _cells(comparison, "Device")[0] == "NVIDIA H200 (cuda:0)"
    assert _cells(comparison, "GPUs")[0] == "NVIDIA H200"
    assert _cells(comparison, "Host")[0] == "lab-1"
    git = comparison.row("Git commit")
    assert git.cells[0] == "0123456789 + uncommitted changes"
    assert git.full_text(0) == "0123456789abcdef0123 + uncommitted changes"
    experiment = comparison.row("Experiment file")
    assert experiment.cells[0] == "/work/exp/alpha.yaml"
    assert experiment.full_text(0) == f"/work/exp/alpha.yaml (sha256 {'ab' * 32})"
    assert all(row.differs for row in comparison.rows if row.section == PROVENANCE)


def test_provenance_rows_read_what_capture_provenance_records(tmp_path: Path) -> None:
    """The rows name the keys the real capture writes (an oracle against a renamed key)."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: a\n")
    record = capture_provenance(experiment, device="cpu")
    db = tmp_path / "h.sqlite"
    with HistoryWriter(db) as writer:
        writer.create_study(
            "a", _spec("a", [LR]), "minimize", "tpe", 0, provenance_json=json.dumps(record)
        )
    comparison = compare_studies(_read(db, "a"))
    assert _cells(comparison, "Python") == (platform.python_version(),)
    assert _cells(comparison, "Host") == (socket.gethostname(),)
    assert _cells(comparison, "metagui") == (record["metagui"],)
    assert _cells(comparison, "Device") == (record["device"],)
    assert _cells(comparison, "Experiment file") == (str(experiment.resolve()),)
    expected_git = (
        "not in a git repository"
        if record["experiment"]["git"] is None
        else record["experiment"]["git"]["commit"][:10]
    )
    assert _cells(comparison, "Git commit")[0].startswith(expected_git)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_best_trial_is_the_one_the_history_reader_picks(tmp_path: Path, direction: str) -> None:
    db = tmp_path / "h.sqlite"
    with HistoryWriter(db) as writer:
        study = writer.create_study("s", _spec("s", [LR]), direction, "tpe", 0)  # type: ignore[arg-type]
        values = [0.5, 0.2, 0.9, 0.2, 0.9, float("nan"), 0.05]
        for number, value in enumerate(values):
            _trial(writer, study, number, {"optimizer.lr": 0.01}, value=value)
        excluded = _trial(writer, study, len(values), {"optimizer.lr": 0.01}, value=-5.0)
        writer.set_excluded(excluded, True)
        _trial(writer, study, len(values) + 1, {"optimizer.lr": 0.01}, state="PRUNED", value=99.0)
        with HistoryReader(db) as reader:
            trials = reader.trials(study)
            expected = reader.best_trial(study)
    found = best_trial(trials, direction == "maximize")
    assert expected is not None and found is not None
    assert found.number == expected.number
    assert found.number == (6 if direction == "minimize" else 2)  # ties: the lower number
    assert best_trial([], True) is None


def _span(number: int, started: float | None, finished: float | None) -> TrialRow:
    base = TrialRow(
        id=number, study_id=1, number=number, state="COMPLETE", params={}, value=1.0,
        test_value=None, seed=None, started=started, finished=finished, error=None,
        pruned_at_step=None, pruned_reason=None, excluded=False, device=None, updated_seq=0,
    )  # fmt: skip
    return replace(base, state="RUNNING") if finished is None else base


def test_time_running_trials_counts_parallel_trials_once_and_pauses_not_at_all() -> None:
    trials = [
        _span(0, 100.0, 110.0),
        _span(1, 105.0, 112.0),  # side by side with 0
        _span(2, 106.0, 108.0),  # inside both
        _span(3, 200.0, 205.0),  # after a pause (a resume)
        _span(4, 300.0, None),  # still running: not finished, not counted
    ]
    assert busy_seconds(trials) == pytest.approx(12.0 + 5.0)
    assert busy_seconds([_span(0, 1.0, None)]) is None
    assert busy_seconds([]) is None


def test_the_csv_holds_every_row_with_the_full_texts(history: Path) -> None:
    comparison = compare_studies(_read(history, "alpha", "beta"))
    lines = list(csv.reader(io.StringIO(comparison.to_csv())))
    assert lines[0] == ["section", "", "alpha", "beta"]
    assert len(lines) == 1 + len(comparison.rows)
    by_label = {line[1]: line for line in lines[1:]}
    assert by_label["Git commit"][2] == "0123456789abcdef0123 + uncommitted changes"
    assert by_label["optimizer.name"] == [SETTINGS, "optimizer.name", BLANK, "adam"]
    assert comparison.table(full=False)[1:] == [
        [row.section, row.label, *row.cells] for row in comparison.rows
    ]


def test_a_study_of_two_objectives_names_both(history: Path) -> None:
    alpha, beta = _read(history, "alpha", "beta")
    two = replace(
        alpha,
        objectives=(Objective("val/accuracy", "maximize"), Objective("parameters", "minimize")),
    )
    comparison = compare_studies([two, beta])
    assert comparison.row("Objective").cells == (
        "maximize validation accuracy and minimize parameters",
        "maximize on test",
    )
