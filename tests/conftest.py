"""Shared fixtures: tiny synthetic data sets, written under each test's own ``tmp_path``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def _write_gray_classes(
    root: Path, levels: Mapping[str, int], per_class: int, *, size: int = 16, seed: int = 0
) -> Path:
    """One folder per class under ``root``, holding ``per_class`` PNGs of that class's solid
    gray ``level`` with up to ±6 of pixel noise: classes a glance tells apart. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for name, level in levels.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(-6, 7, (size, size))
            pixels = np.clip(level + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def write_gray_classes() -> Callable[..., Path]:
    """``write_gray_classes(root, {"class": gray level, ...}, per_class, size=16, seed=0)``."""
    return _write_gray_classes


def _write_noise_classes(
    root: Path, names: Iterable[str], per_class: int, *, size: int = 16, seed: int = 0
) -> Path:
    """``root/<name>/<i>.png`` for every class name (``a/b`` names nest): ``per_class`` PNGs of
    uniform 8-bit noise, every image different. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for name in names:
        for i in range(per_class):
            path = root / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path)
    return root


@pytest.fixture(scope="session")
def write_noise_classes() -> Callable[..., Path]:
    """``write_noise_classes(root, ["class", "a/b", ...], per_class, size=16, seed=0)``."""
    return _write_noise_classes


def _tiny_checkpoint(root: Path, path: Path, algorithm: dict[str, Any], norm: str) -> Path:
    """A conv4 with 4 filters meta-trained for 4 iterations on the class folders under
    ``root``: enough to be a real checkpoint, written to ``path``."""
    from metagui.core.checkpoint import save_checkpoint
    from metagui.core.spec import TrainSpec
    from metagui.core.training import MetaTraining

    spec = TrainSpec.model_validate(
        {
            "taskset": {
                "family": "image_folder",
                "root": str(root),
                "n_way": 2,
                "k_shot": 1,
                "q_query": 1,
                "image_size": 16,
                "split": (0.5, 0.25, 0.25),
            },
            "model": {"kind": "conv4", "filters": 4, "norm": norm, "groups": 2},
            "algorithm": algorithm,
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {
                "iterations": 4,
                "meta_batch_size": 2,
                "eval_tasks": 2,
                "test_tasks": 2,
                "log_every": 2,
            },
            "device": "cpu",
        }
    )
    run = MetaTraining(spec)
    for _ in run.run():
        pass
    return save_checkpoint(path, run.learner, spec)


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Callable[..., Path]:
    """``tiny_checkpoint(root, path, algorithm_settings, norm)``: a real, tiny checkpoint."""
    return _tiny_checkpoint
