"""Omniglot: per-class rotations, the pinned split, zip and folder sources, the checksummed
download (from a local HTTP server) and the real subsets in ../shared/data/omniglot."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metagui.core.errors import TaskSetError
from metagui.core.tasksets import OmniglotConfig
from metagui.core.tasksets import omniglot as om

SIZE = 8
SHARED_OMNIGLOT = (Path(__file__).resolve().parents[2] / "../shared/data/omniglot").resolve()


def _characters(seed: int, alphabets: list[str], per_alphabet: int, drawings: int) -> dict:
    """Random one-bit characters ``{"Alphabet/characterNN": [images]}`` whose drawings and
    their rotations are all distinct."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {}
    seen: set[bytes] = set()
    for a in alphabets:
        for c in range(1, per_alphabet + 1):
            images = []
            while len(images) < drawings:
                arr = (rng.integers(0, 2, (SIZE, SIZE)) * 255).astype(np.uint8)
                rots = {np.ascontiguousarray(np.rot90(arr, k)).tobytes() for k in range(4)}
                if len(rots) == 4 and not seen & rots:
                    seen |= rots
                    images.append(arr)
            out[f"{a}/character{c:02d}"] = images
    return out


def _write_zip(path: Path, characters: dict[str, list[np.ndarray]]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for key, images in characters.items():
            for i, arr in enumerate(images):
                buf = io.BytesIO()
                Image.fromarray(arr > 127).convert("1").save(buf, format="PNG")
                zf.writestr(f"{path.stem}/{key}/{i:04d}_{i + 1:02d}.png", buf.getvalue())


BACKGROUND = _characters(11, ["Alpha", "Beta", "Delta"], 10, 6)
EVALUATION = _characters(12, ["Gamma", "Beta"], 3, 6)  # Beta/character01..03 are shared


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("omniglot")
    _write_zip(root / "bg.zip", BACKGROUND)
    _write_zip(root / "ev.zip", EVALUATION)
    return root


def _config(root: Path, **kw: object) -> OmniglotConfig:
    base: dict[str, object] = {
        "root": str(root),
        "background": "bg",
        "evaluation": "ev",
        "n_way": 3,
        "k_shot": 2,
        "q_query": 3,
        "image_size": SIZE,
    }
    return OmniglotConfig.model_validate(base | kw)


@pytest.fixture(scope="module")
def taskset(data_root: Path) -> om.OmniglotTaskSet:
    return _config(data_root).build()


_DRAWINGS = {
    np.ascontiguousarray(np.rot90(base, k)).tobytes(): (key, k, i)
    for key, images in [*BACKGROUND.items(), *EVALUATION.items()]
    for i, base in enumerate(images)
    for k in range(4)
}


def _identify(x: torch.Tensor) -> tuple[str, int, int]:
    """(character, quarter turns, drawing) of one sampled image ``[1, H, W]``."""
    arr = (x[0] * 255).round().to(torch.uint8).numpy()
    found = _DRAWINGS.get(arr.tobytes())
    assert found is not None, "sampled image is no rotation of any drawing"
    return found


def _sha_is_validation(key: str) -> bool:
    return hashlib.sha256(key.encode()).digest()[0] < 51


def test_pinned_split_follows_the_sha256_rule(taskset: om.OmniglotTaskSet) -> None:
    val = sorted(k for k in BACKGROUND if _sha_is_validation(k))
    train = sorted(k for k in BACKGROUND if not _sha_is_validation(k))
    assert val and train, "test data: the rule must put characters in both splits"
    rot = ["", " rot90", " rot180", " rot270"]
    assert set(taskset.classes["train"]) == {k + r for k in train for r in rot}
    assert set(taskset.classes["validation"]) == {k + r for k in val for r in rot}
    # Test: the evaluation set minus the characters the background set also has.
    test_keys = {k for k in EVALUATION if k not in BACKGROUND}
    assert set(taskset.classes["test"]) == {k + r for k in test_keys for r in rot}
    assert taskset.shared_characters == 3


def test_split_is_the_same_for_other_seeds_sources_and_machines(
    taskset: om.OmniglotTaskSet, data_root: Path, tmp_path: Path
) -> None:
    # Same data extracted to folders at another path: identical classes and episodes.
    for name in ("bg", "ev"):
        with zipfile.ZipFile(data_root / f"{name}.zip") as zf:
            zf.extractall(tmp_path)
    other = _config(tmp_path).build()
    assert other.classes == taskset.classes
    for seed in (0, 1):
        a = taskset.sample("validation", 4, torch.Generator().manual_seed(seed))
        b = other.sample("validation", 4, torch.Generator().manual_seed(seed))
        assert torch.equal(a.x_support, b.x_support) and torch.equal(a.x_query, b.x_query)
        for e in range(4):
            for x in a.x_support[e]:
                key, _, _ = _identify(x)
                assert key in BACKGROUND and _sha_is_validation(key)


def test_each_class_of_a_task_has_its_own_rotation(taskset: om.OmniglotTaskSet) -> None:
    batch = taskset.sample("train", 200, torch.Generator().manual_seed(5))
    uniform = 0
    turns_seen = set()
    for e in range(len(batch)):
        turns = []
        for j in range(3):
            found = {_identify(x)[:2] for x in batch.x_support[e][batch.y_support[e] == j]}
            found |= {_identify(x)[:2] for x in batch.x_query[e][batch.y_query[e] == j]}
            assert len(found) == 1, "one class mixes characters or rotations"
            turns.append(found.pop()[1])
        turns_seen.update(turns)
        uniform += len(set(turns)) == 1
    assert turns_seen == {0, 1, 2, 3}
    # Independent rotations: all three equal in about 1 task in 16 (200 tasks: ~12).
    assert uniform < 40, f"{uniform} of 200 tasks rotate all classes alike"


def test_rotated_class_is_rot90_of_its_base_and_named_so(taskset: om.OmniglotTaskSet) -> None:
    for seed in range(6):
        p = taskset.preview(seed)
        for item in p.support + p.query:
            key, k, i = _identify(torch.from_numpy(item.data)[None])
            assert item.label == om.class_name(key, k)
            expected = np.rot90(BACKGROUND[key][i], k) / 255.0
            np.testing.assert_array_equal(item.data, expected)


def test_without_rotations_images_are_upright(data_root: Path) -> None:
    ts = _config(data_root, rotations=False, n_way=2).build()
    assert len(ts.classes["train"]) == sum(not _sha_is_validation(k) for k in BACKGROUND)
    batch = ts.sample("train", 20, torch.Generator().manual_seed(0))
    assert {_identify(x)[1] for x in batch.x_support.flatten(0, 1)} == {0}


def test_images_are_kept_white_background_and_resized(data_root: Path) -> None:
    ts = _config(data_root, image_size=5).build()
    batch = ts.sample("test", 2, torch.Generator().manual_seed(0))
    assert batch.x_support.shape == (2, 6, 1, 5, 5)
    # Lanczos of a 0/255 image leaves in-between grays: the images were really resized.
    values = torch.unique(batch.x_support)
    assert ((values > 0) & (values < 1)).any()


def test_missing_data_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(TaskSetError) as exc:
        _config(tmp_path).build()
    msg = str(exc.value)
    assert "background" in msg and str(tmp_path / "bg.zip") in msg and "download" in msg


def test_same_set_twice_is_refused(data_root: Path) -> None:
    with pytest.raises(ValueError, match="evaluation: names 'bg'"):
        _config(data_root, evaluation="bg")
    forced = _config(data_root).model_copy(update={"evaluation": ["bg"]})  # not validated
    with pytest.raises(TaskSetError, match="evaluation: names 'bg'"):
        forced.build()


def test_n_way_too_large_names_split_and_count(data_root: Path) -> None:
    n_val = 4 * sum(_sha_is_validation(k) for k in BACKGROUND)
    pattern = rf"n_way = {n_val + 1} exceeds the {n_val} classes of the validation split"
    with pytest.raises(TaskSetError, match=pattern):
        _config(data_root, n_way=n_val + 1).build()


def test_too_few_drawings_names_the_class(data_root: Path) -> None:
    with pytest.raises(TaskSetError, match=r"k_shot \+ q_query = 7 exceeds the 6 images of class"):
        _config(data_root, k_shot=4, q_query=3).build()


def test_corrupt_zip_and_image_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bg.zip").write_bytes(b"not a zip")
    _write_zip(tmp_path / "ev.zip", EVALUATION)
    with pytest.raises(TaskSetError, match=r"bg\.zip"):
        _config(tmp_path).build()
    _write_zip(tmp_path / "bg.zip", BACKGROUND)
    with zipfile.ZipFile(tmp_path / "bg.zip", "a") as zf:
        zf.writestr("bg/Alpha/character01/0001_01.png", b"garbage")
    with pytest.raises(TaskSetError, match=r"bg\.zip:bg/Alpha/character01/0001_01\.png"):
        _config(tmp_path).build()


# --- download -------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder holding ``bg.zip`` and ``ev.zip``."""
    served = tmp_path / "served"
    served.mkdir()
    _write_zip(served / "bg.zip", BACKGROUND)
    _write_zip(served / "ev.zip", EVALUATION)
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _known(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def test_download_checks_and_installs(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    monkeypatch.setitem(om.KNOWN_ZIPS, "bg", _known(served / "bg.zip"))  # ev: not known
    root = tmp_path / "new" / "root"
    ts = _config(root, download=True, url=url).build()
    assert sorted(p.name for p in root.iterdir()) == ["bg.zip", "ev.zip"]
    assert (root / "bg.zip").read_bytes() == (served / "bg.zip").read_bytes()
    assert len(ts.classes["test"]) == 4 * 3


def test_download_with_wrong_checksum_leaves_nothing(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    size, sha = _known(served / "bg.zip")
    monkeypatch.setitem(om.KNOWN_ZIPS, "bg", (size, "0" * 64))
    root = tmp_path / "root"
    with pytest.raises(TaskSetError) as exc:
        _config(root, download=True, url=url).build()
    msg = str(exc.value)
    assert "bg.zip" in msg and "0" * 64 in msg and sha in msg
    assert list(root.iterdir()) == []


def test_download_failure_names_the_url(server: tuple[str, Path], tmp_path: Path) -> None:
    url, served = server
    (served / "bg.zip").unlink()
    root = tmp_path / "root"
    with pytest.raises(TaskSetError, match=rf"url: downloading {url}bg\.zip failed"):
        _config(root, download=True, url=url).build()
    assert list(root.iterdir()) == []


def test_known_checksums_match_the_data_readme() -> None:
    assert om.KNOWN_ZIPS["images_background"] == (
        9_464_212,
        "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640",
    )
    assert om.KNOWN_ZIPS["images_evaluation"][1] == (
        "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee"
    )
    assert OmniglotConfig(root="x").url == om.BASE_URL


# --- the real subsets -------------------------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED_OMNIGLOT.is_dir(),
    reason=f"the Omniglot subsets are not at {SHARED_OMNIGLOT} (only in the development checkout)",
)


@needs_shared
def test_real_subsets_give_5_way_28x28_episodes() -> None:
    for name in ("images_background_small1", "images_background_small2"):
        if name in om.KNOWN_ZIPS and (SHARED_OMNIGLOT / f"{name}.zip").is_file():
            assert _known(SHARED_OMNIGLOT / f"{name}.zip") == om.KNOWN_ZIPS[name]
    ts = OmniglotConfig(
        root=str(SHARED_OMNIGLOT),
        background="images_background_small1",
        evaluation="images_background_small2",
    ).build()
    assert len(ts.classes["train"]) + len(ts.classes["validation"]) == 4 * 136
    assert not any(c.startswith(("Greek/", "Latin/")) for c in ts.classes["test"])
    # small2 has 156 characters; Greek (24) and Latin (26) are also in small1, so they drop out.
    assert len(ts.classes["test"]) == 4 * (156 - 24 - 26)
    for split in ("train", "validation", "test"):
        b = ts.sample(split, 8, torch.Generator().manual_seed(0))
        assert b.x_support.shape == (8, 5, 1, 28, 28)
        assert b.x_query.shape == (8, 75, 1, 28, 28)
        # Kept as given: mostly white background (1.0) with dark strokes.
        assert 0.6 < float(b.x_query.mean()) < 0.98


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_validation_fraction_changes_only_the_count_of_the_pinned_rule(
    data_root: Path, taskset: om.OmniglotTaskSet, fraction: float
) -> None:
    ts = _config(data_root, val_fraction=fraction).build()
    limit = round(256 * fraction)
    val = {k for k in BACKGROUND if hashlib.sha256(k.encode()).digest()[0] < limit}
    rot = ["", " rot90", " rot180", " rot270"]
    assert set(ts.classes["validation"]) == {k + r for k in val for r in rot}
    assert set(ts.classes["train"]) == {k + r for k in BACKGROUND if k not in val for r in rot}
    assert ts.classes["test"] == taskset.classes["test"]
    assert ts.classes == _config(data_root, val_fraction=fraction).build().classes
    if fraction:
        # A larger fraction only adds characters to the default's.
        assert set(taskset.classes["validation"]) < set(ts.classes["validation"])
        assert 0.3 < len(val) / len(BACKGROUND) < 0.7
        assert ts.has_split("validation")
    else:
        assert not ts.has_split("validation") and ts.has_split("train")
        assert "no validation split: val_fraction = 0" in ts.describe()
        with pytest.raises(TaskSetError, match="no validation split"):
            ts.sample("validation", 2, torch.Generator().manual_seed(0))
        b = ts.sample("train", 2, torch.Generator().manual_seed(0))
        assert b.x_support.shape == (2, 6, 1, SIZE, SIZE)


@pytest.mark.parametrize("fraction", [-0.1, 0.001, 1.0])
def test_validation_fraction_out_of_range_or_too_small_to_pick_is_refused(
    data_root: Path, fraction: float
) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        _config(data_root, val_fraction=fraction)


@needs_shared
def test_real_subset_with_half_or_no_validation_characters() -> None:
    name = "images_background_small1"
    with zipfile.ZipFile(SHARED_OMNIGLOT / f"{name}.zip") as zf:
        keys = {"/".join(n.split("/")[1:3]) for n in zf.namelist() if n.endswith(".png")}
    assert len(keys) == 136
    half = {k for k in keys if hashlib.sha256(k.encode()).digest()[0] < 128}
    for fraction, expected in ((0.5, half), (0.0, set())):
        ts = OmniglotConfig(
            root=str(SHARED_OMNIGLOT),
            background=name,
            evaluation="images_background_small2",
            val_fraction=fraction,
            rotations=False,
        ).build()
        assert set(ts.classes["validation"]) == expected
        assert len(ts.classes["train"]) == 136 - len(expected)
    assert 0.35 < len(half) / 136 < 0.65


def _write_folder(folder: Path, characters: dict[str, list[np.ndarray]]) -> None:
    for key, images in characters.items():
        (folder / key).mkdir(parents=True)
        for i, arr in enumerate(images):
            Image.fromarray(arr > 127).convert("1").save(folder / key / f"{i:04d}_{i + 1:02d}.png")


def test_several_background_sets_merge_with_identical_characters_counted_once(
    data_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = _characters(13, ["Omega"], 4, 6)
    same = {"Alpha/character01": BACKGROUND["Alpha/character01"]}  # same name, same images
    renamed = {"Omega/character09": BACKGROUND["Beta/character02"]}  # same images, other name
    _write_zip(tmp_path / "bg.zip", BACKGROUND)
    _write_zip(tmp_path / "ev.zip", EVALUATION)
    _write_folder(tmp_path / "more", extra | same | renamed)
    with caplog.at_level("INFO", logger="metagui.core.tasksets.omniglot"):
        ts = _config(tmp_path, background=["bg", "more"]).build()
    merged = ts.background_sets
    assert merged.duplicates == 2
    assert set(merged.sources) == set(BACKGROUND) | set(extra)  # the renamed copy is left out
    assert merged.owner["Omega/character01"] == "more"
    assert merged.owner["Alpha/character01"] == "bg"
    n = len(BACKGROUND) + len(extra)
    assert len(ts.classes["train"]) + len(ts.classes["validation"]) == 4 * n
    said = f"bg + more ({n} distinct characters, 2 identical character(s) counted once)"
    assert said in ts.describe()
    assert said in caplog.text
    # One name stays a plain string in the file; several are a list.
    assert _config(tmp_path).model_dump()["background"] == "bg"
    assert _config(tmp_path, background=["bg", "more"]).model_dump()["background"] == [
        "bg",
        "more",
    ]


def test_a_character_shared_by_name_with_other_images_is_refused(
    data_root: Path, tmp_path: Path
) -> None:
    _write_zip(tmp_path / "bg.zip", BACKGROUND)
    _write_zip(tmp_path / "ev.zip", EVALUATION)
    _write_folder(tmp_path / "more", {"Alpha/character01": BACKGROUND["Alpha/character02"]})
    with pytest.raises(TaskSetError) as exc:
        _config(tmp_path, background=["bg", "more"]).build()
    msg = str(exc.value)
    assert msg.startswith("background: character 'Alpha/character01' of set 'more'")
    assert "'bg'" in msg


def test_an_evaluation_character_identical_to_a_background_one_is_not_a_test_class(
    data_root: Path, tmp_path: Path
) -> None:
    _write_zip(tmp_path / "bg.zip", BACKGROUND)
    copy = {"Zeta/character05": BACKGROUND["Delta/character03"]}
    _write_zip(tmp_path / "ev.zip", EVALUATION | copy)
    ts = _config(tmp_path).build()
    assert not any(c.startswith("Zeta/") for c in ts.classes["test"])
    # The 3 Beta characters shared by name, and the copy under another name.
    assert ts.shared_characters == 4
    assert len(ts.classes["test"]) == 4 * (len(EVALUATION) - 3)


def test_a_set_listed_twice_or_in_both_roles_is_refused(data_root: Path) -> None:
    with pytest.raises(ValueError, match="lists the set 'bg' twice"):
        _config(data_root, background=["bg", "bg"])
    with pytest.raises(ValueError, match="evaluation: names 'bg', a background set too"):
        _config(data_root, background=["bg"], evaluation=["ev", "bg"])


@needs_shared
def test_real_small_sets_merge_into_their_distinct_characters() -> None:
    names = ["images_background_small1", "images_background_small2"]
    with pytest.raises(ValueError, match="evaluation: names 'images_background_small2'"):
        OmniglotConfig(root=str(SHARED_OMNIGLOT), background=names, evaluation=names[1])
    config = OmniglotConfig(root=str(SHARED_OMNIGLOT), background=names)
    merged = om._MergedSets(config, SHARED_OMNIGLOT, "background")
    # small1 (136) and small2 (156) share Greek and Latin byte for byte (50 characters).
    assert merged.duplicates == 50
    assert len(merged.sources) == 136 + 156 - 50


def test_no_evaluation_set_means_no_test_split(data_root: Path) -> None:
    config = _config(data_root, evaluation=[])
    assert not config.has_test and config.model_dump()["evaluation"] == []
    ts = config.build()
    assert not ts.has_split("test") and ts.classes["test"] == ()
    assert ts.has_split("validation") and ts.has_split("train")
    assert "(no evaluation set)" in ts.describe()
    with pytest.raises(TaskSetError, match="no test split"):
        ts.sample("test", 1, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="no split to evaluate on"):
        _config(data_root, evaluation=[], val_fraction=0)
