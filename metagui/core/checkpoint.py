"""Model checkpoints: the learner's weights plus the full spec that built it.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``, so
loading never runs code from the file: the spec travels as plain JSON-compatible data.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError

from metagui import __version__
from metagui.core.atomic_write import write_bytes_atomic
from metagui.core.errors import CheckpointError
from metagui.core.tasksets import TaskInfo

if TYPE_CHECKING:
    from metagui.core.learners import MetaLearner
    from metagui.core.spec import TrainSpec

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "checkpoint_bytes",
    "load_checkpoint",
    "save_checkpoint",
    "write_checkpoint_bytes",
]

FORMAT = "metagui-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str],
    learner: MetaLearner,
    spec: TrainSpec,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``learner``'s weights and ``spec`` to ``path`` atomically (see
    :mod:`metagui.core.atomic_write`)."""
    return write_checkpoint_bytes(path, checkpoint_bytes(learner, spec, extra))


def checkpoint_bytes(
    learner: MetaLearner, spec: TrainSpec, extra: dict[str, Any] | None = None
) -> bytes:
    """The checkpoint of ``learner`` and ``spec`` as the bytes of a checkpoint file: what a
    trial trained in another process or on another host sends back to be written."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metagui_version": __version__,
        # torch.__version__ is a TorchVersion (a str subclass) that weights_only loading
        # refuses to unpickle: store plain str.
        "torch_version": str(torch.__version__),
        "spec": spec.model_dump(mode="json"),
        # The network's shape comes from the task set's info; storing it lets a checkpoint be
        # used where the training data is not.
        "info": _info_to_plain(learner.info),
        "state": {k: v.detach().cpu() for k, v in learner.state_dict().items()},
        "extra": extra or {},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def write_checkpoint_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write checkpoint bytes (see :func:`checkpoint_bytes`) to ``path`` atomically, making
    its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, data)


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[MetaLearner, TrainSpec]:
    """The learner and spec saved in ``path``; raises :class:`CheckpointError` with a one-line
    reason for a missing, corrupt, foreign or incompatible file."""
    from metagui.core.learners import build_learner
    from metagui.core.spec import TrainSpec

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metagui checkpoint")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is not supported by metagui "
            f"{__version__} (expects {FORMAT_VERSION})"
        )
    try:
        spec = TrainSpec.model_validate(payload["spec"])
    except (ValidationError, KeyError) as exc:
        raise CheckpointError(f"{path}: the stored experiment spec is invalid") from exc
    try:
        info = _info_from_plain(payload["info"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the stored task description is invalid") from exc
    try:
        learner = build_learner(spec.algorithm, spec.model, info)
    except ValueError as exc:  # e.g. protonet over regression, conv4 over too-small images
        raise CheckpointError(f"{path}: the stored spec does not fit its task ({exc})") from exc
    try:
        learner.load_state_dict(payload["state"])
    except (RuntimeError, KeyError) as exc:
        # torch's message spans several lines; the user gets one.
        reason = " ".join(str(exc).split())
        raise CheckpointError(f"{path}: weights do not match the stored spec ({reason})") from exc
    return learner.to(device), spec


def _info_to_plain(info: TaskInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "input_shape": list(info.input_shape),
        "output_dim": info.output_dim,
        "input_dtype": info.input_dtype,
        "vocab_size": info.vocab_size,
        "class_names": list(info.class_names),
    }


def _info_from_plain(data: dict[str, Any]) -> TaskInfo:
    if data["kind"] not in ("regression", "classification"):
        raise ValueError(data["kind"])
    return TaskInfo(
        kind=data["kind"],
        input_shape=tuple(int(v) for v in data["input_shape"]),
        output_dim=int(data["output_dim"]),
        input_dtype=data["input_dtype"],
        vocab_size=int(data["vocab_size"]),
        class_names=tuple(str(c) for c in data["class_names"]),
    )
