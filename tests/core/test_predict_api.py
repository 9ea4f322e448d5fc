"""The Python API (``metagui.load`` -> ``adapt`` -> ``predict``) and where batch norm takes its
statistics at predict time: with ``bn="support"`` a query's class and score do not depend on
the other queries; the API gives what ``metagui predict`` prints."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import metagui
from metagui.cli import main
from metagui.core.errors import MetaguiError
from metagui.core.learners import build_learner
from metagui.core.predict import FewShotModel, _support_batch_norm
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import TaskInfo

TRAIN_LEVELS = {f"c{i}": 20 + 30 * i for i in range(8)}
NEW_LEVELS = {"b_dark": 0, "a_light": 200}


_ALGORITHMS = {
    "protonet": ({"name": "protonet"}, "batch"),
    "maml": ({"name": "maml", "inner_lr": 0.4, "inner_steps": 1, "eval_inner_steps": 2}, "batch"),
    "anil": ({"name": "anil", "inner_lr": 0.4, "inner_steps": 1}, "batch"),
    "maml-groupnorm": ({"name": "maml", "inner_lr": 0.4, "inner_steps": 1}, "group"),
}


@pytest.fixture(scope="module")
def checkpoints(
    tmp_path_factory: pytest.TempPathFactory,
    write_gray_classes: Callable[..., Path],
    tiny_checkpoint: Callable[..., Path],
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict-api")
    train = write_gray_classes(root / "train", TRAIN_LEVELS, 3, seed=1)
    return {
        name: tiny_checkpoint(train, root / f"{name}.pt", algorithm, norm)
        for name, (algorithm, norm) in _ALGORITHMS.items()
    }


@pytest.fixture
def task(tmp_path: Path, write_gray_classes: Callable[..., Path]) -> tuple[Path, list[Path]]:
    """A support folder (2 images per class) and six query files of those classes."""
    support = write_gray_classes(tmp_path / "support", NEW_LEVELS, 2, seed=2)
    scratch = write_gray_classes(tmp_path / "query", NEW_LEVELS, 3, seed=3)
    return support, sorted(scratch.glob("*/*.png"))


def _scores(predictions: list[metagui.api.Prediction]) -> list[float]:
    """Every class's log-probability for every query, flat: tiny probabilities differ too."""
    return [math.log(v) for p in predictions for v in p.scores.values()]


def _image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.copy()


# --- batch norm at predict time -------------------------------------------------------------


@pytest.mark.parametrize("learner", ["protonet", "maml", "anil"])
def test_support_bn_makes_each_prediction_independent_of_the_other_queries(
    learner: str, checkpoints: dict[str, Path], task: tuple[Path, list[Path]]
) -> None:
    support, queries = task
    model = metagui.load(checkpoints[learner], bn="support").adapt(support)
    together = model.predict(queries)
    alone = [model.predict([q])[0] for q in queries]
    other_company = model.predict([*queries[:1], *queries[3:][::-1]])
    assert [p.label for p in alone] == [p.label for p in together]
    assert _scores(alone) == pytest.approx(_scores(together), abs=1e-4)
    assert _scores(other_company) == pytest.approx(
        _scores([together[0], *together[3:][::-1]]), abs=1e-4
    )

    # The same model normalising by the query batch does depend on the company: the check
    # above would see it if the support statistics were not used.
    transductive = metagui.load(checkpoints[learner], bn="transductive").adapt(support)
    batch = _scores(transductive.predict(queries))
    single = [s for q in queries for s in _scores(transductive.predict([q]))]
    assert max(abs(a - b) for a, b in zip(batch, single, strict=True)) > 1e-3


def test_support_bn_normalises_a_query_as_the_support_example_it_copies(
    checkpoints: dict[str, Path], task: tuple[Path, list[Path]]
) -> None:
    # ProtoNet, one shot: a query identical to a support image embeds exactly onto that class's
    # prototype when normalised with the support statistics, whatever the other queries are.
    support, queries = task
    model = metagui.load(checkpoints["protonet"], bn="support")
    one_shot = {name: [sorted((support / name).iterdir())[0]] for name in NEW_LEVELS}
    model.adapt(one_shot)
    learner = model.learner
    x_support = model._support[0]
    copy = x_support[:1]
    with torch.no_grad():
        prototype = learner.model(x_support)[0]  # the support batch's own normalisation
    embedded: list[torch.Tensor] = []
    handle = learner.model.register_forward_hook(lambda m, a, out: embedded.append(out))
    try:
        model.predict([copy[0], *[_image(q) for q in queries[:3]]])
    finally:
        handle.remove()
    query_embedding = embedded[-1][x_support.shape[0]]  # after the support rows
    assert torch.allclose(query_embedding, prototype, atol=1e-5)


@pytest.mark.parametrize("learner", ["maml", "metasgd", "mamlpp", "anil", "protonet", "cnp"])
def test_support_rows_of_the_combined_batch_are_normalised_as_the_support_alone(
    learner: str,
) -> None:
    # The oracle for every learner kind: with the support statistics, the support rows of
    # support + queries come out exactly as the support set alone (batch statistics, adapted
    # weights included), so the queries after them were normalised as the support was.
    spec = TrainSpec.model_validate(
        {
            "taskset": {"family": "image_folder", "root": "unused", "n_way": 2, "image_size": 16},
            "model": {"kind": "conv4", "filters": 4},
            "algorithm": {"name": learner, "inner_lr": 0.5},
        }
    )
    torch.manual_seed(0)
    model = build_learner(spec.algorithm, spec.model, TaskInfo("classification", (1, 16, 16), 2))
    x_support, y_support = torch.rand(4, 1, 16, 16), torch.tensor([0, 0, 1, 1])
    alone = model.predict(x_support, y_support, x_support, 3)
    with _support_batch_norm(model, 4):
        combined = model.predict(
            x_support, y_support, torch.cat([x_support, torch.rand(3, 1, 16, 16)]), 3
        )
    assert torch.allclose(combined[:4], alone, atol=1e-5)
    # Without the support statistics the same rows come out otherwise.
    unhooked = model.predict(
        x_support, y_support, torch.cat([x_support, torch.rand(3, 1, 16, 16)]), 3
    )
    assert not torch.allclose(unhooked[:4], alone, atol=1e-3)


def test_support_bn_changes_nothing_for_a_network_without_batch_norm(
    checkpoints: dict[str, Path], task: tuple[Path, list[Path]]
) -> None:
    support, queries = task
    results = [
        metagui.load(checkpoints["maml-groupnorm"], bn=bn).adapt(support).predict(queries)
        for bn in ("support", "transductive")
    ]
    assert _scores(results[0]) == pytest.approx(_scores(results[1]), abs=1e-5)


# --- the API ----------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("bn", ["support", "transductive"])
@pytest.mark.parametrize("learner", ["protonet", "maml"])
def test_api_round_trip_equals_the_command_line(
    learner: str,
    bn: str,
    checkpoints: dict[str, Path],
    task: tuple[Path, list[Path]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    support, queries = task
    query = queries[0].parent.parent / "flat"
    query.mkdir()
    for q in queries:
        q.rename(query / f"{q.parent.name}_{q.name}")
    model = metagui.load(checkpoints[learner], bn=bn, steps=3)
    predictions = model.adapt(support).predict(query)
    assert model.classes == ("a_light", "b_dark")
    ck = str(checkpoints[learner])
    rows = _cli(capsys, "--checkpoint", ck, "--support", str(support), "--query", str(query),
                "--bn", bn, "--steps", "3")  # fmt: skip
    assert rows == [[p.path, p.label] for p in predictions]
    assert [Path(row[0]).name for row in rows] == sorted(p.name for p in query.iterdir())
    for p in predictions:
        assert p.score == max(p.scores.values()) == p.scores[p.label]
        assert sum(p.scores.values()) == pytest.approx(1.0)


def test_support_and_queries_in_memory_predict_as_files_do(
    checkpoints: dict[str, Path], task: tuple[Path, list[Path]]
) -> None:
    support, queries = task
    model = metagui.load(checkpoints["maml"])
    expected = _scores(model.adapt(support).predict(queries))
    paths = {name: sorted((support / name).iterdir()) for name in NEW_LEVELS}
    images = {name: [_image(p) for p in files] for name, files in paths.items()}
    tensors = {
        # uint8 pixels, as the task sets store them; a batch per class.
        name: torch.stack([torch.from_numpy(np.array(im))[None] for im in ims])
        for name, ims in images.items()
    }
    query_images = [_image(q).convert("RGB") for q in queries]  # converted back to gray
    for given_support in (paths, images, tensors):
        # Mapping order does not matter: classes are numbered in name order, as folders are.
        reordered = dict(reversed(list(given_support.items())))
        for given_query in (queries, query_images):
            got = model.adapt(reordered).predict(given_query)
            assert _scores(got) == pytest.approx(expected, abs=1e-4)
    assert [p.path for p in model.predict(query_images)] == [None] * len(queries)
    batch = torch.stack([model._read(q) for q in queries])
    assert _scores(model.predict(batch)) == pytest.approx(expected, abs=1e-4)


def test_nested_class_folders_are_classes_as_in_training(
    checkpoints: dict[str, Path], tmp_path: Path, write_gray_classes: Callable[..., Path]
) -> None:
    support = tmp_path / "support"
    write_gray_classes(support / "Alphabet_a", {"character01": 0}, 2)
    write_gray_classes(support / "Alphabet_b", {"character01": 120, "character02": 240}, 2)
    query = write_gray_classes(tmp_path / "query", {"q": 240}, 2, seed=5) / "q"
    model = metagui.load(checkpoints["protonet"]).adapt(support)
    assert model.classes == (
        "Alphabet_a/character01",
        "Alphabet_b/character01",
        "Alphabet_b/character02",
    )
    assert {p.label for p in model.predict(query)} <= set(model.classes)


def test_import_metagui_does_not_import_torch() -> None:
    code = "import sys, metagui, metagui.api; print('torch' in sys.modules, callable(metagui.load))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True"], result.stderr


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda m, s, q: m.predict(q), "adapt the model"),
        (lambda m, s, q: m.adapt({"a": [q[0]]}), "at least two classes"),
        (lambda m, s, q: m.adapt({"a": [q[0]], "b": []}), "class b has no examples"),
        (lambda m, s, q: m.adapt({"a": [q[0]], "b": [s / "none.png"]}), "no such file"),
        (
            lambda m, s, q: m.adapt(s).predict(torch.zeros(2, 1, 8, 8)),
            "shape [1, 16, 16], got [1, 8, 8]",
        ),
        (lambda m, s, q: m.adapt(s).predict([3]), "got int"),
    ],
)
def test_api_mistakes_raise_one_line_errors(
    action: Callable[[FewShotModel, Path, list[Path]], object],
    message: str,
    checkpoints: dict[str, Path],
    task: tuple[Path, list[Path]],
) -> None:
    model = metagui.load(checkpoints["protonet"])
    with pytest.raises(MetaguiError, match=None) as error:
        action(model, *task)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_bn_choice(checkpoints: dict[str, Path]) -> None:
    with pytest.raises(MetaguiError, match="bn must be one of support, transductive"):
        metagui.load(checkpoints["protonet"], bn="running")
