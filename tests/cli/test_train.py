"""``metagui train``: the time budget (``--timeout``, ``--timeout-includes-eval``), the summary
line with the iterations that ran, the checkpoint, and the throughput in the progress bar."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import yaml

from metagui.cli import main
from metagui.core.checkpoint import load_checkpoint
from metagui.core.reports import StepReport, format_rate
from metagui.core.training import MetaTraining

SPEC = {
    "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
    "model": {"hidden_sizes": [8]},
    "algorithm": {"name": "maml"},
    "optimizer": {"schedule": "cosine"},
    "training": {
        "iterations": 10_000_000,
        "meta_batch_size": 2,
        "eval_tasks": 4,
        "test_tasks": 6,
        "log_every": 20,
    },
    "device": "cpu",
}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    return path


def test_timeout_stops_training_evaluates_and_writes_a_loadable_checkpoint(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.pt"
    assert main(["train", str(spec_file), "--timeout", "1.5", "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert "meta-test mse on 6 new tasks" in out
    found = re.search(r"(\d+) of 10000000 iterations \(stopped by the time budget\)", out)
    assert found, out
    iterations = int(found.group(1))
    assert 1 <= iterations < 10_000_000
    learner, spec = load_checkpoint(output)
    assert spec.training.time_budget_s == 1.5 and learner is not None
    payload = torch.load(output, weights_only=True)
    assert payload["extra"]["iterations"] == iterations


def test_timeout_including_the_evaluation_is_recorded_in_the_spec(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.pt"
    argv = ["train", str(spec_file), "--timeout", "1", "--timeout-includes-eval", "-o", str(output)]
    assert main(argv) == 0
    assert "(stopped by the time budget)" in capsys.readouterr().out
    _, spec = load_checkpoint(output)
    assert spec.training.time_budget_s == 1.0 and spec.training.time_budget_includes_eval


def test_without_a_budget_the_summary_says_all_iterations_ran(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(spec_file), "--set", "training.iterations=5"]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 iterations" in out and "time budget" not in out


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_a_timeout_that_is_no_time_is_refused(
    spec_file: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(spec_file), f"--timeout={value}"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_a_budget_in_the_file_is_validated_and_including_eval_needs_one(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(spec_file), "--set", "training.time_budget_s=.nan"]) == 2
    assert "training.time_budget_s" in capsys.readouterr().err
    assert main(["train", str(spec_file), "--timeout-includes-eval"]) == 2
    assert "needs a time budget" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (0.0523, "0.052"),
        (0.6, "0.6"),
        (3.41, "3.4"),
        (12.0, "12"),
        (99.7, "100"),
        (123.4, "123"),
        (45678.9, "45,679"),
        (0.0, "0"),
        (float("nan"), "0"),
    ],
)
def test_throughput_shows_significant_figures(rate: float, shown: str) -> None:
    assert format_rate(rate) == shown


def test_progress_bar_shows_a_slow_throughput_in_significant_figures(
    spec_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = MetaTraining.run

    def slow_run(self: MetaTraining) -> Iterator[object]:
        for report in real_run(self):
            if isinstance(report, StepReport):
                report = dataclasses.replace(report, tasks_per_s=0.0523)
            yield report

    monkeypatch.setattr(MetaTraining, "run", slow_run)
    assert main(["train", str(spec_file), "--set", "training.iterations=20"]) == 0
    assert "tasks/s=0.052" in capsys.readouterr().err


def test_train_without_a_validation_split_says_so_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_noise_classes: Callable[..., Path]
) -> None:
    write_noise_classes(tmp_path / "images", [f"c{c}" for c in range(8)], 3)
    spec = {
        "taskset": {
            "family": "image_folder",
            "root": "images",
            "n_way": 2,
            "k_shot": 1,
            "q_query": 1,
            "image_size": 16,
            "split": [0.5, 0.0, 0.5],
        },
        "model": {"filters": 4, "norm": "none"},
        "algorithm": {"name": "protonet"},
        "training": {"iterations": 2, "meta_batch_size": 2, "test_tasks": 4},
        "device": "cpu",
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert main(["train", str(path)]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert "4/0/4 train/validation/test classes (no validation split: split[1] = 0)" in first
    assert any(line.startswith("meta-test accuracy on 4 new tasks") for line in rest)
    assert main(["train", str(path), "--set", "training.eval_every=1"]) == 2
    assert "no validation split" in capsys.readouterr().err


def test_train_without_an_evaluation_set_reports_validation_and_saves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_noise_classes: Callable[..., Path]
) -> None:
    write_noise_classes(tmp_path / "bg", [f"Alpha/character{c:02d}" for c in range(6)], 3)
    spec = {
        "taskset": {
            "family": "omniglot",
            "root": ".",
            "background": "bg",
            "evaluation": [],
            "val_fraction": 0.5,
            "n_way": 2,
            "k_shot": 1,
            "q_query": 1,
            "image_size": 16,
        },
        "model": {"filters": 4, "norm": "none"},
        "algorithm": {"name": "protonet"},
        "training": {"iterations": 2, "meta_batch_size": 2, "eval_tasks": 3},
        "device": "cpu",
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    output = tmp_path / "model.pt"
    assert main(["train", str(path), "-o", str(output)]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert "(no evaluation set)" in first
    said = "meta-validation (the task set has no test split) accuracy on 3 new tasks"
    assert any(line.startswith(said) for line in rest), rest
    extra = torch.load(output, weights_only=True)["extra"]
    assert set(extra) == {"validation", "iterations"} and 0 <= extra["validation"] <= 1


def test_with_a_time_budget_the_bar_counts_seconds_of_the_budget(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(spec_file), "--timeout", "1.5"]) == 0
    err = capsys.readouterr().err
    # Seconds of the budget, with the iterations in the postfix; never the 10,000,000
    # iterations the budget makes unreachable (an ETA of days).
    assert re.search(r"\d/2 s \[", err), err[-500:]
    assert re.search(r"it=\d+, loss=", err)
    assert "10000000" not in err
