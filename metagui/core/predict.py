"""Use a meta-trained model on a new few-shot task given as folders.

The support folder has one subfolder per class holding its few examples; every file of the
query folder is classified into one of those classes. Examples are read exactly as the task
set that trained the model reads them (same size, channels and resampling for images; same
hashed n-grams for texts).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from metagui.core.checkpoint import load_checkpoint
from metagui.core.device import resolve_device
from metagui.core.errors import MetaguiError

if TYPE_CHECKING:
    from metagui.core.spec import TrainSpec

__all__ = ["example_reader", "predict_folders"]

_TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})


def example_reader(
    spec: TrainSpec,
) -> tuple[Callable[[Path], torch.Tensor], Callable[[Path], bool]]:
    """How the task set of ``spec`` turns a file into one model input, and which files count."""
    from metagui.core.tasksets import SinusoidConfig, TextCSVConfig

    cfg = spec.taskset
    if isinstance(cfg, SinusoidConfig):
        raise MetaguiError(
            "predict: the checkpoint was trained on sinusoid regression; predict classifies "
            "files and needs a model trained on images or texts"
        )
    if isinstance(cfg, TextCSVConfig):
        from metagui.core.textenc import encode

        text_cfg = cfg

        def read_text(path: Path) -> torch.Tensor:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise MetaguiError(f"predict: cannot read text file {path}: {exc}") from exc
            ids = encode(
                text,
                text_cfg.buckets,
                text_cfg.ngram,
                text_cfg.max_tokens,
                char_trigrams=text_cfg.char_trigrams,
            )
            return torch.tensor(ids, dtype=torch.int64)

        return read_text, lambda p: p.suffix.lower() in _TEXT_SUFFIXES

    from metagui.core.tasksets._images import decode_image, is_image_name

    size = cfg.image_size
    channels = getattr(cfg, "channels", 1)

    def read_image(path: Path) -> torch.Tensor:
        array = decode_image(path, str(path), size, channels)
        return torch.from_numpy(array).to(torch.float32).div_(255.0)

    return read_image, lambda p: is_image_name(p.name)


def _files(folder: Path, accept: Callable[[Path], bool]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and accept(p))


def predict_folders(
    checkpoint: str | os.PathLike[str],
    support_dir: str | os.PathLike[str],
    query_dir: str | os.PathLike[str],
    *,
    device: str = "cpu",
    steps: int | None = None,
) -> list[tuple[str, str]]:
    """``(query file, predicted class folder name)`` for every query file, in name order."""
    dev = resolve_device(device)
    learner, spec = load_checkpoint(checkpoint, dev)
    read, accept = example_reader(spec)
    support_root, query_root = Path(support_dir), Path(query_dir)
    for folder, what in ((support_root, "support"), (query_root, "query")):
        if not folder.is_dir():
            raise MetaguiError(f"predict: {what} folder {folder} does not exist")
    classes = sorted(p for p in support_root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise MetaguiError(
            f"predict: support folder {support_root} needs at least two class subfolders, "
            f"found {len(classes)}"
        )
    if learner.name not in ("protonet", "cnp") and len(classes) > learner.info.output_dim:
        raise MetaguiError(
            f"predict: the {learner.name} model has a {learner.info.output_dim}-way head but the "
            f"support folder has {len(classes)} classes"
        )
    xs, ys = [], []
    for label, folder in enumerate(classes):
        files = _files(folder, accept)
        if not files:
            raise MetaguiError(f"predict: class folder {folder} has no usable examples")
        xs += [read(f) for f in files]
        ys += [label] * len(files)
    queries = _files(query_root, accept)
    if not queries:
        raise MetaguiError(f"predict: query folder {query_root} has no usable files")
    x_query = torch.stack([read(f) for f in queries]).to(dev)
    learner.eval()
    outputs = learner.predict(
        torch.stack(xs).to(dev),
        torch.tensor(ys, dtype=torch.int64, device=dev),
        x_query,
        spec.algorithm.adaptation_steps_at_eval if steps is None else steps,
    )
    # Heads wider than this task's classes: only the classes present can be predicted.
    predicted = outputs[:, : len(classes)].argmax(-1).tolist()
    return [(str(q), classes[c].name) for q, c in zip(queries, predicted, strict=True)]
