"""A one-line label that shortens its text with an ellipsis to the width the layout gives it.

For a long line (a study's provenance, what it learned from) under a list: a wrapping label
grows to three lines at 1280 px and takes the list's rows away. The whole text stays readable
in the tooltip, and :meth:`ElidedLabel.text` returns it whole.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel"]


class ElidedLabel(QLabel):
    """A QLabel of one line whose text is elided on the right to fit its width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        # Ignored: the label takes the width it is given and never widens the window.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:
        self._text = text
        self._elide()

    def text(self) -> str:
        """The whole text, as set (what is shown may be shortened)."""
        return self._text

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, self.width())
        super().setText(shown)
