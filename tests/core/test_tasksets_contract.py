"""The contract every classification family (omniglot, image_folder, text_csv) must keep, run
over small data generated in a temporary folder. Every example in the data is unique, so each
sampled example can be traced back to its class and its file (and, for Omniglot, rotation)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import TypeAdapter

from metagui.core.errors import TaskSetError
from metagui.core.tasksets import (
    FAMILY_NAMES,
    SPLITS,
    EpisodePreview,
    ImageFolderConfig,
    OmniglotConfig,
    TaskSet,
    TaskSetConfig,
    TextCSVConfig,
)
from metagui.core.tasksets.omniglot import class_name
from metagui.core.textenc import encode

N_WAY, K_SHOT, Q_QUERY = 3, 2, 2
SIZE = 8  # generated images already have the target size, so pixels are compared exactly


@dataclass
class Case:
    """A built task set and a map from each example (as bytes) to ``(class name, example id)``."""

    name: str
    taskset: TaskSet
    lookup: dict[bytes, tuple[str, str]]
    key: Callable[[torch.Tensor], bytes]


def _image_key(x: torch.Tensor) -> bytes:
    return bytes((x * 255).round().to(torch.uint8).numpy().tobytes())


def _text_key(x: torch.Tensor) -> bytes:
    return bytes(x.numpy().astype(np.int64).tobytes())


def _unique_patterns(rng: np.random.Generator, count: int, binary: bool) -> list[np.ndarray]:
    """``count`` random ``SIZE`` x ``SIZE`` patterns whose four rotations are all distinct."""
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    while len(out) < count:
        if binary:
            arr = (rng.integers(0, 2, (SIZE, SIZE)) * 255).astype(np.uint8)
        else:
            arr = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
        rots = [np.ascontiguousarray(np.rot90(arr, k)).tobytes() for k in range(4)]
        if len(set(rots)) == 4 and not seen.intersection(rots):
            seen.update(rots)
            out.append(arr)
    return out


def make_image_folder(root: Path) -> dict[bytes, tuple[str, str]]:
    """16 classes x 5 grayscale PNGs, half of them nested one level deeper."""
    rng = np.random.default_rng(1)
    patterns = iter(_unique_patterns(rng, 16 * 5, binary=False))
    lookup = {}
    for c in range(16):
        name = f"group{c % 2}/class{c:02d}" if c % 2 else f"class{c:02d}"
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(5):
            arr = next(patterns)
            Image.fromarray(arr, mode="L").save(folder / f"img{i}.png")
            lookup[arr[None].tobytes()] = (name, f"{name}/{i}")
    return lookup


def write_omniglot_zip(
    path: Path, characters: dict[str, list[np.ndarray]], top: str | None = None
) -> None:
    """A zip in the official layout ``<top>/<Alphabet>/<character>/<id>.png`` (one-bit PNGs)."""
    top = top or path.stem
    with zipfile.ZipFile(path, "w") as zf:
        for key, images in characters.items():
            for i, arr in enumerate(images):
                buf = io.BytesIO()
                Image.fromarray(arr > 127).convert("1").save(buf, format="PNG")
                zf.writestr(f"{top}/{key}/{i:04d}_{i + 1:02d}.png", buf.getvalue())


def omniglot_characters(seed: int, alphabets: list[str], per_alphabet: int, drawings: int) -> dict:
    """Random one-bit characters ``{"Alphabet/characterNN": [images]}``."""
    rng = np.random.default_rng(seed)
    keys = [f"{a}/character{c:02d}" for a in alphabets for c in range(1, per_alphabet + 1)]
    patterns = iter(_unique_patterns(rng, len(keys) * drawings, binary=True))
    return {k: [next(patterns) for _ in range(drawings)] for k in keys}


def make_omniglot(root: Path) -> dict[bytes, tuple[str, str]]:
    """A background zip (train + validation) and an evaluation zip (test)."""
    root.mkdir(parents=True, exist_ok=True)
    background = omniglot_characters(2, ["Alpha", "Beta"], 8, 5)
    evaluation = omniglot_characters(3, ["Gamma"], 3, 5)
    write_omniglot_zip(root / "mini_background.zip", background)
    write_omniglot_zip(root / "mini_evaluation.zip", evaluation)
    lookup = {}
    for key, images in {**background, **evaluation}.items():
        for i, arr in enumerate(images):
            for k in range(4):
                rotated = np.ascontiguousarray(np.rot90(arr, k))
                name = class_name(key, k)
                lookup[rotated[None].tobytes()] = (name, f"{name}/{i}")
    return lookup


def make_text_csv(path: Path) -> dict[str, str]:
    """16 labels x 5 rows of distinct texts; returns text -> label."""
    texts = {}
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        for label in range(16):
            for i in range(5):
                text = f"Sample {label * 5 + i} talks about subject{label} with word{i}, café!"
                writer.writerow([label * 5 + i, text, f"topic {label}"])
                texts[text] = f"topic {label}"
    return texts


@pytest.fixture(scope="module", params=["omniglot", "image_folder", "text_csv"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    tmp = tmp_path_factory.mktemp(request.param)
    sizes = {"n_way": N_WAY, "k_shot": K_SHOT, "q_query": Q_QUERY}
    if request.param == "omniglot":
        lookup = make_omniglot(tmp)
        cfg = OmniglotConfig(
            root=str(tmp),
            background="mini_background",
            evaluation="mini_evaluation",
            image_size=SIZE,
            **sizes,
        )
        return Case("omniglot", cfg.build(), lookup, _image_key)
    if request.param == "image_folder":
        lookup = make_image_folder(tmp / "data")
        cfg = ImageFolderConfig(
            root=str(tmp / "data"), image_size=SIZE, split=(0.5, 0.25, 0.25), **sizes
        )
        return Case("image_folder", cfg.build(), lookup, _image_key)
    texts = make_text_csv(tmp / "texts.csv")
    cfg = TextCSVConfig(
        path=str(tmp / "texts.csv"), split=(0.5, 0.25, 0.25), max_tokens=32, **sizes
    )
    lookup = {
        np.asarray(encode(t, cfg.buckets, cfg.ngram, cfg.max_tokens), dtype=np.int64).tobytes(): (
            label,
            t,
        )
        for t, label in texts.items()
    }
    assert len(lookup) == len(texts), "test data: two texts encode alike"
    return Case("text_csv", cfg.build(), lookup, _text_key)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_info_shapes_and_dtypes(case: Case) -> None:
    info = case.taskset.info
    assert info.kind == "classification"
    assert info.output_dim == N_WAY
    if case.name == "text_csv":
        assert info.input_shape == (32,)
        assert info.input_dtype == "long"
        assert info.vocab_size == 2**14
    else:
        assert info.input_shape == (1, SIZE, SIZE)
        assert info.input_dtype == "float"
    assert info.class_names == case.taskset.classes["train"]  # type: ignore[attr-defined]
    for split in SPLITS:
        b = case.taskset.sample(split, 4, _gen(0))
        assert b.x_support.shape == (4, N_WAY * K_SHOT, *info.input_shape)
        assert b.x_query.shape == (4, N_WAY * Q_QUERY, *info.input_shape)
        assert b.y_support.shape == (4, N_WAY * K_SHOT)
        assert b.y_query.shape == (4, N_WAY * Q_QUERY)
        assert b.y_support.dtype == b.y_query.dtype == torch.int64
        if case.name == "text_csv":
            assert b.x_support.dtype == b.x_query.dtype == torch.int64
            assert int(b.x_support.min()) >= 0 and int(b.x_support.max()) < 2**14
        else:
            assert b.x_support.dtype == b.x_query.dtype == torch.float32
            assert float(b.x_support.min()) >= 0.0 and float(b.x_support.max()) <= 1.0


def test_labels_are_class_major(case: Case) -> None:
    b = case.taskset.sample("train", 3, _gen(1))
    expected_s = torch.tensor([0, 0, 1, 1, 2, 2])
    expected_q = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.equal(b.y_support, expected_s.expand(3, -1))
    assert torch.equal(b.y_query, expected_q.expand(3, -1))


def _trace(case: Case, x: torch.Tensor) -> list[tuple[str, str]]:
    return [case.lookup[case.key(row)] for row in x]


@pytest.mark.parametrize("split", SPLITS)
def test_episodes_have_distinct_classes_and_disjoint_examples(case: Case, split: str) -> None:
    classes = set(case.taskset.classes[split])  # type: ignore[attr-defined]
    b = case.taskset.sample(split, 40, _gen(2))  # type: ignore[arg-type]
    for e in range(len(b)):
        support = _trace(case, b.x_support[e])
        query = _trace(case, b.x_query[e])
        by_label: dict[int, set[str]] = {}
        for (cls, _), label in zip(
            support + query, b.y_support[e].tolist() + b.y_query[e].tolist(), strict=True
        ):
            by_label.setdefault(label, set()).add(cls)
        # Every label is one class, in support and query alike; labels are distinct classes.
        assert all(len(v) == 1 for v in by_label.values())
        names = [next(iter(by_label[j])) for j in range(N_WAY)]
        assert len(set(names)) == N_WAY
        assert set(names) <= classes
        ids = [i for _, i in support + query]
        assert len(set(ids)) == len(ids), "an example is repeated within an episode"


def test_same_seed_same_episodes_other_seed_differs(case: Case) -> None:
    a = case.taskset.sample("train", 5, _gen(7))
    b = case.taskset.sample("train", 5, _gen(7))
    c = case.taskset.sample("train", 5, _gen(8))
    for name in ("x_support", "y_support", "x_query", "y_query"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.x_support, c.x_support)
    # The generator is the only source of randomness: consecutive draws differ too.
    g = _gen(7)
    first, second = case.taskset.sample("train", 5, g), case.taskset.sample("train", 5, g)
    assert torch.equal(first.x_query, a.x_query)
    assert not torch.equal(first.x_query, second.x_query)


def test_splits_have_disjoint_classes_and_sampling_stays_inside(case: Case) -> None:
    classes = case.taskset.classes  # type: ignore[attr-defined]
    sets = [set(classes[s]) for s in SPLITS]
    assert all(len(s) >= N_WAY for s in sets)
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
    for split, allowed in zip(SPLITS, sets, strict=True):
        seen = set()
        for seed in range(3):
            b = case.taskset.sample(split, 30, _gen(seed))
            seen.update(cls for e in range(len(b)) for cls, _ in _trace(case, b.x_support[e]))
        assert seen == allowed, f"{split}: sampled classes differ from the split's classes"


def test_preview(case: Case) -> None:
    p = case.taskset.preview(seed=3)
    assert p.kind == ("texts" if case.name == "text_csv" else "images")
    assert len(p.support) == N_WAY * K_SHOT and len(p.query) == N_WAY * Q_QUERY
    train = set(case.taskset.classes["train"])  # type: ignore[attr-defined]
    labels = [item.label for item in p.support]
    assert len(set(labels)) == N_WAY and set(labels) <= train
    assert labels == sorted(labels, key=labels.index)  # class-major: each label in one run
    for item in p.support + p.query:
        if case.name == "text_csv":
            assert isinstance(item.data, str)
            ids = torch.tensor(encode(item.data, 2**14, (1, 2), 32))
            assert case.lookup[_text_key(ids)][0] == item.label
        else:
            assert isinstance(item.data, np.ndarray) and item.data.shape == (SIZE, SIZE)
            assert item.data.min() >= 0.0 and item.data.max() <= 1.0
            key = _image_key(torch.from_numpy(item.data)[None])
            assert case.lookup[key][0] == item.label, "preview label is not the image's class"
    assert _preview_items(case.taskset.preview(seed=3)) == _preview_items(p)
    assert _preview_items(case.taskset.preview(seed=4)) != _preview_items(p)


def _preview_items(p: EpisodePreview) -> list[tuple[str, bytes]]:
    return [(i.label, np.asarray(i.data).tobytes()) for i in p.support + p.query]


def test_describe_is_one_line(case: Case) -> None:
    text = case.taskset.describe()
    assert text and "\n" not in text and f"{N_WAY}-way" in text


def test_unknown_split_is_refused(case: Case) -> None:
    with pytest.raises(TaskSetError, match="split"):
        case.taskset.sample("training", 1, _gen(0))  # type: ignore[arg-type]


def test_families_are_registered(tmp_path: Path) -> None:
    assert {"omniglot", "image_folder", "text_csv"} <= set(FAMILY_NAMES)
    adapter = TypeAdapter(TaskSetConfig)
    for data, cls in (
        ({"family": "omniglot", "root": "x"}, OmniglotConfig),
        ({"family": "image_folder", "root": "x"}, ImageFolderConfig),
        ({"family": "text_csv", "path": "x.csv"}, TextCSVConfig),
    ):
        cfg = adapter.validate_python(data)
        assert type(cfg) is cls
        assert adapter.validate_python(cfg.model_dump()) == cfg
    with pytest.raises(ValueError, match="n_wya"):
        adapter.validate_python({"family": "omniglot", "root": "x", "n_wya": 5})
