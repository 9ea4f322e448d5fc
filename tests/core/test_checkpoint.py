"""Checkpoints: a round trip restores the same learner, spec and predictions; a checkpoint needs
no training data; every kind of bad file is refused with a one-line CheckpointError naming the
file, and loading never runs code stored in the file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from metagui.core.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from metagui.core.errors import CheckpointError
from metagui.core.learners import build_learner
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import EpisodeBatch, SinusoidConfig
from metagui.core.training import MetaTraining

# Batched even for conv nets on a CPU: fewer tiny kernel calls than the per-task loop.
_TRAINING = {
    "iterations": 2,
    "meta_batch_size": 2,
    "test_tasks": 2,
    "log_every": 1,
    "batched": "on",
}


def _sinusoid_maml(data: Path) -> dict[str, Any]:
    return {
        "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
        "model": {"kind": "mlp", "hidden_sizes": [8]},
        "algorithm": {"name": "maml", "inner_lr": 0.05, "inner_steps": 1, "eval_inner_steps": 2},
    }


def _images(data: Path, algorithm: dict[str, Any]) -> dict[str, Any]:
    return {
        "taskset": {
            "family": "image_folder",
            "root": str(data),
            "n_way": 2,
            "k_shot": 1,
            "q_query": 1,
            "image_size": 16,
            "split": (0.5, 0.25, 0.25),
        },
        "model": {"kind": "conv4", "filters": 4},
        "algorithm": algorithm,
    }


CASES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "maml-sinusoid": _sinusoid_maml,
    "protonet-images": lambda data: _images(data, {"name": "protonet"}),
    "metasgd-images": lambda data: _images(
        data, {"name": "metasgd", "inner_lr": 0.1, "eval_inner_steps": 1}
    ),
}


@pytest.fixture
def image_data(tmp_path: Path, write_gray_classes: Callable[..., Path]) -> Path:
    return write_gray_classes(
        tmp_path / "images", {f"c{i}": 20 + 28 * i for i in range(8)}, per_class=2
    )


def _trained(settings: dict[str, Any]) -> tuple[MetaTraining, dict[str, torch.Tensor]]:
    """A briefly trained run, and its learner's weights before training."""
    spec = TrainSpec.model_validate({**settings, "training": _TRAINING, "device": "cpu"})
    run = MetaTraining(spec)
    initial = {k: v.clone() for k, v in run.learner.state_dict().items()}
    for _ in run.run():
        pass
    return run, initial


def _episode(run: MetaTraining) -> EpisodeBatch:
    return run.taskset.sample("test", 1, torch.Generator().manual_seed(5))


def _predict(learner: torch.nn.Module, episode: EpisodeBatch, steps: int) -> torch.Tensor:
    learner.eval()
    return learner.predict(  # type: ignore[operator]
        episode.x_support[0], episode.y_support[0], episode.x_query[0], steps
    )


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_restores_learner_spec_and_predictions(
    case: str, tmp_path: Path, image_data: Path
) -> None:
    run, initial = _trained(CASES[case](image_data))
    saved = run.learner.state_dict()
    # The saved weights are not the initial ones, so equal weights below mean they were loaded.
    assert any(not torch.equal(saved[k], initial[k]) for k in saved)
    path = save_checkpoint(tmp_path / "ckpt" / "model.pt", run.learner, run.spec)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp file left

    learner, spec = load_checkpoint(path)

    assert spec == run.spec
    assert type(learner) is type(run.learner)
    assert learner.info == run.learner.info
    loaded = learner.state_dict()
    assert list(loaded) == list(saved)
    for key in saved:
        assert torch.equal(loaded[key], saved[key]), key
    assert learner.learned_hyperparameters() == run.learner.learned_hyperparameters()
    episode = _episode(run)
    steps = spec.algorithm.adaptation_steps_at_eval
    assert torch.equal(_predict(learner, episode, steps), _predict(run.learner, episode, steps))


def test_checkpoint_loads_without_the_training_data(tmp_path: Path, image_data: Path) -> None:
    run, _ = _trained(CASES["protonet-images"](image_data))
    episode = _episode(run)
    path = save_checkpoint(tmp_path / "model.pt", run.learner, run.spec)
    shutil.rmtree(image_data)

    learner, spec = load_checkpoint(path)

    assert spec.taskset.root == str(image_data)  # type: ignore[union-attr]
    assert torch.equal(_predict(learner, episode, 0), _predict(run.learner, episode, 0))


def _sinusoid_checkpoint(path: Path) -> Path:
    spec = TrainSpec.model_validate(_sinusoid_maml(path.parent))
    learner = build_learner(spec.algorithm, spec.model, SinusoidConfig().build().info)
    return save_checkpoint(path, learner, spec)


def _expect_refused(path: Path, fragment: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message
    assert fragment in message
    assert "\n" not in message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    _expect_refused(tmp_path / "absent.pt", "no such checkpoint file")


def _truncated(path: Path) -> None:
    data = _sinusoid_checkpoint(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


FOREIGN_FILES: dict[str, tuple[Callable[[Path], object], str]] = {
    "empty file": (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    "text file": (lambda p: p.write_text("weights: none\n"), "not a readable checkpoint"),
    "truncated checkpoint": (_truncated, "not a readable checkpoint"),
    "another torch file": (lambda p: torch.save({"a": 1}, p), "not a metagui checkpoint"),
    "bare tensor": (lambda p: torch.save(torch.zeros(3), p), "not a metagui checkpoint"),
}


@pytest.mark.parametrize("kind", list(FOREIGN_FILES))
def test_foreign_or_corrupt_file_is_refused(kind: str, tmp_path: Path) -> None:
    write, fragment = FOREIGN_FILES[kind]
    path = tmp_path / "model.pt"
    write(path)
    _expect_refused(path, fragment)


def _first_weight(payload: dict[str, Any]) -> None:
    del payload["state"][next(iter(payload["state"]))]


DAMAGE: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "newer format version": (lambda p: p.update(format_version=99), "format version 99"),
    "other format": (lambda p: p.update(format="other-tool"), "not a metagui checkpoint"),
    "invalid spec": (lambda p: p["spec"]["algorithm"].update(name="nope"), "spec is invalid"),
    "no spec": (lambda p: p.pop("spec"), "spec is invalid"),
    "invalid task description": (lambda p: p["info"].update(kind="ranking"), "task description"),
    "spec unfit for its task": (
        lambda p: p["spec"]["algorithm"].update(name="protonet"),
        "does not fit",
    ),
    "weights of other shapes": (
        lambda p: p["spec"]["model"].update(hidden_sizes=[7]),
        "weights do not match",
    ),
    "missing weight": (_first_weight, "weights do not match"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_checkpoint_is_refused(kind: str, tmp_path: Path) -> None:
    path = _sinusoid_checkpoint(tmp_path / "model.pt")
    load_checkpoint(path)  # intact, it loads
    damage, fragment = DAMAGE[kind]
    payload = torch.load(path, weights_only=True)
    damage(payload)
    torch.save(payload, path)
    _expect_refused(path, fragment)


class _RunsCode:
    """Unpickles by calling ``exec``: a stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        code = f"__import__('pathlib').Path({str(self.marker)!r}).write_text('code ran')"
        return (exec, (code,))


def test_loading_never_runs_code_from_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "model.pt"
    armed = {"format": FORMAT, "format_version": FORMAT_VERSION, "spec": _RunsCode(marker)}
    torch.save(armed, path)

    _expect_refused(path, "not a readable checkpoint")
    assert not marker.exists()

    # The file really is armed: a loader that unpickles arbitrary objects runs its code.
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"
