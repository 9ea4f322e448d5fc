"""The one way the app shows an error: a message, and for an unexpected one its traceback
behind an expandable "Show Details..." button, after which the app carries on.

Used for a study worker that fails outside a trial and, through :func:`install_excepthook`,
for any exception raised in a slot (Qt would otherwise only print it, or abort).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

__all__ = ["ErrorDialog", "install_excepthook", "set_interactive", "show_error"]

log = logging.getLogger(__name__)

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


class ErrorDialog(QMessageBox):
    """A critical message box: ``message`` in words, ``details`` (a traceback) expandable."""

    def __init__(
        self, title: str, message: str, details: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("errorDialog")
        self.setIcon(QMessageBox.Icon.Critical)
        self.setWindowTitle(title)
        self.setText(message)
        if details:  # a bug: its traceback is what a report needs
            self.setInformativeText("metagui keeps running; the details may help to report it.")
            self.setDetailedText(details)
        else:  # an error the user can act on: the message says what to do
            self.setInformativeText("metagui keeps running.")
        self.setStandardButtons(QMessageBox.StandardButton.Close)


# Nesting error dialogs (an error while one is open) would stack modal loops: log instead.
_showing = False
_interactive = True


def set_interactive(interactive: bool) -> None:
    """False: only log errors (an offscreen screenshot has nobody to close a dialog)."""
    global _interactive
    _interactive = interactive


def show_error(title: str, message: str, details: str = "", parent: QWidget | None = None) -> None:
    """Log the error and show it in a modal :class:`ErrorDialog` (only logged when there is no
    QApplication, while another error dialog is open, or when not interactive)."""
    global _showing
    log.error("%s: %s\n%s", title, message, details)
    if QApplication.instance() is None or _showing or not _interactive:
        return
    _showing = True
    try:
        ErrorDialog(title, message, details, parent).exec()
    finally:
        _showing = False


def install_excepthook(parent: Callable[[], QWidget | None] = lambda: None) -> ExceptHook:
    """Show uncaught exceptions (from slots, timers, event handlers) in the error dialog instead
    of losing them; returns the previous hook so that it can be put back."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        show_error("Unexpected error", f"{kind.__name__}: {exc}", details, parent())

    sys.excepthook = hook
    return previous
