"""The names a filter knows, its error, and the small tree a filter is parsed into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metagui.core.errors import MetaguiError

__all__ = [
    "TRIAL_FIELDS",
    "BoolOp",
    "Compare",
    "FilterError",
    "Literal",
    "Name",
    "Node",
    "Not",
    "Operand",
    "Truth",
]

TRIAL_FIELDS: tuple[str, ...] = (
    "value",
    "test_value",
    "state",
    "number",
    "duration",
    "seed",
    "excluded",
    "tags",
    "notes",
    "front",
)
"""The names of a trial's own fields in a filter; every other name is a parameter. ``front``
is no field of the trial row: whether the trial is on its study's Pareto front, which the
caller knows (:meth:`TrialFilter.matches`)."""


class FilterError(MetaguiError):
    """A filter that cannot be read: the message starts with the column (from 1)."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


@dataclass(frozen=True)
class Literal:
    """A number, string, true/false, null, or a list of them (a tuple)."""

    value: Any


@dataclass(frozen=True)
class Name:
    """A trial field (:data:`TRIAL_FIELDS`) or a parameter by its dotted name."""

    name: str


Operand = Literal | Name


@dataclass(frozen=True)
class Compare:
    """Two operands compared: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Truth:
    """A bare operand as a condition: true when its value is."""

    operand: Operand


@dataclass(frozen=True)
class Not:
    """``not`` of a condition."""

    item: Node


@dataclass(frozen=True)
class BoolOp:
    """``and`` or ``or`` of two conditions or more."""

    op: str  # "and" or "or"
    items: tuple[Node, ...]


Node = Compare | Truth | Not | BoolOp
