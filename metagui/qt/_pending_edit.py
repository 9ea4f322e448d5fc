"""Finish the edit the user is still typing before a command reads the document.

A text field of the setup (a line edit, a spin box, an editable combo, a table cell being
edited) writes its value to the document when its edit is finished: Enter, or focus out. A
shortcut (F5, Ctrl+S) or a click on a toolbar button does not take the focus, so without
this the command would read the value from before the typing. Instead of teaching each field
a second way to commit, the focused widget is made to lose the focus for a moment: every
editor then finishes its edit through the path it already has (``editingFinished``, a spin
box interpreting its text, an item delegate committing its data), with the same validation.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["finish_pending_edit"]


def finish_pending_edit(window: QWidget) -> None:
    """Commit the pending edit of the widget focused in ``window`` (nothing if the focus is
    elsewhere), then give it the focus back so that the user can go on typing."""
    focused = QApplication.focusWidget()
    if focused is None or focused.window() is not window.window():
        return
    focused.clearFocus()  # focus out: the editor finishes its edit, synchronously
    if QApplication.focusWidget() is not None:
        return
    # A table's cell editor is closed (hidden) by its focus out: the table takes the focus.
    target: QWidget | None = focused
    while target is not None and not (
        target.isVisible() and target.focusPolicy() != Qt.FocusPolicy.NoFocus
    ):
        target = target.parentWidget()
    if target is not None:
        target.setFocus(Qt.FocusReason.OtherFocusReason)
