"""Shared parts of the classification families whose classes are groups of stored examples
(images or encoded texts): reading and resizing images, the seeded class split, the checks that
an episode fits the data, and fast seeded episode sampling from in-memory tensors."""

from __future__ import annotations

import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from metagui.core.errors import TaskSetError
from metagui.core.tasksets._base import (
    SPLITS,
    EpisodeBatch,
    EpisodePreview,
    PreviewItem,
    Split,
    TaskSet,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_SUFFIXES",
    "ClassPool",
    "PooledTaskSet",
    "check_episode_fits",
    "check_fractions",
    "decode_image",
    "decode_images",
    "image_preview_items",
    "is_image_name",
    "no_validation_note",
    "split_classes",
    "used_splits",
]

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp"})


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image suffixes (case-insensitive), hidden files aside."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and Path(base).suffix.lower() in IMAGE_SUFFIXES


def decode_image(source: bytes | Path, where: str, size: int, channels: int) -> np.ndarray:
    """One image as a ``uint8`` array ``(channels, size, size)``.

    The image is converted to grayscale (``channels == 1``) or RGB, then resized with Lanczos
    filtering to ``size`` x ``size`` (skipped when it already has that size). Transparent
    pixels are composited onto white. ``where`` names the file in error messages.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.load()
            img: Image.Image = im
            # Converting palette images with transparency straight to L/RGB warns and guesses;
            # compositing onto white gives the look the image has in a viewer.
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            # Lanczos on a one-bit image would silently fall back to nearest: convert first.
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise TaskSetError(f"cannot read image {where}: {exc}") from exc
    if arr.ndim == 2:
        return arr[None, :, :].copy()
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def decode_images(
    sources: Sequence[tuple[bytes | Path, str]], size: int, channels: int
) -> np.ndarray:
    """Several images (``(source, where)`` pairs) stacked as ``uint8 [N, channels, size, size]``."""
    out = np.empty((len(sources), channels, size, size), dtype=np.uint8)
    for i, (source, where) in enumerate(sources):
        out[i] = decode_image(source, where, size, channels)
    return out


def check_fractions(fractions: tuple[float, float, float]) -> None:
    """Raise ``ValueError`` (for pydantic, naming ``split``) unless the train and test fractions
    are positive, the validation fraction positive or 0 (no validation split), and the three
    sum to 1."""
    train, validation, test = fractions
    if train <= 0 or test <= 0 or validation < 0:
        raise ValueError(
            "split: the train and test fractions must be positive and the validation fraction "
            f"positive or 0 (no validation split), got {fractions}"
        )
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split: fractions must sum to 1, got {fractions} (sum {sum(fractions)})")


def split_classes(
    names: Sequence[str], fractions: tuple[float, float, float], seed: int
) -> dict[Split, list[str]]:
    """Assign classes to train / validation / test by a recorded rule.

    The class names are sorted, shuffled with ``random.Random(seed).shuffle`` (stable across
    CPython versions and machines) and cut in order: the first ``round(N * f_train)`` are train,
    up to ``round(N * (f_train + f_validation))`` validation, the rest test. Each split's list
    is returned sorted.
    """
    order = sorted(names)
    random.Random(seed).shuffle(order)
    n = len(order)
    cut1 = round(n * fractions[0])
    cut2 = round(n * (fractions[0] + fractions[1]))
    parts = (order[:cut1], order[cut1:cut2], order[cut2:])
    return {split: sorted(part) for split, part in zip(SPLITS, parts, strict=True)}


def used_splits(validation: bool, test: bool = True) -> tuple[Split, ...]:
    """The splits a task set samples from: all but those turned off."""
    off = {"validation"} - ({"validation"} if validation else set())
    off |= set() if test else {"test"}
    return tuple(s for s in SPLITS if s not in off)


def no_validation_note(validation: bool, setting: str) -> str:
    """What :meth:`TaskSet.describe` adds when the validation split is turned off by
    ``setting`` (e.g. ``val_fraction = 0``)."""
    return "" if validation else f" (no validation split: {setting})"


def check_episode_fits(
    splits: Mapping[Split, Sequence[str]],
    counts: Mapping[str, int],
    n_way: int,
    per_class: int,
    where: str,
    *,
    unit: str = "images",
    hint: str = "",
    validation: bool = True,
    test: bool = True,
) -> None:
    """Raise :class:`TaskSetError` when a split has fewer than ``n_way`` classes or a class has
    fewer than ``k_shot + q_query`` (``per_class``) examples; ``where`` names the data.
    ``validation=False`` / ``test=False``: that split is turned off."""
    for split in used_splits(validation, test):
        have = len(splits[split])
        if have < n_way:
            raise TaskSetError(
                f"n_way = {n_way} exceeds the {have} classes of the {split} split of {where}"
                + (f"; {hint}" if hint else "")
            )
    for split in SPLITS:
        for name in splits[split]:
            if counts[name] < per_class:
                raise TaskSetError(
                    f"k_shot + q_query = {per_class} exceeds the {counts[name]} {unit} of "
                    f"class {name!r} in {where}"
                )


@dataclass
class ClassPool:
    """The examples of one split in memory, grouped by class, ready for fast sampling.

    ``data`` holds the stored examples ``[N, *shape]`` (``uint8`` images or ``int64`` token
    ids); class ``i`` uses rows ``starts[i] .. starts[i] + counts[i] - 1``. Several classes may
    share rows: ``quarter_turns[i]`` then tells how often class ``i``'s images are rotated by 90
    degrees counter-clockwise (``np.rot90`` sense), so rotated classes cost no extra memory.
    """

    names: tuple[str, ...]
    data: torch.Tensor
    starts: torch.Tensor
    counts: torch.Tensor
    quarter_turns: torch.Tensor | None = None

    @classmethod
    def build(
        cls,
        groups: Sequence[np.ndarray],
        classes: Sequence[tuple[str, int, int]],
    ) -> ClassPool:
        """A pool from example groups and ``(name, group index, quarter turns)`` classes."""
        import torch

        sizes = [len(g) for g in groups]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        data = torch.from_numpy(np.concatenate(groups)) if groups else torch.empty(0)
        turns = [t for _, _, t in classes]
        return cls(
            names=tuple(name for name, _, _ in classes),
            data=data,
            starts=torch.tensor([int(offsets[g]) for _, g, _ in classes], dtype=torch.int64),
            counts=torch.tensor([sizes[g] for _, g, _ in classes], dtype=torch.int64),
            quarter_turns=torch.tensor(turns, dtype=torch.int64) if any(turns) else None,
        )

    def draw_rows(
        self, batch_size: int, n_way: int, per_class: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` episodes as rows of ``data`` ``[B, n_way, per_class]`` and class
        indices ``[B, n_way]``. Classes within an episode are distinct, and so are the rows
        drawn from one class; all randomness comes from ``generator``."""
        import torch

        if batch_size < 1:
            raise TaskSetError(f"batch_size must be at least 1, got {batch_size}")
        n_classes = len(self.names)
        # Random sort keys give a uniform random subset in one vectorized call; a stable sort
        # keeps the rare ties deterministic on every machine.
        keys = torch.rand(batch_size, n_classes, generator=generator)
        chosen = keys.argsort(dim=1, stable=True)[:, :n_way]
        counts = self.counts[chosen]
        longest = int(counts.max())
        keys = torch.rand(batch_size, n_way, longest, generator=generator)
        # Rows past a class's own count must never be picked: give them keys above 1.
        beyond = torch.arange(longest) >= counts[..., None]
        keys = keys.masked_fill(beyond, 2.0)
        picks = keys.argsort(dim=2, stable=True)[..., :per_class]
        return self.starts[chosen][..., None] + picks, chosen

    def draw(
        self, batch_size: int, n_way: int, per_class: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`draw_rows`, but the examples ``[B, n_way, per_class, *shape]`` (rotated
        per class where ``quarter_turns`` says so) instead of their rows."""
        rows, chosen = self.draw_rows(batch_size, n_way, per_class, generator)
        # index_select is many times faster than advanced indexing for this gather.
        examples = self.data.index_select(0, rows.reshape(-1))
        examples = examples.reshape(*rows.shape, *self.data.shape[1:])
        if self.quarter_turns is not None:
            examples = self._rotate(examples, self.quarter_turns[chosen])
        return examples, chosen

    @staticmethod
    def _rotate(examples: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
        """Rotate the images ``[B, n, m, C, H, H]`` of each class by its own ``turns [B, n]``.

        One gather with a per-class pixel permutation is an order of magnitude faster than
        masked ``torch.rot90`` calls per rotation.
        """
        import torch

        b, n, m, c, h, w = examples.shape
        grid = torch.arange(h * w).reshape(h, w)
        perms = torch.stack([torch.rot90(grid, k, dims=(0, 1)).reshape(-1) for k in range(4)])
        index = perms[turns][:, :, None, None, :].expand(b, n, m, c, h * w)
        flat = examples.reshape(b, n, m, c, h * w)
        return torch.gather(flat, 4, index).reshape(b, n, m, c, h, w)

    def episodes(
        self,
        batch_size: int,
        n_way: int,
        k_shot: int,
        q_query: int,
        generator: torch.Generator,
    ) -> tuple[EpisodeBatch, torch.Tensor]:
        """Episodes with class-major support and query sets, plus the chosen class indices.
        ``uint8`` images become ``float32`` in [0, 1]; token ids stay ``int64``."""
        import torch

        examples, chosen = self.draw(batch_size, n_way, k_shot + q_query, generator)
        if examples.dtype == torch.uint8:
            examples = examples.to(torch.float32).div_(255.0)
        shape = examples.shape[3:]
        xs = examples[:, :, :k_shot].reshape(batch_size, n_way * k_shot, *shape)
        xq = examples[:, :, k_shot:].reshape(batch_size, n_way * q_query, *shape)
        labels = torch.arange(n_way, dtype=torch.int64)
        ys = labels.repeat_interleave(k_shot).expand(batch_size, -1).contiguous()
        yq = labels.repeat_interleave(q_query).expand(batch_size, -1).contiguous()
        return EpisodeBatch(xs.contiguous(), ys, xq.contiguous(), yq), chosen


def image_preview_items(
    images: torch.Tensor, labels: torch.Tensor, label_names: Sequence[str]
) -> tuple[PreviewItem, ...]:
    """Preview items from float images ``[S, C, H, W]`` and their episode labels: arrays
    ``(H, W)`` or ``(H, W, 3)`` in [0, 1], labelled with the class name."""
    items = []
    for img, label in zip(images, labels.tolist(), strict=True):
        arr = img.numpy().astype(np.float32)
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
        items.append(PreviewItem(data=np.ascontiguousarray(arr), label=label_names[label]))
    return tuple(items)


class PooledTaskSet(TaskSet):
    """A classification task set whose splits are :class:`ClassPool` s held in memory.

    Subclasses set ``pools``, ``classes``, ``info`` and the episode sizes ``n_way``,
    ``k_shot`` and ``q_query``; sampling and the image preview are shared.
    """

    pools: dict[Split, ClassPool]
    classes: dict[Split, tuple[str, ...]]
    n_way: int
    k_shot: int
    q_query: int

    def has_split(self, split: Split) -> bool:
        return split in self.pools

    def _pool(self, split: Split) -> ClassPool:
        if split not in self.pools:
            if split in SPLITS:
                raise TaskSetError(f"this task set has no {split} split (it is turned off)")
            raise TaskSetError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return self.pools[split]

    def sample(self, split: Split, batch_size: int, generator: torch.Generator) -> EpisodeBatch:
        pool = self._pool(split)
        batch, _ = pool.episodes(batch_size, self.n_way, self.k_shot, self.q_query, generator)
        return batch

    def preview_episode(self, seed: int = 0) -> tuple[EpisodeBatch, list[str]]:
        """One training episode drawn with ``seed`` and the class name of each episode label."""
        import torch

        pool = self.pools["train"]
        g = torch.Generator().manual_seed(seed)
        batch, chosen = pool.episodes(1, self.n_way, self.k_shot, self.q_query, g)
        return batch, [pool.names[i] for i in chosen[0].tolist()]

    def preview(self, seed: int = 0) -> EpisodePreview:
        batch, names = self.preview_episode(seed)
        return EpisodePreview(
            kind="images",
            support=image_preview_items(batch.x_support[0], batch.y_support[0], names),
            query=image_preview_items(batch.x_query[0], batch.y_query[0], names),
        )
