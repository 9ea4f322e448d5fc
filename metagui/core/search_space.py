"""Search spaces: typed parameters over any setting of a ``TrainSpec``, by dotted path.

A parameter's ``name`` is the path of the setting it varies (``algorithm.inner_lr``,
``model.filters``, ``optimizer.name``...), so architecture and optimizer choices are ordinary
entries. A ``condition`` makes a parameter active only when another parameter (or a fixed
setting) takes one of the listed values, e.g. ``algorithm.inner_steps`` only for gradient-based
learners.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CategoricalParam",
    "Condition",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "Param",
    "PathError",
    "Scalar",
    "SearchSpace",
    "assign",
    "lookup",
]

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Condition(_Strict):
    """Active only when the setting ``param`` (a search parameter's name or any fixed setting's
    dotted path) has one of the values ``in``."""

    param: str = Field(..., min_length=1)
    in_: list[Scalar] = Field(..., alias="in", min_length=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    def holds(self, value: Any) -> bool:
        return value in self.in_


class _ParamBase(_Strict):
    # A dotted setting path; a decimal part indexes a list (``model.hidden_sizes.0``: the
    # width of the first hidden layer).
    name: str = Field(
        ...,
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$",
        description="the setting it sets, by its dotted path (list items by index)",
    )
    condition: Condition | None = None


class FloatParam(_ParamBase):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log")
        return self


class IntParam(_ParamBase):
    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError("step cannot be combined with log")
        return self


class CategoricalParam(_ParamBase):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check(self) -> CategoricalParam:
        if len({(type(c), c) for c in self.choices}) != len(self.choices):
            raise ValueError("choices must not repeat")
        return self


class FixedParam(_ParamBase):
    type: Literal["fixed"] = "fixed"
    value: Scalar | list[Scalar]


Param = Annotated[
    FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")
]


class SearchSpace(_Strict):
    """An ordered list of parameters; names are unique, conditions refer to parameters that
    come earlier in the list or to fixed settings (checked against the experiment)."""

    params: list[Param] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        seen: set[str] = set()
        for p in self.params:
            if p.name in seen:
                raise ValueError(f"parameter {p.name!r} appears twice")
            if p.condition is not None and p.condition.param == p.name:
                raise ValueError(f"parameter {p.name!r} cannot be conditional on itself")
            seen.add(p.name)
        return self

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str) -> FloatParam | IntParam | CategoricalParam | FixedParam:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def active(self, name: str, values: dict[str, Any], base: dict[str, Any]) -> bool:
        """Whether parameter ``name`` applies, given earlier ``values`` and the base settings
        (a nested dict of the experiment's fixed settings)."""
        p = self.get(name)
        if p.condition is None:
            return True
        key = p.condition.param
        if key in values:
            return p.condition.holds(values[key])
        if key in self.names:  # an inactive parameter: its dependants are inactive too
            return False
        return p.condition.holds(lookup(base, key))


class PathError(KeyError):
    """A dotted path that leads nowhere in the data; ``str()`` says where it stops and why."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def lookup(data: Any, dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; a decimal part indexes a list (``params.0.low``).
    :class:`PathError` (a ``KeyError``) when a level is missing."""
    node = data
    for part in dotted.split("."):
        node = _child(node, part)
    return node


def assign(data: Any, dotted: str, value: Any, *, create: bool = False) -> None:
    """``data["a"]["b"] = value`` for ``"a.b"`` (decimal parts index lists). With ``create``,
    missing or null mapping levels are created; otherwise every level must exist.
    :class:`PathError` when the path leads nowhere."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if create and isinstance(node, dict) and node.get(part) is None:
            node[part] = {}
        node = _child(node, part)
    last = parts[-1]
    if isinstance(node, list):
        _child(node, last)  # the index must exist: lists do not grow
        node[int(last)] = value
    elif isinstance(node, dict):
        if not create and last not in node:
            raise PathError(f"{last!r} is not a setting")
        node[last] = value
    else:
        raise PathError(f"{last!r}: the level above is a {type(node).__name__}, not a mapping")


def _child(node: Any, part: str) -> Any:
    if isinstance(node, list):
        if not (part.isascii() and part.isdecimal()):
            raise PathError(f"{part!r} is not an index of a list (0, 1, ...)")
        index = int(part)
        if index >= len(node):
            raise PathError(f"index {index} is out of range (the list has {len(node)} items)")
        return node[index]
    if isinstance(node, dict):
        if part not in node:
            raise PathError(f"{part!r} is not a setting")
        return node[part]
    raise PathError(f"{part!r}: the level above is a {type(node).__name__}, not a mapping")
