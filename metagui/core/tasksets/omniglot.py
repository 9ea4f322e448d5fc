"""Omniglot (Lake, Salakhutdinov and Tenenbaum, 2015): N-way K-shot classification of handwritten
characters, 20 drawings each.

Data: the official zips ``<root>/<name>.zip`` (read directly, never extracted) or extracted
folders ``<root>/<name>/<Alphabet>/<character>/*.png``; the zip is preferred when both exist.
``background`` and ``evaluation`` each name one set or a list of sets, merged in order: the
dataset ships as overlapping sets (``images_background_small1`` and ``_small2`` are subsets of
``images_background``, byte for byte). A character's content hash is the SHA-256 of its images'
own SHA-256 digests, sorted (file names play no part); a character met again with the same hash,
under its own name or another, is counted once (the first set's copy is kept), and the number of
such duplicates is said in :meth:`OmniglotTaskSet.describe` and logged. The same name with other
images is refused: the two sets disagree about what that class is.
With ``download`` set, a missing zip is fetched from ``url + name + ".zip"`` into a temporary file,
its size and SHA-256 are checked against :data:`KNOWN_ZIPS` (when the name is known there) and it
is renamed into place only when they match.

Split (pinned: the same for every seed and machine): the ``background`` set gives train and
validation; character ``Alphabet/character`` is a validation class iff the first byte of
``sha256("Alphabet/character")`` (UTF-8) is below ``round(256 * val_fraction)``: 51 for the
default 0.2, about 20% of them. A larger fraction only adds characters to those of a smaller
one; 0 turns the validation split off. The ``evaluation`` set(s)
give the test split; a character that also appears in the background sets (by name or by content
hash) is left out of the test split so that the splits never share a class.

Images: the 105x105 one-bit drawings are kept as given, not inverted: background 1.0 (white),
strokes 0.0 (black). They are converted to 8-bit grayscale and resized to ``image_size`` with
Lanczos filtering, so stroke edges get intermediate grays.

Rotations: with ``rotations`` set, every character rotated by 0, 90, 180 and 270 degrees
(counter-clockwise, ``np.rot90``) is a class of its own, named ``"Alphabet/character rot90"``
etc., so an episode's classes each carry their own rotation, drawn independently; all
rotations of a character are in the same split.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)

from metagui.core.atomic_write import atomic_writer
from metagui.core.errors import FileWriteError, TaskSetError
from metagui.core.tasksets._base import (
    SPLITS,
    Split,
    TaskInfo,
    checks_resources,
    data_path_problem,
)
from metagui.core.tasksets._images import (
    ClassPool,
    PooledTaskSet,
    check_episode_fits,
    decode_images,
    is_image_name,
    no_validation_note,
    used_splits,
)

__all__ = [
    "BASE_URL",
    "KNOWN_ZIPS",
    "OmniglotConfig",
    "OmniglotTaskSet",
    "character_hash",
    "character_key",
    "class_name",
    "download_zip",
    "is_validation_character",
    "validation_byte_limit",
]

BASE_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"

#: Size in bytes and SHA-256 of the zips published in the dataset's repository.
KNOWN_ZIPS: dict[str, tuple[int, str]] = {
    "images_background": (
        9_464_212,
        "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640",
    ),
    "images_evaluation": (
        6_462_886,
        "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee",
    ),
    "images_background_small1": (
        1_319_022,
        "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
    ),
    "images_background_small2": (
        1_580_917,
        "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
    ),
}

#: A background character is a validation class iff sha256(key)[0] < this (51/256 ≈ 20%):
#: the limit of the default ``val_fraction`` (see :func:`validation_byte_limit`).
VALIDATION_BYTE_LIMIT = 51

_Sources = dict[str, list[tuple[bytes | Path, str]]]


def _names_schema(min_items: int) -> dict[str, object]:
    """One set's name, or a list of names: how files write ``background`` and ``evaluation``."""
    names = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": min_items}
    return {"anyOf": [{"type": "string", "minLength": 1}, names]}


_Background = Annotated[list[str], WithJsonSchema(_names_schema(1))]
_Evaluation = Annotated[list[str], WithJsonSchema(_names_schema(0))]

_log = logging.getLogger(__name__)


class OmniglotConfig(BaseModel):
    """Omniglot few-shot classification with a pinned class split."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    family: Literal["omniglot"] = "omniglot"
    root: str = Field(..., min_length=1, description="folder holding the zips or extracted sets")
    background: _Background = Field(
        "images_background",
        validate_default=True,
        min_length=1,
        description="the set giving train and validation, or a list of sets merged (identical "
        "characters counted once)",
    )
    evaluation: _Evaluation = Field(
        "images_evaluation",
        validate_default=True,
        description="the set giving the test split, or a list of sets merged ([]: no test "
        "split, e.g. when only background sets are at hand)",
    )
    n_way: int = Field(5, ge=2, le=1000, description="classes per episode")
    k_shot: int = Field(1, ge=1, le=20, description="support images per class")
    q_query: int = Field(15, ge=1, le=20, description="query images per class")
    image_size: int = Field(28, ge=4, le=1024, description="images are resized to this square")
    rotations: bool = Field(True, description="each 90-degree rotation is a class of its own")
    val_fraction: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="about this fraction of the background characters is the validation "
        "split, chosen by a pinned hash rule (0: no validation split)",
    )
    download: bool = Field(False, description="download missing zips from url")
    url: str = Field(BASE_URL, min_length=1, description="base address of the zips")

    @field_validator("background", "evaluation", mode="before")
    @classmethod
    def _one_or_several(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("background", "evaluation")
    @classmethod
    def _distinct_names(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in v:
            if not name.strip():
                raise ValueError("a set name is empty")
            if name in seen:
                raise ValueError(f"lists the set {name!r} twice")
            seen.add(name)
        return v

    @field_serializer("background", "evaluation")
    def _as_written(self, v: list[str]) -> str | list[str]:
        # One set stays a plain name, as files written before lists were allowed have it.
        return v[0] if len(v) == 1 else list(v)

    @model_validator(mode="after")
    def _some_split_to_evaluate_on(self) -> OmniglotConfig:
        if not self.has_validation and not self.has_test:
            raise ValueError(
                "evaluation: with no evaluation set and val_fraction = 0 there is no split to "
                "evaluate on; name an evaluation set or set val_fraction above 0"
            )
        return self

    @model_validator(mode="after")
    def _sets_are_there(self, info: ValidationInfo) -> OmniglotConfig:
        both = set(self.background) & set(self.evaluation)
        if both:
            raise ValueError(
                f"evaluation: names {sorted(both)[0]!r}, a background set too; the test split "
                "must come from other characters"
            )
        if not checks_resources(info):
            return self
        root = Path(self.root).expanduser()
        if self.download and not root.exists():
            return self  # the download creates it
        problem = data_path_problem(self.root, "folder")
        if problem and not (self.download and problem.endswith("is an empty folder")):
            raise ValueError(f"root: {problem}")
        for field in () if self.download else ("background", "evaluation"):
            for name in getattr(self, field):
                if not (root / f"{name}.zip").is_file() and not (root / name).is_dir():
                    raise ValueError(
                        f"{field}: Omniglot set {name!r} not found (neither {name + '.zip'!r} "
                        f"nor a folder {name!r} in root); put the zip from {self.url!r} there, "
                        "or set download = true"
                    )
        return self

    @field_validator("val_fraction")
    @classmethod
    def _some_or_no_validation(cls, v: float) -> float:
        if v > 0 and validation_byte_limit(v) == 0:
            raise ValueError(
                f"{v} is too small to pick any character (the rule has steps of 1/256): "
                "use 0 for no validation split, or at least 0.002"
            )
        return v

    @property
    def has_validation(self) -> bool:
        """Whether the task set has a validation split (``val_fraction`` turns it off)."""
        return validation_byte_limit(self.val_fraction) > 0

    @property
    def has_test(self) -> bool:
        """Whether the task set has a test split (``evaluation: []`` turns it off)."""
        return bool(self.evaluation)

    def build(self) -> OmniglotTaskSet:
        return OmniglotTaskSet(self)


def validation_byte_limit(val_fraction: float) -> int:
    """The first-byte limit of the validation rule for ``val_fraction``."""
    return round(256 * val_fraction)


def is_validation_character(key: str, limit: int = VALIDATION_BYTE_LIMIT) -> bool:
    """Whether background character ``"Alphabet/character"`` belongs to the validation split
    whose first-byte limit is ``limit`` (see :func:`validation_byte_limit`)."""
    return hashlib.sha256(key.encode("utf-8")).digest()[0] < limit


def class_name(key: str, quarter_turns: int) -> str:
    """The class name of character ``key`` rotated ``quarter_turns`` times by 90 degrees."""
    return key if quarter_turns == 0 else f"{key} rot{90 * quarter_turns}"


def download_zip(name: str, root: Path, url: str = BASE_URL) -> Path:
    """Download ``<url><name>.zip`` to ``<root>/<name>.zip`` and return that path.

    The file is streamed into :func:`~metagui.core.atomic_write.atomic_writer`, checked
    against :data:`KNOWN_ZIPS` when ``name`` is listed there, and only then renamed into place;
    on any failure (Ctrl-C too) nothing is left behind and :class:`TaskSetError` is raised.
    """
    import urllib.error
    import urllib.request

    source = (url if url.endswith("/") else url + "/") + f"{name}.zip"
    target = root / f"{name}.zip"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(name, root, exc) from exc
    try:
        with atomic_writer(target) as out, urllib.request.urlopen(source, timeout=60) as resp:
            digest = hashlib.sha256()
            size = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            _check_download(name, source, size, digest.hexdigest())
    except TaskSetError:
        raise
    except FileWriteError as exc:  # the folder cannot take the file
        raise _unwritable(name, root, exc) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TaskSetError(
            f"url: downloading {source} failed ({exc}); download it by hand into {root}"
        ) from exc
    return target


def _unwritable(name: str, root: Path, exc: OSError) -> TaskSetError:
    return TaskSetError(f"root: cannot write the download of {name}.zip to {root}: {exc}")


def _check_download(name: str, source: str, size: int, sha256: str) -> None:
    """Refuse a download whose size or SHA-256 differs from :data:`KNOWN_ZIPS`."""
    known = KNOWN_ZIPS.get(name)
    if known is not None and (size, sha256) != known:
        raise TaskSetError(
            f"downloaded {name}.zip from {source} is corrupt: expected {known[0]} bytes with "
            f"SHA-256 {known[1]}, got {size} bytes with SHA-256 {sha256}; the file was deleted"
        )


def character_key(entry: str) -> str | None:
    """``"Alphabet/character"`` of an image's ``/``-separated path inside a set, or None for
    entries the family skips (folders, other files, hidden and ``__MACOSX`` entries)."""
    parts = PurePosixPath(entry).parts
    if entry.endswith("/") or not is_image_name(entry):
        return None
    if len(parts) < 3 or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    return f"{parts[-3]}/{parts[-2]}"


def _read_zip(path: Path) -> _Sources:
    sources: _Sources = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for entry in sorted(zf.namelist()):
                key = character_key(entry)
                if key is None:
                    continue
                sources.setdefault(key, []).append((zf.read(entry), f"{path}:{entry}"))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise TaskSetError(f"cannot read Omniglot zip {path}: {exc}") from exc
    return sources


def _read_folder(path: Path) -> _Sources:
    sources: _Sources = {}
    for image in sorted(path.glob("*/*/*")):
        key = character_key(image.relative_to(path).as_posix())
        if key is not None and image.is_file():
            sources.setdefault(key, []).append((image, str(image)))
    return sources


def _read_set(config: OmniglotConfig, root: Path, field: str, name: str) -> _Sources:
    """The images of set ``name`` (one of ``config.<field>``), by character, downloading if
    allowed."""
    zip_path, folder = root / f"{name}.zip", root / name
    if not zip_path.is_file() and not folder.is_dir() and config.download:
        download_zip(name, root, config.url)
    if zip_path.is_file():
        sources, where = _read_zip(zip_path), str(zip_path)
    elif folder.is_dir():
        sources, where = _read_folder(folder), str(folder)
    else:
        raise TaskSetError(
            f"{field}: Omniglot set {name!r} not found: looked for {zip_path} and the folder "
            f"{folder}; put {name}.zip from {config.url} there, or set download = true"
        )
    if not sources:
        raise TaskSetError(
            f"{field}: no character images (<Alphabet>/<character>/*.png) found in {where}"
        )
    return sources


def character_hash(images: list[tuple[bytes | Path, str]]) -> str:
    """The content hash of one character: SHA-256 over its images' sorted SHA-256 digests."""
    digests = sorted(
        hashlib.sha256(src if isinstance(src, bytes) else src.read_bytes()).digest()
        for src, _ in images
    )
    return hashlib.sha256(b"".join(digests)).hexdigest()


class _MergedSets:
    """Several Omniglot sets read and merged into one, identical characters counted once."""

    def __init__(self, config: OmniglotConfig, root: Path, field: str) -> None:
        names: list[str] = getattr(config, field)
        self.sources: _Sources = {}
        #: Character key by content hash, and content hash by key.
        self.by_hash: dict[str, str] = {}
        self.hashes: dict[str, str] = {}
        #: The set each kept character comes from.
        self.owner: dict[str, str] = {}
        #: Characters met again with identical images (under any name) and left out.
        self.duplicates = 0
        self.names = names
        for name in names:
            for key, images in _read_set(config, root, field, name).items():
                digest = character_hash(images)
                if key in self.hashes and self.hashes[key] != digest:
                    raise TaskSetError(
                        f"{field}: character {key!r} of set {name!r} has other images than the "
                        f"character of that name in {self.owner[key]!r}; the sets disagree "
                        "about that class: list only one of them, or rename one copy"
                    )
                if key in self.hashes or digest in self.by_hash:
                    self.duplicates += 1
                    continue
                self.sources[key] = images
                self.hashes[key] = digest
                self.by_hash[digest] = key
                self.owner[key] = name
        if len(names) > 1:
            _log.info("%s: %s", field, self.describe())

    def describe(self) -> str:
        what = " + ".join(self.names)
        if len(self.names) <= 1:
            return what
        dup = f", {self.duplicates} identical character(s) counted once" if self.duplicates else ""
        return f"{what} ({len(self.sources)} distinct characters{dup})"


class OmniglotTaskSet(PooledTaskSet):
    """Omniglot episodes over the pinned split, loaded into memory at construction."""

    def __init__(self, config: OmniglotConfig) -> None:
        self.config = c = config
        self.n_way, self.k_shot, self.q_query = c.n_way, c.k_shot, c.q_query
        self.root = Path(c.root).expanduser()
        shared = set(c.background) & set(c.evaluation)
        if shared:
            raise TaskSetError(
                f"evaluation: names {sorted(shared)[0]!r}, a background set too; the test "
                "split must come from other characters"
            )
        self.background_sets = _MergedSets(c, self.root, "background")
        self.evaluation_sets = _MergedSets(c, self.root, "evaluation")
        background = self.background_sets.sources
        evaluation = self.evaluation_sets.sources
        seen = self.background_sets.by_hash
        limit = validation_byte_limit(c.val_fraction)
        keys: dict[Split, list[str]] = {
            "train": sorted(k for k in background if not is_validation_character(k, limit)),
            "validation": sorted(k for k in background if is_validation_character(k, limit)),
            "test": sorted(
                k
                for k in evaluation
                if k not in background and self.evaluation_sets.hashes[k] not in seen
            ),
        }
        #: Evaluation characters left out of the test split because the background sets have
        #: them (by name or by content).
        self.shared_characters = len(evaluation) - len(keys["test"])
        sources = {**evaluation, **background}
        turns = (0, 1, 2, 3) if c.rotations else (0,)
        splits = {s: [class_name(k, t) for k in keys[s] for t in turns] for s in SPLITS}
        counts = {class_name(k, t): len(sources[k]) for k in sources for t in turns}
        hint = (
            f"background = {_written(c.background)} gives train and validation (val_fraction = "
            f"{c.val_fraction})"
            + (f", evaluation = {_written(c.evaluation)} gives test" if c.has_test else "")
        )
        if not c.rotations:
            hint += "; rotations = true gives four times the classes"
        where = f"the Omniglot sets in {self.root}"
        check_episode_fits(
            splits,
            counts,
            c.n_way,
            c.k_shot + c.q_query,
            where,
            hint=hint,
            validation=c.has_validation,
            test=c.has_test,
        )
        self.classes = {s: tuple(splits[s]) for s in SPLITS}
        self.pools = {}
        for split in used_splits(c.has_validation, c.has_test):
            groups = [decode_images(sources[k], c.image_size, 1) for k in keys[split]]
            classes = [(class_name(k, t), i, t) for i, k in enumerate(keys[split]) for t in turns]
            self.pools[split] = ClassPool.build(groups, classes)
        self.info = TaskInfo(
            kind="classification",
            input_shape=(1, c.image_size, c.image_size),
            output_dim=c.n_way,
            # Episode labels are positions, not these names; they list the training classes.
            class_names=self.classes["train"],
        )

    def describe(self) -> str:
        c = self.config
        sizes = "/".join(str(len(self.classes[s])) for s in SPLITS)
        rot = ", 4 rotations per character" if c.rotations else ""
        shared = (
            f" ({self.shared_characters} evaluation character(s) also in background left out "
            "of test)"
            if self.shared_characters
            else ""
        )
        evaluation = (
            f" + {self.evaluation_sets.describe()}" if c.has_test else " (no evaluation set)"
        )
        return (
            f"Omniglot {self.background_sets.describe()}{evaluation} in {self.root}: "
            f"{c.n_way}-way "
            f"{c.k_shot}-shot, {c.q_query} query, {c.image_size}x{c.image_size}{rot}, "
            f"{sizes} train/validation/test classes{shared}"
            + no_validation_note(c.has_validation, "val_fraction = 0")
        )


def _written(names: list[str]) -> str:
    """Set names as a user writes them in the experiment file."""
    return repr(names[0]) if len(names) == 1 else repr(list(names))
