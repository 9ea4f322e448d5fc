"""How big the main window opens: on first start, sized from the screen's available area (a
1280x800 laptop gets a window that fits, with the status bar on screen); later, the saved
geometry, but only where it still fits the screen the window opens on (a window saved on a
large monitor and reopened on a laptop is sized afresh).

The sizes are pure functions of the available rectangle (:func:`first_geometry`,
:func:`setup_dock_width`, :func:`fits`), tested without a screen; the main window reads the
rectangle through :func:`available_geometry`."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

__all__ = [
    "PREFERRED_SIZE",
    "available_geometry",
    "first_geometry",
    "fits",
    "setup_dock_width",
]

PREFERRED_SIZE = QSize(1440, 900)
"""The window's size where the screen has room for it."""
FRAME_ALLOWANCE = QSize(16, 40)
"""Room left for the window manager's frame and title bar (Qt sizes the inside)."""


def available_geometry(widget: QWidget | None = None) -> QRect:
    """The available area (without task bars and docks) of the screen ``widget`` is on, else
    of the primary screen; an 1280x800 rectangle where Qt knows no screen."""
    screen = widget.screen() if widget is not None else None
    screen = screen or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 800)


def first_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE) -> QRect:
    """The window's inside on first start: ``preferred``, shrunk to fit ``available`` with
    its frame, centred in it."""
    width = max(1, min(preferred.width(), available.width() - FRAME_ALLOWANCE.width()))
    height = max(1, min(preferred.height(), available.height() - FRAME_ALLOWANCE.height()))
    rect = QRect(QPoint(0, 0), QSize(width, height))
    rect.moveCenter(available.center())
    # Centred with the frame: the title bar is above the inside.
    rect.translate(0, FRAME_ALLOWANCE.height() // 4)
    return rect


def fits(frame: QRect, available: QRect) -> bool:
    """Whether a window whose frame (title bar included) is ``frame`` lies wholly inside
    ``available``: otherwise part of it, often the status bar, is off screen."""
    return frame.isValid() and available.contains(frame)


def setup_dock_width(window_width: int) -> int:
    """The setup dock's width in a window ``window_width`` wide: a little under half of it
    (the search-space table's columns fit beside the plots of a 1280x800 screen), within
    what the forms need and can use; the plots keep the larger part."""
    return round(min(700.0, max(460.0, 0.46 * window_width)))
