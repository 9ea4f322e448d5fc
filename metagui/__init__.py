"""metagui: a desktop experiment manager for meta-learning.

``metagui.load(checkpoint)`` gives a trained model to adapt and predict with (see
:mod:`metagui.api`); it is imported on first use, so ``import metagui`` stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load"]

if TYPE_CHECKING:
    from metagui.api import load


def __getattr__(name: str) -> Any:
    if name == "load":
        from metagui.api import load

        return load
    raise AttributeError(f"module 'metagui' has no attribute {name!r}")
