"""Tags as chips: a small rounded label per tag with an × that removes it, and a line to add
one. A tag is checked by the core's :func:`~metagui.core.history.check_tag` before it is
offered; a refused one is not added and the reason is shown under the line."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetItem,
)

from metagui.core.errors import MetaguiError
from metagui.core.history import check_tag

__all__ = ["FlowLayout", "TagChip", "TagChips"]


class FlowLayout(QLayout):
    """Widgets left to right, wrapped onto the next line when the width runs out.

    A few lines of our own rather than superqt's ``QFlowLayout``: importing superqt loads all
    of its widgets, a good part of a second on the window's start path."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _place(self, rect: QRect, *, move: bool) -> int:
        """Lay the items out in ``rect`` (only measure unless ``move``); the height used."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, line_height = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x, y = area.x(), y + line_height + self._spacing
                line_height = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + margins.bottom()


class _FlowHost(QWidget):
    """The chips' widget: as tall as its :class:`FlowLayout` needs at its width (a layout's
    height-for-width does not reach a splitter's pane, so the height is set here)."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = FlowLayout(self)
        self.flow.setContentsMargins(0, 0, 0, 0)

    def fit_height(self) -> None:
        height = self.flow.heightForWidth(max(1, self.width()))
        if height != self.minimumHeight():
            self.setMinimumHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_height()


class TagChip(QFrame):
    """One tag: its word and an × button that asks for its removal (``remove_requested``)."""

    remove_requested = Signal(str)

    def __init__(self, tag: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tagChip")
        self.tag = tag
        label = QLabel(tag)
        label.setObjectName("tagChipText")
        self.remove_button = QToolButton()
        self.remove_button.setObjectName("tagChipRemove")
        self.remove_button.setText("×")
        self.remove_button.setToolTip(f"Remove the tag “{tag}”")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.tag))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 2, 1)
        layout.setSpacing(2)
        layout.addWidget(label)
        layout.addWidget(self.remove_button)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class TagChips(QWidget):
    """The tags of one study or trial as chips, and a line to add one (Enter).

    The widget does not write anything: ``tag_added(tag)`` (a tag :func:`check_tag` accepts,
    not already shown) and ``tag_removed(tag)`` ask the owner to, who then shows the tags
    now held with :meth:`set_tags`."""

    tag_added = Signal(str)
    tag_removed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tagChips")
        self._tags: tuple[str, ...] = ()
        self._chips: list[TagChip] = []
        self._flow_host = _FlowHost()
        self._flow = self._flow_host.flow
        self.editor = QLineEdit()
        self.editor.setObjectName("tagEditor")
        self.editor.setPlaceholderText("Add a tag…")
        self.editor.setToolTip("Type a tag (one word) and press Enter")
        self.editor.setClearButtonEnabled(True)
        self.editor.returnPressed.connect(self._on_return)
        self.editor.textEdited.connect(self._clear_error)
        self.error_label = QLabel()
        self.error_label.setObjectName("fieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self._flow_host)
        layout.addWidget(self.editor)
        layout.addWidget(self.error_label)

    def tags(self) -> tuple[str, ...]:
        return self._tags

    def chips(self) -> list[TagChip]:
        """The chips shown, in the order of the tags."""
        return list(self._chips)

    def chip(self, tag: str) -> TagChip:
        found = [chip for chip in self._chips if chip.tag == tag]
        if not found:
            raise KeyError(tag)
        return found[0]

    def set_tags(self, tags: Sequence[str]) -> None:
        """Show ``tags`` (nothing is emitted)."""
        tags = tuple(tags)
        if tags == self._tags:
            return
        self._tags = tags
        for chip in self._chips:
            self._flow.removeWidget(chip)
            chip.deleteLater()
        self._chips = []
        for tag in tags:
            chip = TagChip(tag, self._flow_host)
            chip.remove_requested.connect(self.tag_removed)
            self._flow.addItem(QWidgetItem(chip))
            chip.show()
            self._chips.append(chip)
        self._flow_host.setVisible(bool(tags))
        self._flow.invalidate()
        self._flow_host.fit_height()
        self.updateGeometry()

    def show_error(self, message: str) -> None:
        """Say under the line why a tag was not added (cleared as the user types)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def error(self) -> str:
        """The reason shown for the last refused tag, or ''."""
        return self.error_label.text() if self.error_label.isVisibleTo(self) else ""

    @Slot()
    def _on_return(self) -> None:
        text = self.editor.text().strip()
        if not text:
            return
        try:
            tag = check_tag(text)
        except MetaguiError as refused:
            self.show_error(str(refused))
            return
        self.editor.clear()
        self.show_error("")
        if tag not in self._tags:
            self.tag_added.emit(tag)

    @Slot()
    def _clear_error(self) -> None:
        self.show_error("")
