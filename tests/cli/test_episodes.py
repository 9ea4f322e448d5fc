"""``metagui episodes``: fixed episodes of a task set's split written as the task folders
``metagui predict --episodes`` reads; the files hold exactly the sampled episodes."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from metagui.cli import main
from metagui.core.spec import load_train_spec


@pytest.fixture
def spec_file(tmp_path: Path, write_noise_classes: Callable[..., Path]) -> Path:
    write_noise_classes(tmp_path / "images", [f"c{c}" for c in range(16)], 4, size=20)
    spec = {
        "taskset": {
            "family": "image_folder",
            "root": "images",
            "n_way": 3,
            "k_shot": 2,
            "q_query": 2,
            "image_size": 16,
            "split": [0.4, 0.2, 0.4],
        },
        "model": {"filters": 4},
        "algorithm": {"name": "protonet"},
        "device": "cpu",
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _pixels(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path), dtype=np.uint8)).float().div(255.0)


def test_written_episodes_hold_exactly_the_sampled_ones(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "episodes"
    argv = ["episodes", str(spec_file), "--split", "test", "--count", "3", "--seed", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "wrote 3 episodes of the test split (39 files)" in said and "3-way 2-shot" in said
    taskset = load_train_spec(spec_file).taskset.build()
    generator = torch.Generator().manual_seed(5)
    for index in range(3):
        batch = taskset.sample("test", 1, generator)
        order = torch.randperm(6, generator=generator).tolist()
        task = out / f"task-{index:04d}"
        for i, y in enumerate(batch.y_support[0].tolist()):
            image = _pixels(task / "support" / f"class-{y:02d}" / f"s{i}.png")
            assert torch.allclose(image, batch.x_support[0, i, 0], atol=0.5 / 255)
        with (task / "query_labels.csv").open() as handle:
            rows = list(csv.reader(handle))[1:]
        assert len(rows) == 6
        for j, q in enumerate(order):
            assert rows[j] == [f"q{j:03d}.png", f"class-{int(batch.y_query[0, q]):02d}"]
            image = _pixels(task / "query" / f"q{j:03d}.png")
            assert torch.allclose(image, batch.x_query[0, q, 0], atol=0.5 / 255)
    # The same seed writes the same files; another seed other episodes.
    again, other = tmp_path / "again", tmp_path / "other"
    assert main([*argv, "--out", str(again)]) == 0
    assert main([*argv[:-1], "6", "--out", str(other)]) == 0
    assert _tree(again) == _tree(out) != _tree(other)


def test_episodes_refuse_a_full_folder_and_a_missing_split(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["episodes", str(spec_file), "--out", str(out)]) == 2
    assert f"{out} is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    no_validation = ["--set", "taskset.split=[0.5,0,0.5]", "--split", "validation"]
    assert main(["episodes", str(spec_file), *no_validation, "--out", str(tmp_path / "x")]) == 2
    assert "no validation split" in capsys.readouterr().err
