"""Whether Qt can open a window here (no Qt import: the CLI asks before loading Qt): a display
to open it on, and the system libraries of Qt's X11 plugin (``_xcb``)."""

from __future__ import annotations

import os
import sys

__all__ = ["has_display", "window_problem"]

NO_DISPLAY = (
    "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset); run a command "
    "(metagui --help), or render the window offscreen: metagui --screenshot PATH"
)


def has_display() -> bool:
    """False on a Linux machine without X11 or Wayland (where Qt would abort), unless a Qt
    platform was chosen explicitly (e.g. ``QT_QPA_PLATFORM=offscreen``)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def window_problem() -> str | None:
    """Why Qt would abort instead of opening a window here, in one line that says what to do
    (no display; missing libraries of the X11 plugin, with the command that installs them);
    None when nothing stands in the way."""
    if not has_display():
        return NO_DISPLAY
    from metagui.qt._xcb import xcb_problem

    return xcb_problem()
