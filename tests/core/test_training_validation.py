"""Training and studies over a task set without a validation split (its fraction is 0): the run
is scored on the test split only, and settings that need validation are refused at load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from metagui.core.errors import MetaguiError
from metagui.core.execution import Finished, TrialJob, train_trial
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment
from metagui.core.reports import StepReport, TrainingFinished
from metagui.core.spec import TrainSpec, load_train_spec
from metagui.core.training import MetaTraining


@pytest.fixture
def image_root(tmp_path: Path, write_noise_classes: Callable[..., Path]) -> Path:
    return write_noise_classes(tmp_path / "images", [f"c{c}" for c in range(8)], 3)


def settings(root: Path, **training: object) -> dict[str, object]:
    return {
        "taskset": {
            "family": "image_folder",
            "root": str(root),
            "n_way": 2,
            "k_shot": 1,
            "q_query": 1,
            "image_size": 16,
            "split": [0.5, 0.0, 0.5],
        },
        "model": {"filters": 4, "norm": "none"},
        "algorithm": {"name": "protonet"},
        "training": {
            "iterations": 3,
            "meta_batch_size": 2,
            "eval_tasks": 2,
            "test_tasks": 4,
            "log_every": 1,
            **training,
        },
        "device": "cpu",
    }


def test_training_without_validation_is_scored_on_the_test_split(image_root: Path) -> None:
    run = MetaTraining(TrainSpec.model_validate(settings(image_root)))
    reports = list(run.run())
    finished = reports[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.validation is None and finished.test.tasks == 4 and finished.steps == 3
    assert finished.result("test") is finished.test
    with pytest.raises(ValueError, match="no validation"):
        finished.result("validation")
    assert all(r.validation is None for r in reports if isinstance(r, StepReport))


def test_periodic_validation_without_a_validation_split_is_refused(image_root: Path) -> None:
    with pytest.raises(ValidationError, match="eval_every"):
        TrainSpec.model_validate(settings(image_root, eval_every=2))
    path = image_root.parent / "spec.yaml"
    path.write_text(yaml.safe_dump(settings(image_root, eval_every=2)), encoding="utf-8")
    with pytest.raises(MetaguiError, match="no validation split"):
        load_train_spec(path)


def test_a_study_scored_on_the_missing_validation_split_is_refused_at_load(
    image_root: Path,
) -> None:
    path = image_root.parent / "study.yaml"
    study = {"name": "noval", **settings(image_root), "objective": {"split": "validation"}}
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    with pytest.raises(MetaguiError, match=r"objective\.split.*no validation split"):
        load_experiment(path)
    study["objective"] = {"split": "test"}
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    spec = load_experiment(path)
    assert spec.objective.split == "test"


def test_a_trial_without_validation_records_its_test_value(image_root: Path) -> None:
    experiment = ExperimentSpec.model_validate(
        {"name": "noval", **settings(image_root), "objective": {"split": "test"}}
    )
    job = TrialJob(0, experiment.trial_spec({}, seed=1).model_dump_json(), None, "noval", "test")
    finished = list(train_trial(job, collect_garbage=False))[-1]
    assert isinstance(finished, Finished), finished
    assert finished.result.validation is None and finished.result.test.tasks == 4


def omniglot_without_evaluation(
    tmp_path: Path, write_noise_classes: Callable[..., Path]
) -> dict[str, object]:
    """Two tiny Omniglot-layout sets, both background, and no evaluation set."""
    for seed, (name, alphabet) in enumerate((("setA", "Alpha"), ("setB", "Beta"))):
        characters = [f"{alphabet}/character{c:02d}" for c in range(6)]
        write_noise_classes(tmp_path / name, characters, 3, seed=seed)
    base = settings(tmp_path)
    base["taskset"] = {
        "family": "omniglot",
        "root": str(tmp_path),
        "background": ["setA", "setB"],
        "evaluation": [],
        "val_fraction": 0.5,
        "n_way": 2,
        "k_shot": 1,
        "q_query": 1,
        "image_size": 16,
    }
    return base


def test_training_without_a_test_split_ends_on_validation(
    tmp_path: Path, write_noise_classes: Callable[..., Path]
) -> None:
    settings = omniglot_without_evaluation(tmp_path, write_noise_classes)
    run = MetaTraining(TrainSpec.model_validate(settings))
    finished = list(run.run())[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.test is None and finished.validation is not None
    assert finished.final is finished.validation and finished.validation.tasks == 2
    with pytest.raises(ValueError, match="no test split"):
        finished.result("test")


def test_a_study_without_a_test_split_cannot_be_scored_on_test(
    tmp_path: Path, write_noise_classes: Callable[..., Path]
) -> None:
    data = omniglot_without_evaluation(tmp_path, write_noise_classes)
    ExperimentSpec.model_validate(data)  # scored on validation by default
    with pytest.raises(ValidationError, match="no test split"):
        ExperimentSpec.model_validate(data | {"objective": {"split": "test"}})
