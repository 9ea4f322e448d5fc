"""Task-set families. A family is one module defining a pydantic ``*Config`` (with a ``family``
literal and a ``build()`` method returning a :class:`TaskSet`); adding that config to the
``TaskSetConfig`` union below is all it takes to add one."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import BaseModel, Field

from metagui.core.tasksets._base import (
    SPLITS,
    EpisodeBatch,
    EpisodePreview,
    PreviewItem,
    Split,
    TaskInfo,
    TaskSet,
    has_test_split,
    has_validation_split,
)
from metagui.core.tasksets.image_folder import ImageFolderConfig, ImageFolderTaskSet
from metagui.core.tasksets.omniglot import OmniglotConfig, OmniglotTaskSet
from metagui.core.tasksets.sinusoid import SinusoidConfig, SinusoidTaskSet
from metagui.core.tasksets.text_csv import TextCSVConfig, TextCSVTaskSet

TaskSetConfig = Annotated[
    SinusoidConfig | OmniglotConfig | ImageFolderConfig | TextCSVConfig,
    Field(discriminator="family"),
]
_FAMILIES: tuple[type[BaseModel], ...] = get_args(get_args(TaskSetConfig)[0])

FAMILY_NAMES: tuple[str, ...] = tuple(cfg.model_fields["family"].default for cfg in _FAMILIES)


def build_taskset(config: object) -> TaskSet:
    """The task set described by ``config`` (any family's config)."""
    build = getattr(config, "build", None)
    if build is None:
        raise TypeError(f"not a task-set config: {config!r}")
    taskset: TaskSet = build()
    return taskset


__all__ = [
    "FAMILY_NAMES",
    "SPLITS",
    "EpisodeBatch",
    "EpisodePreview",
    "ImageFolderConfig",
    "ImageFolderTaskSet",
    "OmniglotConfig",
    "OmniglotTaskSet",
    "PreviewItem",
    "SinusoidConfig",
    "SinusoidTaskSet",
    "Split",
    "TaskInfo",
    "TaskSet",
    "TaskSetConfig",
    "TextCSVConfig",
    "TextCSVTaskSet",
    "build_taskset",
    "has_test_split",
    "has_validation_split",
]
