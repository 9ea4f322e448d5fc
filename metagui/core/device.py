"""Choosing the torch device: ``auto`` prefers CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metagui.core.errors import MetaguiError

if TYPE_CHECKING:
    import torch

__all__ = ["describe_device", "resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise MetaguiError(f"device: unknown device {name!r} (use auto, cpu, cuda or mps)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MetaguiError(f"device: {name!r} was asked for but CUDA is not available here")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise MetaguiError(f"device: {name!r} was asked for but MPS is not available here")
    return device


def describe_device(device: torch.device) -> str:
    """A human-readable name: the GPU model for CUDA, ``Apple MPS``, or the CPU's name."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    import platform

    cpu = platform.processor() or platform.machine() or "CPU"
    threads = torch.get_num_threads()
    return f"cpu ({cpu}, {threads} thread{'' if threads == 1 else 's'})"
