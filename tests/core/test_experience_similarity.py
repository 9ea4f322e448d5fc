"""Similarity of two studies' problems (the number, its parts and the words) and the ranking of
a history's studies by similarity to a new one."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from metagui.core.experience import (
    OTHER_FAMILY,
    WEIGHTS,
    Fingerprint,
    ParamSignature,
    fingerprint_of,
    param_overlap,
    rank_studies,
    similarity,
)
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, HistoryWriter

INNER_LR = {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 1.0, "log": True}
OUTER_LR = {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True}


def spec(taskset: dict[str, Any] | None = None, **more: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "taskset": taskset or {"family": "sinusoid"},
        "algorithm": {"name": "maml"},
        "search_space": {"params": [INNER_LR, OUTER_LR]},
    }
    data.update(more)
    return ExperimentSpec.model_validate(data)


def fp(taskset: dict[str, Any] | None = None, **more: Any) -> Fingerprint:
    return fingerprint_of(spec(taskset, **more))


@pytest.fixture
def images(
    tmp_path: Path, write_gray_classes: Callable[..., Path]
) -> Callable[..., dict[str, Any]]:
    """``images(name, seed=0, **settings)``: an image_folder task set over 10 generated classes."""

    def make(name: str = "a", seed: int = 0, **settings: Any) -> dict[str, Any]:
        root = tmp_path / name
        if not root.exists():
            write_gray_classes(root, {f"c{i}": 25 * i for i in range(10)}, 4, seed=seed)
        return {"family": "image_folder", "root": str(root), **settings}

    return make


# -- the number and the words ------------------------------------------------------------------


def test_the_weights_sum_to_one() -> None:
    assert math.isclose(sum(WEIGHTS.values()), 1.0)
    assert set(WEIGHTS) == {"data", "shape", "learner", "space", "network", "objective"}


def test_the_same_problem_is_1(images: Callable[..., dict[str, Any]]) -> None:
    for taskset in ({"family": "sinusoid"}, images()):
        alike = similarity(fp(taskset), fp(taskset))
        assert alike.value == 1.0
        assert alike.explanation == (
            "same family and shape, same data, same learner (maml), same search space"
        )
        assert set(alike.parts.values()) == {1.0}


def test_another_family_is_near_0(images: Callable[..., dict[str, Any]]) -> None:
    sinusoid, pictures = fp({"family": "sinusoid"}), fp(images())
    alike = similarity(sinusoid, pictures)
    assert alike.value <= OTHER_FAMILY * (WEIGHTS["learner"] + WEIGHTS["space"])
    assert alike.value < 0.05
    assert alike.explanation.startswith("different family (sinusoid vs image_folder)")
    assert alike.parts["family"] == 0.0


def test_a_narrower_search_space_is_partly_similar_and_says_how_much() -> None:
    both = fp()
    one = fp(search_space={"params": [INNER_LR]})
    alike = similarity(both, one)
    assert alike.parts["space"] == 0.5
    assert alike.value == pytest.approx(1 - WEIGHTS["space"] / 2)
    assert "50% of the search space shared (1 of 2 parameters)" in alike.explanation
    assert "ranges differ" not in alike.explanation
    narrower = dict(INNER_LR, low=1e-2, high=1e-1)  # 1 decade of the 3, on a log scale
    ranges = similarity(
        fp(search_space={"params": [INNER_LR]}), fp(search_space={"params": [narrower]})
    )
    assert ranges.parts["space"] == pytest.approx(1 / 3)
    assert "33% of the search space shared (1 of 1 parameters, ranges differ)" in ranges.explanation
    disjoint = fp(
        search_space={"params": [{"name": "model.filters", "type": "int", "low": 8, "high": 64}]}
    )
    none = similarity(fp(), disjoint)
    assert none.parts["space"] == 0.0 and "no parameters shared" in none.explanation


def test_different_data_is_said_and_scored_below_the_same(
    images: Callable[..., dict[str, Any]],
) -> None:
    same = similarity(fp(images("a")), fp(images("a")))
    other = similarity(fp(images("a")), fp(images("b", seed=1)))
    assert other.parts["data"] <= 0.5 < same.parts["data"] == 1
    # Same counts and sizes, other pixels: the meta-features agree, the content does not.
    assert other.parts["data"] == pytest.approx(0.5)
    assert "data differs" in other.explanation and "same data" not in other.explanation
    assert same.value - other.value == pytest.approx(WEIGHTS["data"] / 2)
    ranges = similarity(fp({"family": "sinusoid"}), fp({"family": "sinusoid", "amplitude": [1, 2]}))
    assert "data differs (amplitude 0.1 to 5 vs 1 to 2)" in ranges.explanation
    assert 0 < ranges.parts["data"] < 0.5


def test_data_no_longer_on_disk_is_said_to_be_unknown(
    images: Callable[..., dict[str, Any]],
) -> None:
    here = fp(images("a"))
    missing_set = images("gone")
    shutil.rmtree(missing_set["root"])
    alike = similarity(here, fp(missing_set))
    assert alike.parts["data"] == 0.5 and "data unknown" in alike.explanation


def test_shape_learner_network_and_objective_are_said_when_they_differ(
    images: Callable[..., dict[str, Any]],
) -> None:
    base = fp(images(n_way=5, k_shot=1))
    shape = similarity(base, fp(images(n_way=20, k_shot=5)))
    assert "same family, shape differs (5-way 1-shot vs 20-way 5-shot)" in shape.explanation
    # 0.4 (5/20) + 0.4 (1/5) + 0.1 + 0.1
    assert shape.parts["shape"] == pytest.approx(0.4 * 0.25 + 0.4 * 0.2 + 0.2)
    fomaml = similarity(base, fp(images(n_way=5, k_shot=1), algorithm={"name": "fomaml"}))
    protonet = similarity(base, fp(images(n_way=5, k_shot=1), algorithm={"name": "protonet"}))
    assert (fomaml.parts["learner"], protonet.parts["learner"]) == (0.5, 0.0)
    assert "learner differs (maml vs protonet)" in protonet.explanation
    wider = similarity(base, fp(images(n_way=5, k_shot=1), model={"filters": 32}))
    assert wider.parts["network"] == 0.5 and "network differs in size (conv4)" in wider.explanation
    on_test = similarity(base, fp(images(n_way=5, k_shot=1), objective={"split": "test"}))
    assert on_test.parts["objective"] == 0.5
    assert "objective on another split (validation vs test)" in on_test.explanation


def test_similarity_is_symmetric_and_within_0_and_1(
    images: Callable[..., dict[str, Any]],
) -> None:
    fingerprints = [
        fp(),
        fp(
            {"family": "sinusoid", "k_shot": 3, "amplitude": [2, 4]},
            search_space={"params": [INNER_LR]},
        ),
        fp(images("a")),
        fp(images("b", seed=2, n_way=3), algorithm={"name": "protonet"}),
        fp(images("a"), model={"kind": "mlp"}, objective={"direction": "minimize"}),
        Fingerprint.from_dict({"v": 1, "family": "image_folder"}),  # all unknown
    ]
    for a, b in itertools.combinations(fingerprints, 2):
        there, back = similarity(a, b), similarity(b, a)
        assert there.value == pytest.approx(back.value) and 0 <= there.value <= 1
        assert there.parts == pytest.approx(back.parts)
        assert there.value < 1


# -- parameters --------------------------------------------------------------------------------


def _param(**values: Any) -> ParamSignature:
    return ParamSignature(**{"name": "p", **values})


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_param(type="float", low=0.0, high=1.0), _param(type="float", low=0.5, high=1.5), 1 / 3),
        (
            _param(type="float", low=1e-4, high=1e-2, log=True),
            _param(type="float", low=1e-3, high=1e-1, log=True),
            1 / 3,
        ),
        (_param(type="int", low=1, high=3), _param(type="int", low=3, high=5), 1 / 5),
        (_param(type="int", low=1, high=1), _param(type="int", low=1, high=1), 1.0),
        (_param(type="float", low=0.0, high=1.0), _param(type="float", low=2.0, high=3.0), 0.0),
        (
            _param(type="categorical", choices=("adam", "sgd")),
            _param(type="categorical", choices=("sgd", "adamw", "adam")),
            2 / 3,
        ),
        (
            _param(type="categorical", choices=(1, True)),
            _param(type="categorical", choices=(1.0,)),
            1 / 2,
        ),
        (
            _param(type="fixed", value="adam"),
            _param(type="categorical", choices=("adam", "sgd")),
            1 / 2,
        ),
        (_param(type="fixed", value=(32, 32)), _param(type="fixed", value=(32, 32)), 1.0),
        (_param(type="fixed", value=3), _param(type="fixed", value=4), 0.0),
        (_param(type="float", low=0.0, high=1.0), _param(type="categorical", choices=(0.5,)), 0.0),
    ],
)
def test_param_overlap(a: ParamSignature, b: ParamSignature, expected: float) -> None:
    assert param_overlap(a, b) == pytest.approx(expected)
    assert param_overlap(b, a) == pytest.approx(expected)


# -- ranking a history -------------------------------------------------------------------------


def _study(
    writer: HistoryWriter,
    name: str,
    experiment: ExperimentSpec,
    values: list[float | None],
    *,
    store: bool = True,
) -> int:
    direction = "minimize" if experiment.taskset.family == "sinusoid" else "maximize"
    study = writer.create_study(
        name,
        experiment.model_dump_json(by_alias=True),
        direction,
        "tpe",
        fingerprint_json=fingerprint_of(experiment, direction).to_json() if store else None,
    )
    for number, value in enumerate(values):
        trial = writer.start_trial(study, number, {"algorithm.inner_lr": 0.01})
        if value is None:
            writer.finish_trial(trial, "FAILED", error="diverged")
        else:
            writer.finish_trial(trial, "COMPLETE", value=value)
    return study


def test_a_history_is_ranked_by_similarity_with_the_reasons(
    tmp_path: Path, images: Callable[..., dict[str, Any]]
) -> None:
    db = tmp_path / "h.sqlite"
    target = spec(images("a"))
    with HistoryWriter(db) as writer:
        _study(writer, "sinusoid", spec(), [0.3, 0.2])
        _study(writer, "narrower", spec(images("a"), search_space={"params": [INNER_LR]}), [0.5])
        _study(writer, "same", spec(images("a")), [0.6, None, 0.7])
        _study(writer, "same-again", spec(images("a")), [0.4, 0.5, 0.55, 0.52])
        _study(writer, "other-data", spec(images("b", seed=3)), [0.9])
        # Created by code that stores no fingerprint: fingerprinted from its experiment.
        _study(
            writer, "unstored", spec(images("a"), algorithm={"name": "protonet"}), [], store=False
        )
        _study(writer, "new", target, [])
    with HistoryReader(db) as reader:
        assert reader.fingerprint("unstored") is None
        ranked = rank_studies(reader, target, exclude="new")
        again = rank_studies(reader, fingerprint_of(target))
    names = [s.name for s in ranked]
    # Equally similar: more complete trials first.
    assert names == ["same-again", "same", "narrower", "other-data", "unstored", "sinusoid"]
    assert [s.name for s in again] == ["same-again", "same", "new", *names[2:]]
    same = ranked[1]
    assert (same.similarity, same.best_value, same.direction) == (1.0, 0.7, "maximize")
    assert (same.finished_trials, same.complete_trials) == (3, 2)
    assert ranked[2].explanation.endswith("50% of the search space shared (1 of 2 parameters)")
    assert "data differs" in ranked[3].explanation
    assert "learner differs (maml vs protonet)" in ranked[4].explanation
    sinusoid = ranked[-1]
    assert sinusoid.similarity < 0.05 and sinusoid.direction == "minimize"
    assert sinusoid.best_value == 0.2
    assert sinusoid.explanation.startswith("different family (image_folder vs sinusoid)")
    assert json.loads(json.dumps(dataclasses.asdict(same)))["name"] == "same"  # plain data
