"""Meta-features and a content hash of a task set's data, read cheaply: file listings, zip
directories and image headers, never the decoded images (building an Omniglot task set from
the two small background zips decodes 5,840 images: about 9 s on a 2-core machine; reading
what is here takes about 0.1 s).

What the content hash covers, per family (SHA-256 throughout, as hex):

- ``sinusoid``: the task distribution itself, the JSON text
  ``{"amplitude":[lo,hi],"phase":[lo,hi],"x_range":[lo,hi]}`` (sorted keys, no blanks);
- ``omniglot``: each set's zip file, every byte (the hash :data:`omniglot.KNOWN_ZIPS` lists,
  which is also used for a missing zip that ``download`` would fetch), or an extracted set's
  folder hashed as below; then the JSON text
  ``{"background":[[name,hash],...],"evaluation":[[name,hash],...]}``;
- ``image_folder`` (and extracted Omniglot sets): the image files the family reads, sorted by
  their ``/``-separated path relative to the folder: for each, that path, a NUL, its size in
  decimal and a NUL; then, when all of them together hold at most :data:`SMALL_FOLDER_BYTES`,
  every file's bytes in the same order. The text ``listing+bytes\\0`` or ``listing\\0`` comes
  first, so the two never collide;
- ``text_csv``: the file, every byte.

Data that is not there (a moved folder, a history from another machine) gives
``DataFeatures(known=False)`` with a note saying why, never an error.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from metagui.core.errors import TaskSetError
from metagui.core.experience._fingerprint import DataFeatures
from metagui.core.tasksets import SPLITS
from metagui.core.tasksets._images import split_classes

__all__ = ["SMALL_FOLDER_BYTES", "data_features", "omniglot_set_names"]

#: Folders whose image files hold at most this many bytes are hashed byte for byte; larger ones
#: by their listing (paths and sizes) alone, which costs no reading.
SMALL_FOLDER_BYTES = 64 * 2**20

# What reading the data can raise when it is missing or broken (PIL's errors are OSErrors).
_DATA_ERRORS = (OSError, TaskSetError, zipfile.BadZipFile, EOFError, ValueError)


def data_features(config: Any) -> DataFeatures:
    """The meta-features and content hash of the data of a task-set config (any family's);
    ``known=False`` with a note where the data cannot be read here."""
    family = getattr(config, "family", None)
    read = _FAMILIES.get(str(family))
    source = _source(config)
    if read is None:
        return DataFeatures(known=False, source=source, note=f"unknown family {family!r}")
    try:
        return read(config)
    except _DATA_ERRORS as error:
        return DataFeatures(known=False, source=source, note=f"data not read: {error}")


def omniglot_set_names(value: str | Sequence[str]) -> list[str]:
    """The Omniglot set names of a ``background`` or ``evaluation`` setting: one name or a
    list of them."""
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _source(config: Any) -> str:
    for name in ("root", "path"):
        value = getattr(config, name, None)
        if isinstance(value, str):
            return value
    return ""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_folder(folder: Path, files: Iterable[Path]) -> tuple[str, str]:
    """The content hash of ``files`` under ``folder`` (see the module's docstring) and what it
    covers, in words."""
    entries = sorted((f.relative_to(folder).as_posix(), f) for f in files)
    sizes = [f.stat().st_size for _, f in entries]
    with_bytes = sum(sizes) <= SMALL_FOLDER_BYTES
    digest = hashlib.sha256(b"listing+bytes\0" if with_bytes else b"listing\0")
    for (relative, _), size in zip(entries, sizes, strict=True):
        digest.update(f"{relative}\0{size}\0".encode())
    if with_bytes:
        for _, path in entries:
            digest.update(path.read_bytes())
        return digest.hexdigest(), f"paths, sizes and bytes of {len(entries)} image files"
    return digest.hexdigest(), f"paths and sizes of {len(entries)} image files (bytes not read)"


def _image_header(source: Path | zipfile.ZipFile, name: str = "") -> tuple[tuple[int, int], int]:
    """Width and height and the number of bands of one stored image, from its header."""
    from PIL import Image

    try:
        if isinstance(source, zipfile.ZipFile):
            with source.open(name) as file, Image.open(file) as image:
                return image.size, len(image.getbands())
        with Image.open(source) as image:
            return image.size, len(image.getbands())
    except Image.DecompressionBombError as error:  # not an OSError: the data, not a bug
        raise TaskSetError(f"cannot read image {name or source}: {error}") from error


def _counts(per_class: Iterable[int]) -> tuple[float | None, int | None]:
    counts = list(per_class)
    if not counts:
        return None, None
    return sum(counts) / len(counts), min(counts)


# -- the families ------------------------------------------------------------------------------


def _sinusoid(config: Any) -> DataFeatures:
    ranges = {name: list(getattr(config, name)) for name in ("amplitude", "phase", "x_range")}
    text = json.dumps(ranges, sort_keys=True, separators=(",", ":"))
    return DataFeatures(
        known=True,
        source=f"amplitude {ranges['amplitude']}, phase {ranges['phase']}, x {ranges['x_range']}",
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        hashed="the amplitude, phase and x ranges",
        amplitude=tuple(config.amplitude),
        phase=tuple(config.phase),
        x_range=tuple(config.x_range),
    )


def _image_folder(config: Any) -> DataFeatures:
    from metagui.core.tasksets.image_folder import find_image_classes

    root = Path(config.root).expanduser()
    files = find_image_classes(root)
    splits = split_classes(list(files), config.split, config.split_seed)
    content_hash, hashed = _hash_folder(root, (p for paths in files.values() for p in paths))
    mean, low = _counts(len(paths) for paths in files.values())
    size, channels = _image_header(next(iter(files.values()))[0])
    return DataFeatures(
        known=True,
        source=config.root,
        content_hash=content_hash,
        hashed=hashed,
        classes=(len(splits["train"]), len(splits["validation"]), len(splits["test"])),
        examples_per_class=mean,
        min_examples_per_class=low,
        image_size=size,
        channels=channels,
    )


class _OmniglotSet:
    """One Omniglot set as found under the root: images per character, its content hash and
    the header of its first image; ``counts`` is None for a zip not downloaded yet."""

    def __init__(self, root: Path, name: str, download: bool) -> None:
        from metagui.core.tasksets.omniglot import KNOWN_ZIPS, character_key

        zip_path, folder = root / f"{name}.zip", root / name
        self.counts: dict[str, int] | None = {}
        self.header: tuple[tuple[int, int], int] | None = None
        if zip_path.is_file():
            self.hash = _sha256_file(zip_path)
            with zipfile.ZipFile(zip_path) as archive:
                first = ""
                for entry in sorted(archive.namelist()):
                    key = character_key(entry)
                    if key is not None:
                        self.counts[key] = self.counts.get(key, 0) + 1
                        first = first or entry
                if first:
                    self.header = _image_header(archive, first)
        elif folder.is_dir():
            images = [
                p
                for p in sorted(folder.glob("*/*/*"))
                if p.is_file() and character_key(p.relative_to(folder).as_posix())
            ]
            for image in images:
                key = f"{image.parent.parent.name}/{image.parent.name}"
                self.counts[key] = self.counts.get(key, 0) + 1
            self.hash = _hash_folder(folder, images)[0]
            if images:
                self.header = _image_header(images[0])
        elif download and name in KNOWN_ZIPS:
            # The download checks the zip against this very hash: the data is known, its
            # counts are not (yet).
            self.hash, self.counts = KNOWN_ZIPS[name][1], None
        else:
            raise TaskSetError(f"Omniglot set {name!r} not found in {root}")
        if self.counts == {}:
            raise TaskSetError(f"no character images in Omniglot set {name!r} in {root}")


def _omniglot(config: Any) -> DataFeatures:
    from metagui.core.tasksets.omniglot import is_validation_character, validation_byte_limit

    root = Path(config.root).expanduser()
    found = {
        field: [
            (name, _OmniglotSet(root, name, config.download))
            for name in omniglot_set_names(getattr(config, field))
        ]
        for field in ("background", "evaluation")
    }
    text = json.dumps(
        {field: [[name, s.hash] for name, s in sets] for field, sets in found.items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    features: dict[str, Any] = {
        "known": True,
        "source": config.root,
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "hashed": "the bytes of each set's zip (or its folder's files)",
    }
    every = [s for sets in found.values() for _, s in sets]
    if any(s.counts is None for s in every):
        features["note"] = "counts unknown until the zips are downloaded"
        return DataFeatures(**features)
    background = _merged(s.counts for _, s in found["background"])
    evaluation = _merged(s.counts for _, s in found["evaluation"])
    limit = validation_byte_limit(config.val_fraction)
    keys = {
        "train": [k for k in background if not is_validation_character(k, limit)],
        "validation": [k for k in background if is_validation_character(k, limit)],
        "test": [k for k in evaluation if k not in background],
    }
    turns = 4 if config.rotations else 1
    counts = {**evaluation, **background}
    mean, low = _counts(counts[k] for split in SPLITS for k in keys[split])
    header = next((s.header for s in every if s.header is not None), None)
    return DataFeatures(
        **features,
        classes=(
            turns * len(keys["train"]),
            turns * len(keys["validation"]),
            turns * len(keys["test"]),
        ),
        examples_per_class=mean,
        min_examples_per_class=low,
        image_size=None if header is None else header[0],
        channels=None if header is None else header[1],
    )


def _merged(counts: Iterable[Mapping[str, int] | None]) -> dict[str, int]:
    """The characters of several sets, by name: a character met again in a later set counts
    once, as the family merges them. (The family also drops a copy under another name, found
    by hashing its images; this count, which reads no image, keeps such a copy.)"""
    out: dict[str, int] = {}
    for one in counts:
        for key, count in (one or {}).items():
            out.setdefault(key, count)
    return out


def _text_csv(config: Any) -> DataFeatures:
    from metagui.core.tasksets.text_csv import read_labelled_texts
    from metagui.core.textenc import tokenize

    path = Path(config.path).expanduser()
    rows = read_labelled_texts(path, config.text_column, config.label_column)
    per_label: dict[str, int] = {}
    words: set[str] = set()
    lengths = 0
    for text, label in rows:
        per_label[label] = per_label.get(label, 0) + 1
        tokens = tokenize(text)
        words.update(tokens)
        lengths += len(tokens)
    splits = split_classes(list(per_label), config.split, config.split_seed)
    mean, low = _counts(per_label.values())
    return DataFeatures(
        known=True,
        source=config.path,
        content_hash=_sha256_file(path),
        hashed="the file's bytes",
        classes=(len(splits["train"]), len(splits["validation"]), len(splits["test"])),
        examples_per_class=mean,
        min_examples_per_class=low,
        vocab_size=len(words),
        mean_length=lengths / len(rows),
    )


_FAMILIES: dict[str, Callable[[Any], DataFeatures]] = {
    "sinusoid": _sinusoid,
    "image_folder": _image_folder,
    "omniglot": _omniglot,
    "text_csv": _text_csv,
}
