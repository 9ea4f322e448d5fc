"""A parsed filter evaluated against one trial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from metagui.core.search_space import PathError, lookup
from metagui.core.trial_filter._tree import (
    TRIAL_FIELDS,
    BoolOp,
    Literal,
    Name,
    Node,
    Not,
    Operand,
    Truth,
)

__all__ = ["FilterableTrial", "holds"]


class FilterableTrial(Protocol):
    """What a filter reads of a trial (:class:`~metagui.core.history.TrialRow` has it)."""

    @property
    def number(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def test_value(self) -> float | None: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def excluded(self) -> bool: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def notes(self) -> str | None: ...


_MISSING = object()
_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _equal(a: Any, b: Any) -> bool:
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "list":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _folded(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list | tuple):
        return tuple(_folded(v) for v in value)
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        comparable = _kind(left) == _kind(right) or None in (left, right)
        return comparable and not _equal(left, right)
    if op in ("in", "not in"):
        if isinstance(left, str) and isinstance(right, str):
            found = left in right
        elif isinstance(right, list | tuple):
            found = any(_equal(left, item) for item in right)
        else:
            return False
        return found if op == "in" else not found
    kind = _kind(left)
    return kind in ("number", "string") and kind == _kind(right) and _ORDER[op](left, right)


def _resolve(operand: Operand, trial: FilterableTrial, front: bool) -> Any:
    if isinstance(operand, Literal):
        return operand.value
    name = operand.name
    if name == "front":
        return front
    if name in TRIAL_FIELDS:
        value = getattr(trial, name)
        return tuple(value) if name == "tags" else value
    params = trial.params
    if name in params:
        return params[name]
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in params:
            try:
                return lookup(params[head], ".".join(parts[cut:]))
            except PathError:
                return _MISSING
    return _MISSING


def holds(node: Node, trial: FilterableTrial, front: bool = False) -> bool:
    """Whether ``trial`` passes ``node``; ``front``: whether it is on its study's Pareto front
    (the value of the name ``front``)."""
    if isinstance(node, BoolOp):
        test = all if node.op == "and" else any
        return test(holds(item, trial, front) for item in node.items)
    if isinstance(node, Not):
        return not holds(node.item, trial, front)
    if isinstance(node, Truth):
        value = _resolve(node.operand, trial, front)
        return value is not _MISSING and bool(value)
    left, right = _resolve(node.left, trial, front), _resolve(node.right, trial, front)
    if left is _MISSING or right is _MISSING:
        return False
    if Name("state") in (node.left, node.right):
        left, right = _folded(left), _folded(right)
    return _compare(node.op, left, right)
