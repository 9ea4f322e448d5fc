"""One input widget per pydantic field type: it shows a value and parses the user's text.

An editor never decides whether a value is *valid* (the document does, with the whole
experiment's validators); it only turns text into a typed value or says why it cannot
("enter a number"). ``edited`` fires as the user types (validate as you type), ``committed``
when an edit is finished (Enter, focus out, a click on a check box or a combo).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo
from PySide6.QtCore import QObject, QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

__all__ = [
    "Editor",
    "FieldShape",
    "format_number",
    "humanize",
    "make_editor",
    "parse_number",
    "set_invalid",
    "shape_of",
]

_INT32_MAX = 2**31 - 1


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Set the ``invalid`` dynamic property the app stylesheet paints red, and re-polish."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


_PHRASES = (
    (re.compile(r"Input should be greater than or equal to (\S+)$"), r"must be at least \1"),
    (re.compile(r"Input should be greater than (\S+)$"), r"must be more than \1"),
    (re.compile(r"Input should be less than or equal to (\S+)$"), r"must be at most \1"),
    (re.compile(r"Input should be less than (\S+)$"), r"must be less than \1"),
    (re.compile(r"String should have at least 1 character$"), "must not be empty"),
)


def humanize(message: str) -> str:
    """Pydantic's wording of a bound ("Input should be greater than 0") as a form says it."""
    for pattern, words in _PHRASES:
        message = pattern.sub(words, message)
    return message


def format_number(value: Any) -> str:
    """A number as the shortest text that reads back as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_number(text: str, integer: bool) -> int | float:
    text = text.strip()
    if integer:
        try:
            return int(text)
        except ValueError:
            raise ValueError(
                f"enter a whole number, not {text!r}" if text else "enter a whole number"
            ) from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"enter a number, not {text!r}" if text else "enter a number") from None
    if not math.isfinite(value):
        raise ValueError("enter a finite number")
    return value


@dataclass(frozen=True)
class FieldShape:
    """What kind of input a field's annotation asks for."""

    kind: Literal["int", "float", "bool", "choice", "text", "sequence"]
    optional: bool = False
    choices: tuple[Any, ...] = ()
    item: type = float  # element type of a sequence
    length: int | None = None  # fixed length of a tuple
    low: float | None = None
    high: float | None = None


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low: Any = None
    high: Any = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low = m.gt
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high = m.lt
    return low, high


def shape_of(info: FieldInfo) -> FieldShape:
    """The input shape of a pydantic field, from its annotation and constraints."""
    ann: Any = info.annotation
    optional = False
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        optional = len(args) < len(get_args(ann))
        ann = args[0] if len(args) == 1 else str
    low, high = _bounds(info)
    origin = get_origin(ann)
    if origin is Literal:
        return FieldShape("choice", optional, choices=get_args(ann))
    if origin in (tuple, list):
        args = [a for a in get_args(ann) if a is not Ellipsis]
        item = args[0] if args else float
        length = len(args) if origin is tuple and Ellipsis not in get_args(ann) else None
        return FieldShape("sequence", optional, item=item, length=length)
    if ann is bool:
        return FieldShape("bool", optional)
    if ann is int:
        return FieldShape("int", optional, low=low, high=high)
    if ann is float:
        return FieldShape("float", optional, low=low, high=high)
    return FieldShape("text", optional)


class Editor(QObject):
    """Shows one field's value in ``widget`` and parses it back (``ValueError``: why not)."""

    edited = Signal()
    committed = Signal()

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.widget = widget

    def show_value(self, value: Any) -> None:
        raise NotImplementedError

    def parse(self) -> Any:
        raise NotImplementedError


class _LineEditor(Editor):
    """Text in a line edit: numbers, optional numbers, strings and comma-separated lists."""

    def __init__(self, shape: FieldShape, placeholder: str = "") -> None:
        self.line = QLineEdit()
        super().__init__(self.line)
        self.shape = shape
        if shape.optional:
            self.line.setPlaceholderText(placeholder or "default")
        self.line.textEdited.connect(self.edited)
        self.line.editingFinished.connect(self.committed)

    def show_value(self, value: Any) -> None:
        if value is None:
            text = ""
        elif isinstance(value, list | tuple):
            text = ", ".join(format_number(v) for v in value)
        else:
            text = format_number(value) if self.shape.kind != "text" else str(value)
        if text != self.line.text():
            with QSignalBlocker(self.line):
                self.line.setText(text)
                self.line.setCursorPosition(0)

    def parse(self) -> Any:
        text = self.line.text().strip()
        kind = self.shape.kind
        if not text and self.shape.optional:
            return None
        if kind == "text":
            return self.line.text()
        if kind in ("int", "float"):
            return parse_number(text, kind == "int")
        parts = [p for p in (s.strip() for s in text.strip("[]()").split(",")) if p]
        if self.shape.item is str:  # names, e.g. the Omniglot sets to merge (none: [])
            return parts
        try:
            values = [parse_number(p, self.shape.item is int) for p in parts]
        except ValueError as exc:
            raise ValueError(f"{exc} (separate the values with commas)") from None
        n = self.shape.length
        if n is not None and len(values) != n:
            raise ValueError(f"enter {n} values separated by commas")
        if not values:
            raise ValueError("enter at least one value")
        return values


class _SpinEditor(Editor):
    """A whole number in a spin box. The box is deliberately not clamped to the field's
    bounds: a value the user types outside them is shown red with the reason, rather than
    silently replaced by the nearest bound."""

    def __init__(self, shape: FieldShape) -> None:
        self.spin = QSpinBox()
        super().__init__(self.spin)
        non_negative = shape.low is not None and shape.low >= 0
        self.spin.setRange(0 if non_negative else -_INT32_MAX, _INT32_MAX)
        self.spin.setKeyboardTracking(False)
        self.spin.setAccelerated(True)
        line = self.spin.lineEdit()
        assert line is not None
        line.textEdited.connect(self.edited)
        self.spin.valueChanged.connect(self.committed)
        # A cleared box reverts on focus out without valueChanged: re-check it then too.
        self.spin.editingFinished.connect(self.committed)

    def show_value(self, value: Any) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(int(value))

    def parse(self) -> Any:
        return parse_number(self.spin.cleanText(), integer=True)


class _CheckEditor(Editor):
    def __init__(self) -> None:
        self.check = QCheckBox()
        super().__init__(self.check)
        self.check.toggled.connect(self.committed)

    def show_value(self, value: Any) -> None:
        with QSignalBlocker(self.check):
            self.check.setChecked(bool(value))

    def parse(self) -> Any:
        return self.check.isChecked()


class _ChoiceEditor(Editor):
    def __init__(self, choices: Sequence[Any]) -> None:
        self.combo = QComboBox()
        super().__init__(self.combo)
        for choice in choices:
            self.combo.addItem(str(choice), choice)
        self.combo.currentIndexChanged.connect(self.committed)

    def show_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0:  # a value this build does not list: show it rather than hide it
            self.combo.addItem(str(value), value)
            index = self.combo.count() - 1
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(index)

    def parse(self) -> Any:
        return self.combo.currentData()


def make_editor(shape: FieldShape, placeholder: str = "") -> Editor:
    """The editor for a field of ``shape``."""
    if shape.kind == "bool":
        return _CheckEditor()
    if shape.kind == "choice":
        return _ChoiceEditor(shape.choices)
    if (
        shape.kind == "int"
        and not shape.optional
        and (shape.high is None or shape.high <= _INT32_MAX)
    ):
        return _SpinEditor(shape)
    return _LineEditor(shape, placeholder)
