"""``metagui predict --episodes DIR``: every task of a folder in one process, one TSV line per
query (``task, path, class, score``), exactly what per-task ``metagui predict`` calls give;
with labels, the accuracy with its 95% confidence interval over tasks; bad input is one
``metagui: error:`` line naming the file, exit code 2."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

import metagui
from metagui.cli import main

TRAIN_LEVELS = {f"c{i}": 20 + 30 * i for i in range(8)}
# Per task, two new classes (folder names sort against their levels).
TASK_LEVELS = {
    "task_a": {"b_dark": 0, "a_light": 230},
    "task_b": {"y_dim": 60, "x_bright": 180},
    "task_c": {"m_black": 5, "n_white": 250},
}
QUERIES_PER_CLASS = 3


@pytest.fixture(scope="module")
def checkpoint(
    tmp_path_factory: pytest.TempPathFactory,
    write_gray_classes: Callable[..., Path],
    tiny_checkpoint: Callable[..., Path],
) -> Path:
    """MAML on a 4-filter conv4 with batch norm, meta-trained for 4 iterations."""
    root = tmp_path_factory.mktemp("episodes-model")
    train = write_gray_classes(root / "train", TRAIN_LEVELS, 3, seed=1)
    maml = {"name": "maml", "inner_lr": 0.4, "inner_steps": 1}
    return tiny_checkpoint(train, root / "maml.pt", maml, "batch")


@pytest.fixture
def episodes(tmp_path: Path, write_gray_classes: Callable[..., Path]) -> Path:
    """Three tasks: task_a labelled truly (paths relative to the task, with a header), task_b
    with two of its labels swapped (paths relative to its query folder), task_c unlabelled."""
    root = tmp_path / "episodes"
    for seed, (task, levels) in enumerate(TASK_LEVELS.items()):
        folder = root / task
        write_gray_classes(folder / "support", levels, 2, seed=seed)
        scratch = write_gray_classes(tmp_path / "scratch" / task, levels, QUERIES_PER_CLASS)
        (folder / "query").mkdir()
        truth = []
        for name in levels:
            for i, image in enumerate(sorted((scratch / name).iterdir())):
                image.rename(folder / "query" / f"q{i}_{name}.png")
                truth.append((f"q{i}_{name}.png", name))
        if task == "task_a":
            rows = ["path,class", *(f"query/{file},{label}" for file, label in truth)]
        elif task == "task_b":
            names = list(levels)
            swapped = {names[0]: names[1], names[1]: names[0]}
            rows = [
                f"{file},{swapped[label] if i < 2 else label}"
                for i, (file, label) in enumerate(truth)
            ]
        else:
            continue
        (folder / "query_labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _labels_by_file_name(path: Path) -> dict[str, str]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    return {Path(file).name: label for file, label in rows if (file, label) != ("path", "class")}


def test_episodes_equal_per_task_predict_and_report_accuracy(
    checkpoint: Path, episodes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "--checkpoint", str(checkpoint), "--episodes", str(episodes))
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 4 for row in rows), out
    assert [row[0] for row in rows] == [
        task for task in TASK_LEVELS for _ in range(2 * QUERIES_PER_CLASS)
    ]

    model = metagui.load(checkpoint)
    accuracies = []
    for task in TASK_LEVELS:
        folder = episodes / task
        argv = ["--checkpoint", str(checkpoint), "--support", str(folder / "support")]
        one_code, one_out, _ = _run(capsys, *argv, "--query", str(folder / "query"))
        assert one_code == 0
        mine = [row[1:] for row in rows if row[0] == task]
        assert [row[:2] for row in mine] == [line.split("\t") for line in one_out.splitlines()]
        expected = model.adapt(folder / "support").predict(folder / "query")
        assert [float(row[2]) for row in mine] == pytest.approx(
            [p.score for p in expected], abs=1e-4
        )
        labels_file = folder / "query_labels.csv"
        if labels_file.exists():
            labels = _labels_by_file_name(labels_file)
            hits = [labels[Path(path).name] == label for path, label, _ in mine]
            accuracies.append(sum(hits) / len(hits))

    assert len(accuracies) == 2
    mean = statistics.mean(accuracies)
    ci95 = 1.96 * statistics.stdev(accuracies) / math.sqrt(len(accuracies))
    match = re.fullmatch(
        r"accuracy: ([0-9.]+) ± ([0-9.]+) % \(95% confidence interval\) over 2 labelled tasks\n",
        err,
    )
    assert match, err
    assert float(match[1]) == pytest.approx(100 * mean, abs=0.006)
    assert float(match[2]) == pytest.approx(100 * ci95, abs=0.006)


def test_episodes_without_labels_print_no_accuracy(
    checkpoint: Path, episodes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for labels in episodes.glob("*/query_labels.csv"):
        labels.unlink()
    code, out, err = _run(capsys, "--checkpoint", str(checkpoint), "--episodes", str(episodes))
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == len(TASK_LEVELS) * 2 * QUERIES_PER_CLASS


def _break_missing_support(root: Path) -> str:
    support = root / "task_b" / "support"
    for image in support.glob("*/*.png"):
        image.unlink()
    for folder in support.iterdir():
        folder.rmdir()
    support.rmdir()
    return str(support)


def _break_empty_class(root: Path) -> str:
    empty = root / "task_c" / "support" / "z_empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    return str(empty)


def _break_unknown_label(root: Path) -> str:
    labels = root / "task_a" / "query_labels.csv"
    labels.write_text(labels.read_text().replace(",b_dark\n", ",c_medium\n", 1))
    return f"{labels} line "


def _break_unknown_file(root: Path) -> str:
    labels = root / "task_b" / "query_labels.csv"
    labels.write_text(labels.read_text() + "absent.png,x_bright\n")
    return "'absent.png' is not a file of the query folder"


def _break_unreadable_image(root: Path) -> str:
    broken = root / "task_c" / "query" / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    return str(broken)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_break_missing_support, "has no support folder"),
        (_break_empty_class, "has no usable examples"),
        (_break_unknown_label, "class 'c_medium' is not a class of the support folder"),
        (_break_unknown_file, "query_labels.csv line 7"),
        (_break_unreadable_image, "cannot read image"),
    ],
    ids=["missing-support", "empty-class", "unknown-class", "unknown-file", "unreadable"],
)
def test_bad_episodes_fail_with_one_line_naming_the_file(
    damage: Callable[[Path], str],
    problem: str,
    checkpoint: Path,
    episodes: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = damage(episodes)
    code, _, err = _run(capsys, "--checkpoint", str(checkpoint), "--episodes", str(episodes))
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("metagui: error: predict: ")
    assert where in line and problem in line, line


def test_episodes_and_a_single_task_are_exclusive(
    checkpoint: Path, episodes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--checkpoint", str(checkpoint), "--episodes", str(episodes), "--support", "x"]
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "either --episodes or --support and --query" in err
    code, _, err = _run(capsys, "--checkpoint", str(checkpoint), "--support", "x")
    assert code == 2 and "give --support and --query" in err
