"""image_folder: class discovery, the recorded split rule, resizing, RGB, the errors a user can
meet, and the extracted real Omniglot subset."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from metagui.core.errors import TaskSetError
from metagui.core.tasksets import ImageFolderConfig
from metagui.core.tasksets.image_folder import find_image_classes

SHARED_OMNIGLOT = (Path(__file__).resolve().parents[2] / "../shared/data/omniglot").resolve()


def _png(path: Path, seed: int, size: int = 8, mode: str = "L") -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)
    return arr


def _folder(root: Path, classes: int = 12, per_class: int = 4, suffix: str = ".png") -> None:
    for c in range(classes):
        for i in range(per_class):
            _png(root / f"c{c:02d}" / f"{i}{suffix}", seed=100 * c + i)


def _cfg(root: Path, **kw: object) -> ImageFolderConfig:
    base: dict[str, object] = {
        "root": str(root),
        "n_way": 2,
        "k_shot": 1,
        "q_query": 2,
        "image_size": 8,
        "split": (0.5, 0.25, 0.25),
    }
    return ImageFolderConfig.model_validate(base | kw)


def test_classes_are_folders_that_hold_images(tmp_path: Path) -> None:
    _png(tmp_path / "Latin" / "character01" / "a.PNG", 1)
    _png(tmp_path / "Latin" / "character02" / "b.JpG", 2)
    _png(tmp_path / "dog" / "x.bmp", 3)
    _png(tmp_path / "dog" / "puppies" / "y.jpeg", 4)
    _png(tmp_path / ".hidden" / "z.png", 5)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes" / "readme.txt").parent.mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image")
    found = find_image_classes(tmp_path)
    assert sorted(found) == ["Latin/character01", "Latin/character02", "dog", "dog/puppies"]
    assert [p.name for p in found["dog"]] == ["x.bmp"]


def test_split_follows_the_recorded_rule(tmp_path: Path) -> None:
    _folder(tmp_path, classes=12)
    names = [f"c{c:02d}" for c in range(12)]
    for seed in (0, 1, 7):
        order = sorted(names)
        random.Random(seed).shuffle(order)
        expected = (sorted(order[:6]), sorted(order[6:9]), sorted(order[9:]))
        ts = _cfg(tmp_path, split_seed=seed).build()
        got = tuple(list(ts.classes[s]) for s in ("train", "validation", "test"))
        assert got == expected
    assert (
        _cfg(tmp_path, split_seed=0).build().classes != _cfg(tmp_path, split_seed=1).build().classes
    )


def test_images_are_lanczos_resized_and_scaled(tmp_path: Path) -> None:
    for c in range(8):
        for i in range(3):
            _png(tmp_path / f"c{c}" / f"{i}.png", 10 * c + i, size=16)
    ts = _cfg(tmp_path, image_size=5).build()
    split = next(s for s in ("train", "validation", "test") if "c0" in ts.classes[s])
    with Image.open(tmp_path / "c0" / "0.png") as img:
        expected = np.asarray(img.resize((5, 5), Image.Resampling.LANCZOS)) / 255
    pool = ts.pools[split]
    stored = pool.data[int(pool.starts[pool.names.index("c0")])].numpy()[0] / 255
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    batch = ts.sample(split, 2, torch.Generator().manual_seed(0))
    assert batch.x_support.shape == (2, 2, 1, 5, 5)
    assert batch.x_support.dtype == torch.float32


def test_rgb_images_and_preview(tmp_path: Path) -> None:
    originals = {}
    for c in range(8):
        for i in range(3):
            arr = _png(tmp_path / f"c{c}" / f"{i}.png", 10 * c + i, mode="RGB")
            originals.setdefault(f"c{c}", []).append(arr / 255)
    ts = _cfg(tmp_path, channels=3).build()
    assert ts.info.input_shape == (3, 8, 8)
    batch = ts.sample("train", 2, torch.Generator().manual_seed(0))
    assert batch.x_support.shape == (2, 2, 3, 8, 8)
    preview = ts.preview(0)
    for item in preview.support + preview.query:
        assert isinstance(item.data, np.ndarray) and item.data.shape == (8, 8, 3)
        assert any(np.allclose(item.data, o, atol=1e-6) for o in originals[item.label])


def test_transparent_palette_image_is_composited_on_white(tmp_path: Path) -> None:
    _folder(tmp_path, classes=8, per_class=3)
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    # Per-index alpha as bytes: converting such an image straight to L warns (an error here).
    img.save(tmp_path / "c00" / "extra.png", transparency=b"\x00" + b"\xff" * 255)
    ts = _cfg(tmp_path).build()
    split = next(s for s in ("train", "validation", "test") if "c00" in ts.classes[s])
    pool = ts.pools[split]
    row = int(pool.starts[pool.names.index("c00")]) + 3  # 0.png, 1.png, 2.png, extra.png
    assert (pool.data[row] == 255).all(), "transparent pixels must become white"


def test_missing_and_empty_root(tmp_path: Path) -> None:
    with pytest.raises(TaskSetError, match=rf"root: folder {tmp_path / 'nope'} does not exist"):
        _cfg(tmp_path / "nope").build()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("x")
    with pytest.raises(TaskSetError, match=rf"root: no images .* {tmp_path}"):
        _cfg(tmp_path).build()


def test_images_directly_in_root_are_refused(tmp_path: Path) -> None:
    _folder(tmp_path)
    _png(tmp_path / "stray.png", 1)
    with pytest.raises(TaskSetError, match=r"root: .* holds images directly \(stray\.png"):
        _cfg(tmp_path).build()


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _folder(tmp_path)
    (tmp_path / "c03" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(TaskSetError, match=r"cannot read image .*c03/broken\.png"):
        _cfg(tmp_path).build()


def test_n_way_larger_than_a_split(tmp_path: Path) -> None:
    _folder(tmp_path, classes=12)  # 6 / 3 / 3 classes
    with pytest.raises(TaskSetError, match=r"n_way = 4 exceeds the 3 classes of the validation"):
        _cfg(tmp_path, n_way=4).build()


def test_class_with_too_few_images_is_named(tmp_path: Path) -> None:
    _folder(tmp_path, classes=12, per_class=4)
    (tmp_path / "c05" / "3.png").unlink()
    with pytest.raises(
        TaskSetError, match=r"k_shot \+ q_query = 4 exceeds the 3 images of class 'c05'"
    ):
        _cfg(tmp_path, k_shot=2, q_query=2).build()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("split", (0.5, 0.5, 0.5)),
        ("split", (1.0, 0.0, 0.0)),
        ("n_way", 1),
        ("k_shot", 0),
        ("channels", 2),
        ("q_query", 0),
        ("image_size", 2),
    ],
)
def test_config_rejects_bad_values(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        _cfg(tmp_path, **{field: value})


@pytest.mark.skipif(
    not SHARED_OMNIGLOT.is_dir(),
    reason=f"the Omniglot subsets are not at {SHARED_OMNIGLOT} (only in the development checkout)",
)
def test_extracted_real_omniglot_subset(tmp_path: Path) -> None:
    with zipfile.ZipFile(SHARED_OMNIGLOT / "images_background_small1.zip") as zf:
        zf.extractall(tmp_path)
    ts = ImageFolderConfig(root=str(tmp_path / "images_background_small1")).build()
    names = [n for s in ("train", "validation", "test") for n in ts.classes[s]]
    assert len(names) == 136 and "Balinese/character01" in names
    batch = ts.sample("test", 4, torch.Generator().manual_seed(0))
    assert batch.x_support.shape == (4, 5, 1, 28, 28)
    assert batch.x_query.shape == (4, 75, 1, 28, 28)


def test_validation_fraction_0_leaves_no_validation_split(tmp_path: Path) -> None:
    _folder(tmp_path, classes=12)
    names = [f"c{c:02d}" for c in range(12)]
    order = sorted(names)
    random.Random(3).shuffle(order)
    ts = _cfg(tmp_path, split=(0.75, 0.0, 0.25), split_seed=3).build()
    # The same recorded rule: the train and test classes are cut from the same shuffle.
    assert list(ts.classes["train"]) == sorted(order[:9])
    assert list(ts.classes["test"]) == sorted(order[9:])
    assert ts.classes["validation"] == ()
    assert not ts.has_split("validation") and ts.has_split("test")
    assert "no validation split" in ts.describe()
    with pytest.raises(TaskSetError, match="no validation split"):
        ts.sample("validation", 2, torch.Generator().manual_seed(0))
    assert ts.sample("test", 2, torch.Generator().manual_seed(0)).x_support.shape[0] == 2
    # A validation fraction too small to hold n_way classes is an error, not a silent none.
    with pytest.raises(TaskSetError, match="validation split"):
        _cfg(tmp_path, split=(0.74, 0.01, 0.25)).build()
