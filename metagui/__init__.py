"""metagui: a desktop experiment manager for meta-learning."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
