"""A parameter's axis (linear, log or categorical, normalised to [0, 1]) from the search space
and the values seen, and how its numbers and names are written. No Qt."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metagui.qt._study_data import StudyData

__all__ = ["ParamAxis", "format_number", "param_axis", "search_axis", "short_names"]


def format_number(value: float) -> str:
    """A value as a researcher reads it: 4 significant digits, no trailing noise."""
    if value == 0:
        return "0"
    return f"{value:.4g}"


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Each dotted parameter name by its last part where that is unambiguous."""
    tails = [n.rsplit(".", 1)[-1] for n in names]
    return {n: t if tails.count(t) == 1 else n for n, t in zip(names, tails, strict=True)}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class ParamAxis:
    """One parameter's axis: numeric (linear or log) over ``low..high`` or categorical over
    ``choices``; :meth:`position` maps a value into [0, 1] (NaN where it does not apply)."""

    name: str
    categorical: bool
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    integer: bool = False

    def index(self, value: Any) -> int | None:
        for i, choice in enumerate(self.choices):
            if _same(choice, value):
                return i
        return None

    def position(self, value: Any) -> float:
        if value is None:
            return math.nan
        if self.categorical:
            i = self.index(value)
            if i is None:
                return math.nan
            return 0.5 if len(self.choices) == 1 else i / (len(self.choices) - 1)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return math.nan
        v, low, high = float(value), self.low, self.high
        if self.log:
            if v <= 0:
                return math.nan
            v, low, high = math.log10(v), math.log10(low), math.log10(high)
        if not math.isfinite(v):
            return math.nan
        return 0.5 if high == low else (v - low) / (high - low)

    def value_at(self, position: float) -> float:
        """The numeric value at ``position`` in [0, 1] (inverse of :meth:`position`)."""
        if self.log:
            low, high = math.log10(self.low), math.log10(self.high)
            return float(10 ** (low + position * (high - low)))
        return self.low + position * (self.high - self.low)

    def ticks(self) -> list[tuple[float, str]]:
        """Labelled positions along the axis: every choice, or low, middle and high."""
        if self.categorical:
            return [(self.position(c), str(c)) for c in self.choices]
        low, high = self.low, self.high
        if low == high:
            return [(0.5, format_number(low))]
        inner: list[float]
        if self.log:
            decades = range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1)
            inner = [10.0**d for d in decades]
        elif self.integer and high - low <= 8:
            inner = [float(v) for v in range(math.ceil(low), math.floor(high) + 1)]
        else:
            inner = [float(f"{(low + high) / 2:.2g}")]
        ticks: list[tuple[float, str]] = []
        for value in [low, high, *inner]:
            pos = self.position(value)
            if all(abs(pos - p) > 0.07 for p, _ in ticks):
                ticks.append((pos, f"{value:.3g}"))
        return sorted(ticks)


def param_axis(study: StudyData, name: str, values: Sequence[Any] | None = None) -> ParamAxis:
    """The axis of parameter ``name`` in ``study`` (:func:`search_axis`), over the values its
    trials took unless ``values`` are given."""
    if values is None:
        values = [t.params[name] for t in study.trials.values() if name in t.params]
    return search_axis(name, values, study.search_params())


def search_axis(
    name: str, values: Sequence[Any], search_params: Sequence[Mapping[str, Any]]
) -> ParamAxis:
    """The axis of parameter ``name``: its range in the search space ``search_params`` (the
    stored entries), widened to ``values`` so that every value lands in [0, 1], or, for a
    parameter the space does not list, the values' own."""
    entry = next((p for p in search_params if p.get("name") == name), None)
    numeric = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    kind = entry.get("type") if entry else None
    if kind == "categorical" or (kind is None and len(numeric) < len(values)):
        choices: list[Any] = list(entry.get("choices", [])) if entry else []
        for v in values:
            if not any(_same(c, v) for c in choices):
                choices.append(v)
        return ParamAxis(name, categorical=True, choices=tuple(choices))
    log = bool(entry and entry.get("log"))
    bounds = [float(entry[k]) for k in ("low", "high") if entry and entry.get(k) is not None]
    seen = [v for v in numeric + bounds if math.isfinite(v) and (v > 0 or not log)]
    integer = kind == "int" or (kind is None and all(isinstance(v, int) for v in values))
    if not seen:
        return ParamAxis(name, categorical=False, low=1.0 if log else 0.0, high=1.0, log=log)
    return ParamAxis(
        name, categorical=False, low=min(seen), high=max(seen), log=log, integer=integer
    )
