"""What every task-set family provides: seeded episodes for three disjoint splits, and a preview."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import torch
    from pydantic import ValidationInfo

__all__ = [
    "CHECK_RESOURCES",
    "SPLITS",
    "EpisodeBatch",
    "EpisodePreview",
    "PreviewItem",
    "Split",
    "TaskInfo",
    "TaskSet",
    "checked_data_path",
    "checks_resources",
    "data_path_problem",
    "has_validation_split",
]

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")

#: Key of the pydantic validation context under which a config also checks that what it names
#: is there on this machine (data files and folders, the device). Loading an experiment file
#: sets it, so that a missing folder is refused before a study starts; specs built in code,
#: edited in the app or sent to workers are not checked (building the task set checks again).
CHECK_RESOURCES = "check_resources"
# Kernel file systems: folders and files there exist but are never data.
_SYSTEM_FOLDERS = tuple(Path(p) for p in ("/proc", "/sys", "/dev"))


def checks_resources(info: ValidationInfo) -> bool:
    """Whether this validation is a load that checks the data and the device exist here."""
    context = info.context
    return isinstance(context, dict) and bool(context.get(CHECK_RESOURCES))


def checked_data_path(value: str, kind: Literal["folder", "file"], info: ValidationInfo) -> str:
    """``value``, for a field validator: on a load that checks resources, a ``ValueError``
    when it is not an existing, non-empty data folder or file (see :func:`data_path_problem`)."""
    problem = data_path_problem(value, kind) if checks_resources(info) else None
    if problem:
        raise ValueError(problem)
    return value


def data_path_problem(value: str, kind: Literal["folder", "file"]) -> str | None:
    """What is wrong with ``value`` (``~`` expanded) as an existing, non-empty data folder or
    regular file, in words that start with the path; None when nothing is."""
    path = Path(value).expanduser()
    shown = str(path) if str(path).isprintable() else repr(str(path))
    try:
        resolved = path.resolve()
        for system in _SYSTEM_FOLDERS if os.name == "posix" else ():
            if resolved == system or system in resolved.parents:
                return f"{shown} is in the system folder {system}, not data"
        if not path.exists():
            return f"{shown} does not exist"
        if kind == "folder":
            if not path.is_dir():
                return f"{shown} is not a folder"
            with os.scandir(path) as entries:
                if not any(not e.name.startswith(".") for e in entries):
                    return f"{shown} is an empty folder"
        else:
            if path.is_dir():
                return f"{shown} is a folder, not a file"
            if not path.is_file():
                return f"{shown} is not a regular file"
            if path.stat().st_size == 0:
                return f"{shown} is an empty file"
    except (OSError, ValueError, RuntimeError) as exc:  # unreadable, a NUL byte, a link loop
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return f"{shown} cannot be read ({detail})"
    return None


@dataclass(frozen=True)
class TaskInfo:
    """What a model needs to know about the episodes of a task set.

    ``input_shape`` is the shape of one example (``(1,)`` for sinusoid x, ``(1, 28, 28)`` for an
    Omniglot image, ``(max_tokens,)`` of hashed n-gram ids for text). ``output_dim`` is 1 for
    regression and ``n_way`` for classification.
    """

    kind: Literal["regression", "classification"]
    input_shape: tuple[int, ...]
    output_dim: int
    input_dtype: Literal["float", "long"] = "float"
    vocab_size: int = 0
    class_names: tuple[str, ...] = ()


@dataclass
class EpisodeBatch:
    """A meta-batch of ``B`` episodes, stacked along dimension 0.

    Shapes: ``x_support`` ``[B, S, *input_shape]``, ``y_support`` ``[B, S]`` (class indices,
    int64) or ``[B, S, 1]`` (regression targets); the same for the query set with ``Q`` rows.
    """

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor

    def __len__(self) -> int:
        return int(self.x_support.shape[0])

    def to(self, device: torch.device | str) -> EpisodeBatch:
        return EpisodeBatch(
            self.x_support.to(device, non_blocking=True),
            self.y_support.to(device, non_blocking=True),
            self.x_query.to(device, non_blocking=True),
            self.y_query.to(device, non_blocking=True),
        )

    def slice(self, start: int, stop: int) -> EpisodeBatch:
        """Episodes ``start..stop-1`` as a smaller batch (views, no copy)."""
        return EpisodeBatch(
            self.x_support[start:stop],
            self.y_support[start:stop],
            self.x_query[start:stop],
            self.y_query[start:stop],
        )

    def double(self) -> EpisodeBatch:
        """The same episodes with float inputs and regression targets in float64."""

        def conv(t: torch.Tensor) -> torch.Tensor:
            return t.double() if t.is_floating_point() else t

        return EpisodeBatch(
            conv(self.x_support), conv(self.y_support), conv(self.x_query), conv(self.y_query)
        )


@dataclass(frozen=True)
class PreviewItem:
    """One example of a previewed episode: an image array (H, W) or (H, W, 3) in [0, 1],
    a text, or an (x, y) point; ``label`` is the class name or the target as text."""

    data: np.ndarray | str | tuple[float, float]
    label: str


@dataclass(frozen=True)
class EpisodePreview:
    """A small, plain-data look at sample episodes, for the app's task-set panel.

    ``kind`` tells how to draw it: ``curves`` (regression: ``curves`` holds each sampled task's
    true function on a grid, and ``support`` its support points, one tuple per task),
    ``images`` or ``texts`` (one episode: its support and query examples with labels).
    """

    kind: Literal["curves", "images", "texts"]
    support: tuple[PreviewItem, ...] = ()
    query: tuple[PreviewItem, ...] = ()
    curves: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    curve_support: tuple[tuple[np.ndarray, np.ndarray], ...] = field(default=())


def has_validation_split(config: object) -> bool:
    """Whether the task set of ``config`` (any family's) has a validation split: a family that
    can turn it off has a ``has_validation`` property."""
    return bool(getattr(config, "has_validation", True))


def has_test_split(config: object) -> bool:
    """Whether the task set of ``config`` (any family's) has a test split: a family that can
    do without one (Omniglot with no evaluation set) has a ``has_test`` property."""
    return bool(getattr(config, "has_test", True))


class TaskSet(ABC):
    """A family of few-shot tasks with disjoint train / validation / test splits (a family may
    let the validation or the test split be turned off; :meth:`has_split` says)."""

    info: TaskInfo

    def has_split(self, split: Split) -> bool:
        """Whether episodes of ``split`` can be sampled (False for a split turned off, e.g. a
        validation fraction of 0)."""
        return split in SPLITS

    @abstractmethod
    def sample(self, split: Split, batch_size: int, generator: torch.Generator) -> EpisodeBatch:
        """Sample ``batch_size`` episodes of ``split``; the same generator state gives the same
        episodes on every machine."""

    @abstractmethod
    def preview(self, seed: int = 0) -> EpisodePreview:
        """A few sample episodes of the training split as plain data."""

    def describe(self) -> str:
        """One line saying what the task set is, for logs and the status bar."""
        return type(self).__name__
