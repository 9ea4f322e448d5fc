"""Scrolling a panel never changes a setting: the mouse wheel turns a spin box, a combo box or a
slider only while it has the keyboard focus (clicked or tabbed into); otherwise the wheel goes
on to the panel around it, which scrolls.

Qt's default lets a wheel over any such widget change its value, and gives it the focus too:
scrolling down a long form changed "Meta-batch" from 2 to 0 as it passed under the pointer.
:func:`guard_wheel` fixes that for a whole tree of widgets in one place, the widgets created
later included (rows of the search-space table, the next family's form)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QGraphicsView,
    QWidget,
)

__all__ = ["WheelGuard", "guard_wheel"]

_VALUE_WIDGETS = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class WheelGuard(QObject):
    """An event filter over every widget of a tree (see :func:`guard_wheel`)."""

    def guard(self, root: QWidget) -> None:
        """Watch ``root`` and the widgets inside it: value widgets take the focus by click or
        tab only, and ignore the wheel without it."""
        for widget in [root, *root.findChildren(QWidget)]:
            if _in_plot(widget):
                continue  # a plot (the preview's) repaints often and holds no value widget
            widget.installEventFilter(self)  # once per widget: Qt does not add it twice
            if isinstance(widget, _VALUE_WIDGETS):
                widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            if isinstance(watched, _VALUE_WIDGETS) and not watched.hasFocus():
                assert isinstance(event, QWheelEvent)
                self._pass_on(watched, event)
                event.accept()  # handled: this widget never sees it
                return True
        elif kind == QEvent.Type.ChildPolished:
            # A widget added to the tree is shown for the first time: fully built now.
            child = getattr(event, "child", lambda: None)()
            if isinstance(child, QWidget):
                self.guard(child)
        return False

    @staticmethod
    def _pass_on(widget: QWidget, event: QWheelEvent) -> None:
        """Offer ``event`` to the parents of ``widget``, nearest first, until one takes it
        (a scroll area that can still scroll that way), as Qt offers a wheel event a widget
        ignores. Done here rather than left to Qt, which passes on only the events that come
        from the window system: the same code path for a real wheel and a test's."""
        position = event.position()
        child, parent = widget, widget.parentWidget()
        while parent is not None:
            position = child.mapToParent(position)
            offered = QWheelEvent(
                position,
                event.globalPosition(),
                event.pixelDelta(),
                event.angleDelta(),
                event.buttons(),
                event.modifiers(),
                event.phase(),
                event.inverted(),
                event.source(),
            )
            offered.ignore()
            QCoreApplication.sendEvent(parent, offered)
            if offered.isAccepted() or parent.isWindow():
                return
            child, parent = parent, parent.parentWidget()


def _in_plot(widget: QWidget) -> bool:
    node: QWidget | None = widget
    while node is not None:
        if isinstance(node, QGraphicsView):
            return True
        node = node.parentWidget()
    return False


def guard_wheel(root: QWidget) -> WheelGuard:
    """Make the wheel scroll ``root`` (a panel, or the tabs holding the panels) instead of
    changing the value under the pointer, for the widgets inside it now and later."""
    guard = WheelGuard(root)
    guard.guard(root)
    return guard
