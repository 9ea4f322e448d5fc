"""Whether Qt has a screen to open windows on (no Qt import: the CLI asks before loading Qt)."""

from __future__ import annotations

import os
import sys

__all__ = ["has_display"]


def has_display() -> bool:
    """False on a Linux machine without X11 or Wayland (where Qt would abort), unless a Qt
    platform was chosen explicitly (e.g. ``QT_QPA_PLATFORM=offscreen``)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
