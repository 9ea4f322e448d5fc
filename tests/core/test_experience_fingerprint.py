"""Study fingerprints: what they hold for every task-set family (checked against the built task
set and against the documented content-hash recipes), their stable JSON, experiments that no
longer validate or data no longer on disk, storage at study creation, and the back-fill of
older histories."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from metagui.core.errors import MetaguiError
from metagui.core.experience import (
    FINGERPRINT_VERSION,
    DataFeatures,
    Fingerprint,
    data_features,
    fingerprint_of,
    fingerprint_of_stored,
)
from metagui.core.experience import _features as features
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import SCHEMA_VERSION, HistoryReader, HistoryWriter, _schema
from metagui.core.tasksets import SPLITS
from metagui.core.tasksets.omniglot import KNOWN_ZIPS

DATA = Path(__file__).parent / "data"
SCHEMA_2 = DATA / "history-schema2.sqlite"  # see history-schema2.md
SHARED_OMNIGLOT = (Path(__file__).resolve().parents[2] / "../shared/data/omniglot").resolve()
needs_shared = pytest.mark.skipif(
    not SHARED_OMNIGLOT.is_dir(),
    reason=f"the Omniglot subsets are not at {SHARED_OMNIGLOT} (only in the development checkout)",
)

INNER_LR = {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.5, "log": True}
OPTIMIZER = {"name": "optimizer.name", "type": "categorical", "choices": ["adam", "sgd"]}


def spec(taskset: dict[str, Any], **more: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "taskset": taskset,
        "algorithm": {"name": "maml"},
        "search_space": {"params": [INNER_LR, OPTIMIZER]},
    }
    data.update(more)
    return ExperimentSpec.model_validate(data)


def write_texts(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["text,label", *(f'"{text}",{label}' for text, label in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def text_rows(labels: int = 10, per_label: int = 3) -> list[tuple[str, str]]:
    # Label i's texts have i + 1 words, one of them shared by all: a known vocabulary.
    return [
        (" ".join(["Common", *(f"w{i}x{j}" for j in range(i))]), f"label{i}")
        for i in range(labels)
        for _ in range(per_label)
    ]


@pytest.fixture
def image_root(tmp_path: Path, write_gray_classes: Callable[..., Path]) -> Path:
    levels = {f"c{i}": 20 * i for i in range(10)}
    return write_gray_classes(tmp_path / "images", levels, 4, size=16)


# -- every family: the fingerprint agrees with the built task set ------------------------------


def _family_configs(tmp_path: Path, image_root: Path) -> dict[str, dict[str, Any]]:
    return {
        "sinusoid": {"family": "sinusoid", "k_shot": 4, "q_query": 6},
        "image_folder": {
            "family": "image_folder",
            "root": str(image_root),
            "n_way": 2,
            "k_shot": 1,
            "q_query": 2,
            "image_size": 12,
            "channels": 3,
        },
        "text_csv": {
            "family": "text_csv",
            "path": str(write_texts(tmp_path / "texts.csv", text_rows())),
            "n_way": 2,
            "k_shot": 1,
            "q_query": 1,
            "max_tokens": 9,
        },
    }


@pytest.mark.parametrize("family", ["sinusoid", "image_folder", "text_csv"])
def test_the_fingerprint_agrees_with_the_built_task_set(
    tmp_path: Path, image_root: Path, family: str
) -> None:
    from metagui.core.models import resolve_kind

    experiment = spec(_family_configs(tmp_path, image_root)[family])
    fingerprint = fingerprint_of(experiment)
    taskset = experiment.taskset.build()
    assert fingerprint.family == family
    assert fingerprint.shape is not None and fingerprint.network is not None
    assert fingerprint.shape.input_shape == taskset.info.input_shape
    assert fingerprint.shape.kind == taskset.info.kind
    assert fingerprint.shape.n_way == (None if family == "sinusoid" else taskset.info.output_dim)
    assert fingerprint.network.kind == resolve_kind(experiment.model, taskset.info)
    assert fingerprint.data.known and fingerprint.data.content_hash
    if family != "sinusoid":
        classes = taskset.classes  # type: ignore[attr-defined]
        assert fingerprint.data.classes == tuple(len(classes[s]) for s in SPLITS)
    direction = "minimize" if family == "sinusoid" else "maximize"
    assert fingerprint.objective is not None
    assert fingerprint.objective.direction == direction
    assert fingerprint.objective.metric == ("mse" if family == "sinusoid" else "accuracy")


def test_sinusoid_holds_its_ranges_and_the_search_space_signature() -> None:
    experiment = spec(
        {"family": "sinusoid", "k_shot": 5, "amplitude": [1.0, 2.0]},
        objective={"split": "test"},
        model={"hidden_sizes": [8, 8, 8], "activation": "tanh"},
    )
    fingerprint = fingerprint_of(experiment, "minimize")
    assert fingerprint.v == FINGERPRINT_VERSION == 1
    assert fingerprint.shape is not None
    assert (fingerprint.shape.n_way, fingerprint.shape.k_shot, fingerprint.shape.q_query) == (
        None,
        5,
        10,
    )
    data = fingerprint.data
    assert (data.amplitude, data.phase, data.x_range) == (
        (1.0, 2.0),
        (0.0, 3.141592653589793),
        (-5.0, 5.0),
    )
    ranges = '{"amplitude":[1.0,2.0],"phase":[0.0,3.141592653589793],"x_range":[-5.0,5.0]}'
    assert data.content_hash == hashlib.sha256(ranges.encode()).hexdigest()
    assert (fingerprint.learner, fingerprint.gradient_based) == ("maml", True)
    assert fingerprint.network is not None
    assert dict(fingerprint.network.details) == {"hidden_sizes": (8, 8, 8), "activation": "tanh"}
    assert fingerprint.objective is not None and fingerprint.objective.split == "test"
    lr, optimizer = fingerprint.space
    assert (lr.name, lr.type, lr.low, lr.high, lr.log) == (
        "algorithm.inner_lr",
        "float",
        1e-3,
        0.5,
        True,
    )
    assert (optimizer.type, optimizer.choices) == ("categorical", ("adam", "sgd"))
    # The episode shape is not the data: another k_shot keeps the hash, another range does not.
    other_shot = fingerprint_of(spec({"family": "sinusoid", "k_shot": 1, "amplitude": [1, 2]}))
    assert other_shot.data.content_hash == data.content_hash
    other_range = fingerprint_of(spec({"family": "sinusoid", "amplitude": [1.0, 3.0]}))
    assert other_range.data.content_hash != data.content_hash


def test_a_protonet_is_not_gradient_based_and_a_group_norm_records_its_groups() -> None:
    fingerprint = fingerprint_of(
        spec(
            {"family": "sinusoid"},
            algorithm={"name": "protonet"},
            model={"kind": "conv4", "norm": "group", "filters": 32, "groups": 8},
        )
    )
    assert (fingerprint.learner, fingerprint.gradient_based) == ("protonet", False)
    assert fingerprint.network is not None
    assert fingerprint.network.kind == "conv4"  # given, not resolved from the inputs
    assert dict(fingerprint.network.details) == {"filters": 32, "norm": "group", "groups": 8}


# -- image folders: counts without decoding, and the documented hash ---------------------------


def _folder_hash(root: Path, with_bytes: bool) -> str:
    """The recipe of :mod:`metagui.core.experience._features`, written out again."""
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*.png"))
    digest = hashlib.sha256(b"listing+bytes\0" if with_bytes else b"listing\0")
    for relative, path in files:
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
    if with_bytes:
        for _, path in files:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_an_image_folder_is_counted_and_hashed_as_documented(
    image_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (image_root / "c0" / "extra.png").write_bytes((image_root / "c1" / "00.png").read_bytes())
    (image_root / "README.txt").write_text("not an image")
    experiment = spec({"family": "image_folder", "root": str(image_root), "split": [0.6, 0.2, 0.2]})
    data = fingerprint_of(experiment).data
    assert data.classes == (6, 2, 2)
    assert data.examples_per_class == pytest.approx(41 / 10)
    assert data.min_examples_per_class == 4
    assert (data.image_size, data.channels) == ((16, 16), 1)  # as stored, not as resized
    assert data.content_hash == _folder_hash(image_root, with_bytes=True)
    assert "bytes" in data.hashed and data.source == str(image_root)
    # A copy elsewhere is the same data; one changed pixel is not.
    copy = shutil.copytree(image_root, tmp_path / "copy")
    assert data_features(experiment.taskset.model_copy(update={"root": str(copy)})) == (
        dataclasses.replace(data, source=str(copy))
    )
    image = copy / "c3" / "01.png"
    pixels = Image.open(image)
    pixels.putpixel((0, 0), 255 - pixels.getpixel((0, 0)))  # type: ignore[operator]
    pixels.save(image)
    moved = data_features(experiment.taskset.model_copy(update={"root": str(copy)}))
    assert moved.content_hash != data.content_hash
    # Over the size limit only the listing is hashed.
    monkeypatch.setattr(features, "SMALL_FOLDER_BYTES", 100)
    listed = data_features(experiment.taskset)
    assert listed.content_hash == _folder_hash(image_root, with_bytes=False)
    assert "bytes not read" in listed.hashed


def test_image_data_no_longer_on_disk_is_unknown_not_an_error(image_root: Path) -> None:
    experiment = spec({"family": "image_folder", "root": str(image_root)})
    shutil.rmtree(image_root)
    fingerprint = fingerprint_of(experiment)
    assert not fingerprint.data.known and fingerprint.data.content_hash is None
    assert str(image_root) in fingerprint.data.note and fingerprint.data.classes is None
    assert fingerprint.data.source == str(image_root)
    # What the experiment says is still there.
    assert fingerprint.shape is not None and fingerprint.shape.input_shape == (1, 28, 28)
    assert fingerprint.learner == "maml" and len(fingerprint.space) == 2


# -- texts -------------------------------------------------------------------------------------


def test_text_csv_vocabulary_and_mean_length(tmp_path: Path) -> None:
    rows = text_rows(labels=10, per_label=3)
    path = write_texts(tmp_path / "texts.csv", rows)
    data = fingerprint_of(spec({"family": "text_csv", "path": str(path)})).data
    # Label i has i + 1 words: "common" and i distinct ones.
    assert data.vocab_size == 1 + sum(range(10))
    assert data.mean_length == pytest.approx(sum(i + 1 for i in range(10)) / 10)
    assert data.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (data.examples_per_class, data.min_examples_per_class) == (3.0, 3)
    assert data.classes is not None and sum(data.classes) == 10
    assert data.image_size is None and data.amplitude is None


# -- Omniglot ----------------------------------------------------------------------------------


def _png(name: str, size: int = 10) -> bytes:
    """A PNG whose pixels come from its name: every image of the data differs."""
    from io import BytesIO

    pixels = (hashlib.sha256(name.encode()).digest() * size * size)[: size * size]
    out = BytesIO()
    Image.frombytes("L", (size, size), pixels).save(out, format="PNG")
    return out.getvalue()


def _characters(alphabets: list[str], per_alphabet: int, images: int) -> dict[str, bytes]:
    names = [
        f"{alphabet}/character{c:02d}/{i:02d}.png"
        for alphabet in alphabets
        for c in range(1, per_alphabet + 1)
        for i in range(images)
    ]
    return {name: _png(name) for name in names}


def _omniglot_config(root: Path, **more: Any) -> dict[str, Any]:
    return {
        "family": "omniglot",
        "root": str(root),
        "background": "bg",
        "evaluation": "ev",
        "n_way": 2,
        "k_shot": 1,
        "q_query": 1,
        "val_fraction": 0.5,
        **more,
    }


@pytest.fixture
def omniglot_root(tmp_path: Path) -> Path:
    """A background zip of 2 alphabets x 4 characters x 3 images and an extracted evaluation
    folder of the same 3 first characters of one of them (Beta) and 3 new characters (Gamma)
    of 2 images."""
    root = tmp_path / "omniglot"
    root.mkdir()
    with zipfile.ZipFile(root / "bg.zip", "w") as archive:
        for name, data in _characters(["Alpha", "Beta"], 4, 3).items():
            archive.writestr(f"bg/{name}", data)
        archive.writestr("__MACOSX/bg/Alpha/character01/._00.png", b"resource fork")
    evaluation = {**_characters(["Beta"], 3, 3), **_characters(["Gamma"], 3, 2)}
    for name, data in evaluation.items():
        (root / "ev" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "ev" / name).write_bytes(data)
    return root


@pytest.mark.parametrize("rotations", [True, False])
def test_omniglot_counts_agree_with_the_built_task_set(
    omniglot_root: Path, rotations: bool
) -> None:
    experiment = spec(_omniglot_config(omniglot_root, rotations=rotations))
    data = fingerprint_of(experiment).data
    taskset = experiment.taskset.build()
    assert data.classes == tuple(len(taskset.classes[s]) for s in SPLITS)
    assert data.classes[2] == (4 if rotations else 1) * 3  # Gamma only: Beta is shared
    # Background characters have 3 images, test (Gamma) ones 2: 8 x 3 and 3 x 2.
    assert data.examples_per_class == pytest.approx((8 * 3 + 3 * 2) / 11)
    assert data.min_examples_per_class == 2
    assert (data.image_size, data.channels) == ((10, 10), 1)
    zip_hash = hashlib.sha256((omniglot_root / "bg.zip").read_bytes()).hexdigest()
    folder_hash = _folder_hash(omniglot_root / "ev", with_bytes=True)
    recipe = json.dumps(
        {"background": [["bg", zip_hash]], "evaluation": [["ev", folder_hash]]},
        sort_keys=True,
        separators=(",", ":"),
    )
    assert data.content_hash == hashlib.sha256(recipe.encode()).hexdigest()


def _namespace(root: Path, background: Any, evaluation: Any, **more: Any) -> SimpleNamespace:
    """An Omniglot config as plain attributes: ``background``/``evaluation`` as one name or a
    list, whichever this metagui's config holds."""
    values = {"val_fraction": 0.2, "rotations": True, "download": False, **more}
    return SimpleNamespace(
        family="omniglot", root=str(root), background=background, evaluation=evaluation, **values
    )


def test_omniglot_sets_may_be_one_name_or_a_list(omniglot_root: Path) -> None:
    one = data_features(_namespace(omniglot_root, "bg", "ev"))
    listed = data_features(_namespace(omniglot_root, ["bg"], ["ev"]))
    assert one.known and one == listed
    # Two background sets: the evaluation folder's characters join the background, none is
    # left for the test split, and the set list is part of the data's identity.
    both = data_features(_namespace(omniglot_root, ["bg", "ev"], []))
    assert both.classes is not None and both.classes[2] == 0
    assert sum(both.classes[:2]) == 4 * (8 + 3)  # Beta 1-3 counted once, Gamma added
    assert both.examples_per_class == pytest.approx((8 * 3 + 3 * 2) / 11)
    assert both.content_hash != one.content_hash


def test_a_missing_omniglot_zip_is_known_by_its_published_hash_when_downloadable(
    tmp_path: Path,
) -> None:
    config = _namespace(tmp_path, "images_background", "images_evaluation", download=True)
    data = data_features(config)
    recipe = json.dumps(
        {
            "background": [["images_background", KNOWN_ZIPS["images_background"][1]]],
            "evaluation": [["images_evaluation", KNOWN_ZIPS["images_evaluation"][1]]],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert data.known and data.content_hash == hashlib.sha256(recipe.encode()).hexdigest()
    assert data.classes is None and "downloaded" in data.note
    without = data_features(_namespace(tmp_path, "images_background", "images_evaluation"))
    assert not without.known and "images_background" in without.note


@needs_shared
def test_the_real_omniglot_subsets() -> None:
    background, evaluation = "images_background_small1", "images_background_small2"
    taskset = {
        "family": "omniglot",
        "root": str(SHARED_OMNIGLOT),
        "background": background,
        "evaluation": evaluation,
    }
    data = fingerprint_of(spec(taskset)).data
    # small1 has 136 characters; small2 has 156, of which Greek (24) and Latin (26) are also
    # in small1; 4 rotations each (see ../shared/data/README.md).
    assert data.classes is not None
    assert sum(data.classes[:2]) == 4 * 136 and data.classes[2] == 4 * (156 - 24 - 26)
    assert (data.examples_per_class, data.image_size, data.channels) == (20.0, (105, 105), 1)
    recipe = json.dumps(
        {
            "background": [[background, KNOWN_ZIPS[background][1]]],
            "evaluation": [[evaluation, KNOWN_ZIPS[evaluation][1]]],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert data.content_hash == hashlib.sha256(recipe.encode()).hexdigest()
    # Two background sets, no evaluation set (a list, as the config may now hold them).
    merged = data_features(_namespace(SHARED_OMNIGLOT, [background, evaluation], []))
    assert merged.classes is not None and merged.classes[2] == 0
    assert sum(merged.classes) == 4 * (136 + 156 - 24 - 26)


# -- the JSON form -----------------------------------------------------------------------------


def test_the_json_form_is_stable_and_reads_back(image_root: Path) -> None:
    experiment = spec({"family": "image_folder", "root": str(image_root)})
    fingerprint = fingerprint_of(experiment)
    text = fingerprint.to_json()
    assert Fingerprint.from_json(text) == fingerprint
    assert fingerprint_of(experiment).to_json() == text  # the same bytes every time
    data = json.loads(text)
    assert data["v"] == 1
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert data["space"][1] == {
        "name": "optimizer.name",
        "type": "categorical",
        "choices": ["adam", "sgd"],
    }


def test_a_fingerprint_of_another_version_still_reads() -> None:
    fingerprint = fingerprint_of(spec({"family": "sinusoid"}))
    newer = fingerprint.to_dict()
    newer.update(v=2, something_new={"a": 1})
    newer["data"]["another_feature"] = 3.5
    newer["space"][0]["prior"] = "normal"
    read = Fingerprint.from_dict(newer)
    assert read.v == 2 and read.data == fingerprint.data and read.space == fingerprint.space
    older = {"v": 0, "family": "sinusoid"}
    sparse = Fingerprint.from_dict(older)
    assert sparse.shape is None and sparse.learner is None and not sparse.data.known
    for bad in ("[1, 2]", '{"family": "sinusoid"}', "not json", '{"v": 1, "shape": {"kind": 1}}'):
        with pytest.raises(ValueError, match="not a study fingerprint"):
            Fingerprint.from_json(bad)


# -- stored experiments ------------------------------------------------------------------------


def test_a_stored_experiment_is_read_part_by_part() -> None:
    # What the schema-2 fixture stores: a partial experiment, defaults for the rest.
    old = fingerprint_of_stored(
        json.dumps({"taskset": {"family": "sinusoid"}, "algorithm": {"name": "maml"}}), "minimize"
    )
    assert old == fingerprint_of(ExperimentSpec(), "minimize")
    # An experiment of another version: an unknown network kind and one unknown parameter.
    mixed = {
        "taskset": {"family": "sinusoid", "k_shot": 3},
        "model": {"kind": "transformer"},
        "algorithm": {"name": "reptile"},
        "search_space": {"params": [INNER_LR, {"name": "x", "type": "beta"}]},
    }
    partial = fingerprint_of_stored(json.dumps(mixed), "minimize")
    assert partial.network is None and partial.learner == "reptile"
    assert partial.shape is not None and partial.shape.k_shot == 3 and partial.data.known
    assert [p.name for p in partial.space] == ["algorithm.inner_lr"]
    lost = fingerprint_of_stored(
        json.dumps({"taskset": {"family": "hologram", "x": 1}}), "maximize"
    )
    assert lost.family == "hologram" and lost.shape is None and not lost.data.known
    assert lost.learner == "maml"  # the default algorithm still reads
    # Without a task set (and an unreadable network): the default task set, as for a new one.
    default = fingerprint_of_stored(json.dumps({"model": {"kind": 3}}), "minimize")
    assert default.family == "sinusoid" and default.data == old.data and default.network is None
    for text in ("not json", "[]", "null", '{"taskset": "omniglot"}'):
        nothing = fingerprint_of_stored(text, "minimize")
        assert nothing.family == "unknown" and not nothing.data.known


def test_fingerprinting_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys\n"
        "from metagui.core.experience import fingerprint_of, similarity\n"
        "from metagui.core.experiment import ExperimentSpec\n"
        "f = fingerprint_of(ExperimentSpec())\n"
        "assert similarity(f, f).value == 1\n"
        "print(sorted(m for m in ('torch', 'optuna', 'nevergrad', 'ray') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- in the history ----------------------------------------------------------------------------


def test_a_new_study_stores_its_fingerprint(tmp_path: Path) -> None:
    from metagui.core.runner import StudyRunner, StudyStarted

    experiment = spec(
        {"family": "sinusoid", "k_shot": 2, "q_query": 2},
        name="fp",
        training={"iterations": 1, "meta_batch_size": 1, "eval_tasks": 1, "test_tasks": 1},
        budget={"trials": 1},
        device="cpu",
    )
    db = tmp_path / "h.sqlite"
    reports = StudyRunner(experiment, db).run()
    try:
        started = next(r for r in reports if isinstance(r, StudyStarted))
    finally:
        reports.close()
    with HistoryReader(db) as reader:
        stored = reader.fingerprint("fp")
        assert stored == fingerprint_of(experiment, "minimize")
        assert reader.fingerprint(started.study_id) == stored
        assert reader.fingerprints() == {started.study_id: stored}
        assert reader.fingerprint("nothing") is None


def test_the_writer_stores_what_it_is_given_and_refuses_what_is_not_json(tmp_path: Path) -> None:
    fingerprint = fingerprint_of(ExperimentSpec())
    with HistoryWriter(tmp_path / "h.sqlite") as writer:
        with_one = writer.create_study(
            "a", "{}", "minimize", "tpe", fingerprint_json=fingerprint.to_json()
        )
        without = writer.create_study("b", "{}", "minimize", "tpe")
        for bad in ("nope", "[1]"):
            with pytest.raises(MetaguiError, match="fingerprint_json is not"):
                writer.create_study("c", "{}", "minimize", "tpe", fingerprint_json=bad)
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        conn.execute("UPDATE studies SET fingerprint = '{\"v\": \"x\"}' WHERE name = 'b'")
    conn.close()
    with HistoryReader(tmp_path / "h.sqlite") as reader:
        assert reader.fingerprint(with_one) == fingerprint
        assert reader.fingerprint(without) is None  # damaged: read as none
        assert set(reader.fingerprints()) == {with_one}


def test_an_old_history_gets_every_study_fingerprinted_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA_2, path)
    HistoryWriter(path).close()
    with HistoryReader(path) as reader:
        (study,) = reader.studies()
        fingerprint = reader.fingerprint(study.id)
        assert fingerprint == fingerprint_of_stored(reader.study(study.id).spec_json, "minimize")
        assert fingerprint is not None and fingerprint.family == "sinusoid"
        assert fingerprint.objective is not None and fingerprint.objective.direction == "minimize"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert SCHEMA_VERSION == 7
    finally:
        conn.close()


def test_the_back_fill_marks_missing_data_unknown_and_reads_each_data_set_once(
    tmp_path: Path,
    image_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "v3.sqlite"
    gone = tmp_path / "gone"
    shutil.copytree(image_root, gone)
    studies = {
        "here-1": {"family": "image_folder", "root": str(image_root)},
        "here-2": {"family": "image_folder", "root": str(image_root), "n_way": 3},
        "gone": {"family": "image_folder", "root": str(gone)},
        "text": {"family": "text_csv", "path": str(tmp_path / "nowhere.csv")},
    }
    with monkeypatch.context() as old:  # a history as a schema-3 metagui wrote it
        old.setattr(_schema, "SCHEMA_VERSION", 3)
        old.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:3])
        with HistoryWriter(path) as writer:
            for name, taskset in studies.items():
                writer.create_study(name, spec(taskset).model_dump_json(), "maximize", "tpe")
    shutil.rmtree(gone)
    reads: list[str] = []
    real = features._image_folder

    def counted(config: Any) -> DataFeatures:
        reads.append(config.root)
        return real(config)

    monkeypatch.setitem(features._FAMILIES, "image_folder", counted)
    HistoryReader(path, upgrade=True).close()  # the app's way: upgraded by a writer connection
    assert sorted(reads) == sorted([str(image_root), str(gone)])  # here-2 only differs in n_way
    with HistoryReader(path) as reader:
        found = {s.name: reader.fingerprint(s.id) for s in reader.studies()}
    assert all(f is not None for f in found.values())
    here, here_2, missing, text = (found[n] for n in ("here-1", "here-2", "gone", "text"))
    assert here is not None and here.data.known and here.data.classes is not None
    assert here_2 is not None and here_2.data == here.data
    assert here_2.shape is not None and here_2.shape.n_way == 3
    assert missing is not None and not missing.data.known and str(gone) in missing.data.note
    assert missing.shape == here.shape and missing.space == here.space
    assert text is not None and not text.data.known and text.shape is not None
