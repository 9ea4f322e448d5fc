"""``metagui predict``: a briefly meta-trained model classifies the query files of NEW classes
given a support folder; files are read exactly as training read them; every user mistake ends
in one ``metagui: error:`` line naming the problem."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from metagui.cli import main
from metagui.core.checkpoint import save_checkpoint
from metagui.core.learners import build_learner
from metagui.core.predict import example_reader
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import ImageFolderConfig, SinusoidConfig, TextCSVConfig
from metagui.core.training import MetaTraining

# Training classes are solid gray levels 10, 30, ..., 230; the classes predicted are new levels.
TRAIN_LEVELS = {f"c{i:02d}": 10 + 20 * i for i in range(12)}
# Folder names sort in another order than the levels, so a mix-up of labels shows.
NEW_LEVELS_3 = {"b_dark": 0, "a_mid": 125, "c_light": 250}
NEW_LEVELS_2 = {"b_dark": 0, "a_light": 200}
QUERIES_PER_CLASS = 4


def _train(settings: dict[str, Any], path: Path) -> Path:
    spec = TrainSpec.model_validate(settings)
    run = MetaTraining(spec)
    for _ in run.run():
        pass
    return save_checkpoint(path, run.learner, spec)


def _image_settings(root: Path, n_way: int, algorithm: dict[str, Any]) -> dict[str, Any]:
    return {
        "taskset": {
            "family": "image_folder",
            "root": str(root),
            "n_way": n_way,
            "k_shot": 2,
            "q_query": 3,
            "image_size": 16,
            "split": (0.5, 0.25, 0.25),
        },
        "model": {"kind": "conv4", "filters": 4},
        "algorithm": algorithm,
        "optimizer": {"name": "adam", "lr": 0.01},
        # The batched path: far fewer tiny kernel calls than the per-task loop, which keeps
        # these runs short on a loaded CPU. Either path trains the same model.
        "training": {
            "iterations": 20,
            "meta_batch_size": 4,
            "test_tasks": 4,
            "log_every": 10,
            "batched": "on",
        },
        "device": "cpu",
    }


@pytest.fixture(scope="module")
def train_images(
    tmp_path_factory: pytest.TempPathFactory, write_gray_classes: Callable[..., Path]
) -> Path:
    return write_gray_classes(tmp_path_factory.mktemp("train"), TRAIN_LEVELS, 6, seed=1)


@pytest.fixture(scope="module")
def protonet_checkpoint(tmp_path_factory: pytest.TempPathFactory, train_images: Path) -> Path:
    settings = _image_settings(train_images, 3, {"name": "protonet"})
    return _train(settings, tmp_path_factory.mktemp("protonet") / "protonet.pt")


@pytest.fixture(scope="module")
def maml_checkpoint(tmp_path_factory: pytest.TempPathFactory, train_images: Path) -> Path:
    algorithm = {"name": "maml", "inner_lr": 0.4, "inner_steps": 1, "eval_inner_steps": 2}
    settings = _image_settings(train_images, 2, algorithm)
    return _train(settings, tmp_path_factory.mktemp("maml") / "maml.pt")


def _gray_task(
    root: Path, levels: dict[str, int], write_gray_classes: Callable[..., Path]
) -> tuple[Path, Path]:
    """A support folder (2 images per class) and a flat query folder whose files are named
    ``<class>_<i>.png``, plus a file predict must skip."""
    support = write_gray_classes(root / "support", levels, 2, seed=2)
    scratch = write_gray_classes(root / "scratch", levels, QUERIES_PER_CLASS, seed=3)
    query = root / "query"
    query.mkdir()
    for name in levels:
        for i, image in enumerate(sorted((scratch / name).iterdir())):
            image.rename(query / f"{name}_{i}.png")
    (query / "notes.txt").write_text("not an image")
    return support, query


def _run_predict(
    capsys: pytest.CaptureFixture[str], checkpoint: Path, support: Path, query: Path, *extra: str
) -> list[tuple[str, str]]:
    argv = ["predict", "--checkpoint", str(checkpoint), "--support", str(support)]
    code = main([*argv, "--query", str(query), *extra])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    rows = [line.split("\t") for line in out.splitlines()]
    assert all(len(row) == 2 for row in rows), out
    return [(path, label) for path, label in rows]


def _check_predictions(rows: list[tuple[str, str]], query: Path, classes: list[str]) -> None:
    expected_files = sorted(p.name for p in query.glob("*.png"))
    assert len(expected_files) == QUERIES_PER_CLASS * len(classes)
    # One line per query file, in name order, ending with that file's name.
    assert len(rows) == len(expected_files)
    for (path, _), name in zip(rows, expected_files, strict=True):
        assert path.endswith(name)
    assert {label for _, label in rows} <= set(classes)
    correct = sum(Path(path).name.rsplit("_", 1)[0] == label for path, label in rows)
    assert correct >= 0.8 * len(rows), rows


def test_protonet_classifies_new_image_classes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    protonet_checkpoint: Path,
    write_gray_classes: Callable[..., Path],
) -> None:
    support, query = _gray_task(tmp_path, NEW_LEVELS_3, write_gray_classes)
    rows = _run_predict(capsys, protonet_checkpoint, support, query)
    _check_predictions(rows, query, list(NEW_LEVELS_3))


@pytest.mark.parametrize("steps", [[], ["--steps", "3"]], ids=["spec-steps", "three-steps"])
def test_maml_adapts_to_new_image_classes(
    steps: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    maml_checkpoint: Path,
    write_gray_classes: Callable[..., Path],
) -> None:
    support, query = _gray_task(tmp_path, NEW_LEVELS_2, write_gray_classes)
    rows = _run_predict(capsys, maml_checkpoint, support, query, *steps)
    _check_predictions(rows, query, list(NEW_LEVELS_2))


# --- texts ----------------------------------------------------------------------------------

_FILLER = ["the", "and", "of", "to", "is", "in"]


def _text(label_words: list[str], rng: random.Random) -> str:
    words = [*label_words, rng.choice(_FILLER)]
    rng.shuffle(words)
    return " ".join(words)


def _words(label: str) -> list[str]:
    return [f"{label}{part}" for part in ("ka", "lu", "mo")]


def test_protonet_classifies_new_text_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(12):
        lines += [f"{_text(_words(f'topic{i}'), rng)},topic{i}" for _ in range(6)]
    csv_path = tmp_path / "texts.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = {
        "taskset": {
            "family": "text_csv",
            "path": str(csv_path),
            "n_way": 3,
            "k_shot": 2,
            "q_query": 2,
            "max_tokens": 16,
            "buckets": 1024,
            "ngram": (1, 1),
            "split": (0.5, 0.25, 0.25),
        },
        "model": {"kind": "text", "embed_dim": 16, "hidden_sizes": [16]},
        "algorithm": {"name": "protonet"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"iterations": 20, "meta_batch_size": 4, "test_tasks": 4, "log_every": 10},
        "device": "cpu",
    }
    checkpoint = _train(settings, tmp_path / "text.pt")
    support, query = tmp_path / "support", tmp_path / "query"
    query.mkdir()
    classes = ["b_weather", "a_music", "c_cooking"]
    for name in classes:
        (support / name).mkdir(parents=True)
        for i in range(2):
            (support / name / f"{i}.txt").write_text(_text(_words(name), rng), encoding="utf-8")
        for i in range(QUERIES_PER_CLASS):
            (query / f"{name}_{i}.txt").write_text(_text(_words(name), rng), encoding="utf-8")
    (query / "table.csv").write_text("not,a,query\n")

    rows = _run_predict(capsys, checkpoint, support, query)

    expected_files = sorted(p.name for p in query.glob("*.txt"))
    assert [Path(path).name for path, _ in rows] == expected_files
    correct = sum(Path(path).name.rsplit("_", 1)[0] == label for path, label in rows)
    assert correct >= 0.8 * len(rows), rows


# --- files are read as training read them ---------------------------------------------------


def test_images_are_read_as_the_task_set_reads_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for c in range(8):
        for i in range(2):
            (tmp_path / f"c{c}").mkdir(exist_ok=True)
            pixels = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)  # RGBA, resized to 16
            Image.fromarray(pixels).save(tmp_path / f"c{c}" / f"{i}.png")
    config = ImageFolderConfig(
        root=str(tmp_path),
        n_way=2,
        k_shot=1,
        q_query=1,
        image_size=16,
        channels=3,
        split=(0.5, 0.25, 0.25),
    )
    pool = config.build().pools["train"]
    read, accept = example_reader(TrainSpec(taskset=config))
    for index, name in enumerate(pool.names):
        files = sorted(f for f in (tmp_path / name).iterdir() if accept(f))
        start = int(pool.starts[index])
        for row, file in enumerate(files, start=start):
            pixels = read(file).mul(255).round().to(torch.uint8)
            assert torch.equal(pixels, pool.data[row]), file


def test_texts_are_read_as_the_task_set_reads_them(tmp_path: Path) -> None:
    rng = random.Random(0)
    csv_path = tmp_path / "texts.csv"
    rows = [f"{_text(_words(f'l{i}'), rng)},l{i}" for i in range(8) for _ in range(2)]
    csv_path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    config = TextCSVConfig(
        path=str(csv_path),
        n_way=2,
        k_shot=1,
        q_query=1,
        max_tokens=40,
        buckets=97,
        ngram=(1, 3),
        char_trigrams=True,
        split=(0.5, 0.25, 0.25),
    )
    taskset = config.build()
    read, accept = example_reader(TrainSpec(taskset=config))
    for row, text in enumerate(taskset.texts["train"]):
        file = tmp_path / f"{row}.txt"
        file.write_text(text, encoding="utf-8")
        assert accept(file)
        assert torch.equal(read(file), taskset.pools["train"].data[row]), text


# --- errors ---------------------------------------------------------------------------------


def _sinusoid_checkpoint(path: Path) -> Path:
    spec = TrainSpec.model_validate({"model": {"kind": "mlp", "hidden_sizes": [4]}})
    learner = build_learner(spec.algorithm, spec.model, SinusoidConfig().build().info)
    return save_checkpoint(path, learner, spec)


def _expect_error(
    capsys: pytest.CaptureFixture[str],
    checkpoint: Path,
    support: Path,
    query: Path,
    *fragments: str,
) -> None:
    argv = ["predict", "--checkpoint", str(checkpoint), "--support", str(support)]
    code = main([*argv, "--query", str(query)])
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("metagui: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def gray_task(tmp_path: Path, write_gray_classes: Callable[..., Path]) -> tuple[Path, Path]:
    return _gray_task(tmp_path, NEW_LEVELS_2, write_gray_classes)


def test_missing_support_folder(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    absent = support.parent / "absent"
    _expect_error(capsys, protonet_checkpoint, absent, query, "support folder", str(absent))


def test_missing_query_folder(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    absent = query.parent / "absent"
    _expect_error(capsys, protonet_checkpoint, support, absent, "query folder", str(absent))


def test_class_folder_without_images(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    (support / "c_empty").mkdir()
    (support / "c_empty" / "readme.txt").write_text("no images here")
    _expect_error(
        capsys, protonet_checkpoint, support, query, "no usable examples", str(support / "c_empty")
    )


def test_single_class_support(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    for folder in sorted(support.iterdir())[1:]:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    _expect_error(capsys, protonet_checkpoint, support, query, "at least two class subfolders")


def test_query_folder_without_images(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    for image in query.glob("*.png"):
        image.unlink()
    _expect_error(capsys, protonet_checkpoint, support, query, "no usable files", str(query))


def test_unreadable_query_image(
    capsys: pytest.CaptureFixture[str], protonet_checkpoint: Path, gray_task: tuple[Path, Path]
) -> None:
    support, query = gray_task
    (query / "broken.png").write_bytes(b"\x89PNG not really")
    _expect_error(capsys, protonet_checkpoint, support, query, str(query / "broken.png"))


def test_more_classes_than_the_maml_head(
    capsys: pytest.CaptureFixture[str],
    maml_checkpoint: Path,
    gray_task: tuple[Path, Path],
    write_gray_classes: Callable[..., Path],
) -> None:
    support, query = gray_task
    write_gray_classes(support, {"d_extra": 90}, 2)
    _expect_error(capsys, maml_checkpoint, support, query, "2-way head", "3 classes")


def test_sinusoid_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gray_task: tuple[Path, Path]
) -> None:
    checkpoint = _sinusoid_checkpoint(tmp_path / "sinusoid.pt")
    _expect_error(capsys, checkpoint, *gray_task, "sinusoid")


def test_corrupt_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gray_task: tuple[Path, Path]
) -> None:
    checkpoint = tmp_path / "corrupt.pt"
    checkpoint.write_bytes(b"PK\x03\x04 truncated")
    _expect_error(capsys, checkpoint, *gray_task, str(checkpoint), "not a readable checkpoint")


def test_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gray_task: tuple[Path, Path]
) -> None:
    checkpoint = tmp_path / "absent.pt"
    _expect_error(capsys, checkpoint, *gray_task, str(checkpoint), "no such checkpoint")
