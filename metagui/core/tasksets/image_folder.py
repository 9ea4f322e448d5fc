"""N-way K-shot classification over a folder of images: every folder under ``root`` that directly
holds ``*.png|jpg|jpeg|bmp`` files (any case) is a class, named by its path relative to ``root``
with ``/`` separators. So both ``root/cat/*.jpg`` and Omniglot's nested
``root/Alphabet/characterNN/*.png`` work.

Classes are split into train / validation / test by a seeded, recorded rule (see
:func:`metagui.core.tasksets._images.split_classes`): sort the class names, shuffle them with
``random.Random(split_seed)``, cut by the ``split`` fractions. A validation fraction of 0 turns
the validation split off (the train and test classes are then cut as before). Images are
converted to grayscale or RGB, resized to ``image_size`` x ``image_size`` with Lanczos
filtering, kept in memory as ``uint8`` and scaled to [0, 1] when sampled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from metagui.core.errors import TaskSetError
from metagui.core.tasksets._base import SPLITS, TaskInfo, checked_data_path
from metagui.core.tasksets._images import (
    ClassPool,
    PooledTaskSet,
    check_episode_fits,
    check_fractions,
    decode_images,
    is_image_name,
    no_validation_note,
    split_classes,
    used_splits,
)

__all__ = ["ImageFolderConfig", "ImageFolderTaskSet", "find_image_classes"]


class ImageFolderConfig(BaseModel):
    """Few-shot classification over the class folders of ``root``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    family: Literal["image_folder"] = "image_folder"
    root: str = Field(..., min_length=1, description="folder whose sub-folders are the classes")
    n_way: int = Field(5, ge=2, le=1000, description="classes per episode")
    k_shot: int = Field(1, ge=1, le=10_000, description="support images per class")
    q_query: int = Field(15, ge=1, le=10_000, description="query images per class")
    image_size: int = Field(28, ge=4, le=1024, description="images are resized to this square")
    channels: Literal[1, 3] = Field(1, description="1 = grayscale, 3 = RGB")
    split: tuple[float, float, float] = Field(
        (0.64, 0.16, 0.20),
        description="fractions of the classes for train, validation, test (validation 0: no "
        "validation split)",
    )
    split_seed: int = Field(0, description="seed of the recorded class-split shuffle")

    @field_validator("split")
    @classmethod
    def _fractions(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        check_fractions(v)
        return v

    @property
    def has_validation(self) -> bool:
        """Whether the task set has a validation split (its fraction is not 0)."""
        return self.split[1] > 0

    @field_validator("root")
    @classmethod
    def _root_is_there(cls, v: str, info: ValidationInfo) -> str:
        return checked_data_path(v, "folder", info)

    def build(self) -> ImageFolderTaskSet:
        return ImageFolderTaskSet(self)


def find_image_classes(root: Path) -> dict[str, list[Path]]:
    """Every folder under ``root`` that directly holds images, by its ``/``-separated path
    relative to ``root``, with its image files sorted by name. Hidden folders and ``__MACOSX``
    are skipped."""
    if not root.is_dir():
        raise TaskSetError(f"root: folder {root} does not exist")
    classes: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        # Sorting in place makes the walk order (and so the error found first) reproducible.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        images = sorted(f for f in filenames if is_image_name(f))
        if not images:
            continue
        folder = Path(dirpath)
        if folder == root:
            raise TaskSetError(
                f"root: {root} holds images directly ({images[0]}, ...); put each class's "
                "images in its own sub-folder"
            )
        classes[folder.relative_to(root).as_posix()] = [folder / f for f in images]
    if not classes:
        raise TaskSetError(
            f"root: no images (*.png, *.jpg, *.jpeg, *.bmp) found in any sub-folder of {root}"
        )
    return classes


class ImageFolderTaskSet(PooledTaskSet):
    """Episodes over the class folders of ``config.root``, loaded into memory at construction."""

    def __init__(self, config: ImageFolderConfig) -> None:
        self.config = c = config
        self.n_way, self.k_shot, self.q_query = c.n_way, c.k_shot, c.q_query
        self.root = Path(c.root).expanduser()
        files = find_image_classes(self.root)
        splits = split_classes(list(files), c.split, c.split_seed)
        hint = (
            f"split = {c.split} of {len(files)} classes (split_seed = {c.split_seed}) leaves too "
            "few; add classes, lower n_way or change split"
        )
        counts = {name: len(paths) for name, paths in files.items()}
        check_episode_fits(
            splits,
            counts,
            c.n_way,
            c.k_shot + c.q_query,
            str(self.root),
            hint=hint,
            validation=c.has_validation,
        )
        self.classes = {s: tuple(splits[s]) for s in SPLITS}
        self.pools = {}
        for split in used_splits(c.has_validation):
            groups = [
                decode_images([(p, str(p)) for p in files[name]], c.image_size, c.channels)
                for name in splits[split]
            ]
            classes = [(name, i, 0) for i, name in enumerate(splits[split])]
            self.pools[split] = ClassPool.build(groups, classes)
        self.info = TaskInfo(
            kind="classification",
            input_shape=(c.channels, c.image_size, c.image_size),
            output_dim=c.n_way,
            # Episode labels are positions, not these names; they list the training classes.
            class_names=self.classes["train"],
        )

    def describe(self) -> str:
        c = self.config
        sizes = "/".join(str(len(self.classes[s])) for s in SPLITS)
        return (
            f"image folder {self.root}: {c.n_way}-way {c.k_shot}-shot, {c.q_query} query, "
            f"{c.channels}x{c.image_size}x{c.image_size}, {sizes} train/validation/test classes"
            + no_validation_note(c.has_validation, "split[1] = 0")
        )
