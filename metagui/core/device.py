"""Choosing the torch device: ``auto`` prefers CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metagui.core.errors import MetaguiError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_NAMES", "describe_device", "device_name_problem", "resolve_device"]

#: The device names a spec may give, in words.
DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,4})?")


def device_name_problem(name: str) -> str | None:
    """Why ``name`` is not a device a spec may give (one of :data:`DEVICE_NAMES`), or None."""
    if _DEVICE.fullmatch(name):
        return None
    return f"unknown device {name!r} (use {DEVICE_NAMES})"


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
    problem = device_name_problem(name)
    if problem:
        raise MetaguiError(f"device: {problem}")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MetaguiError(f"device: {name!r} was asked for but CUDA is not available here")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise MetaguiError(
                f"device: {name!r} was asked for but this machine has {count} CUDA "
                f"device{'' if count == 1 else 's'} (cuda:0 to cuda:{count - 1})"
            )
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
