"""What every strategy shares: the proposal and past-trial records, and checking a value
against its parameter. No Optuna or nevergrad here: this module is imported with the GUI."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from metagui.core.search_space import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
    lookup,
)

__all__ = [
    "AnyParam",
    "PastTrial",
    "PriorTrial",
    "Proposal",
    "SearchParam",
    "StrategyExhausted",
    "TrialState",
    "active_values",
    "check_base",
    "check_value",
    "float_top",
    "int_top",
    "quantiles",
    "snap",
]

TrialState = Literal["COMPLETE", "PRUNED", "FAILED"]
SearchParam = FloatParam | IntParam | CategoricalParam
AnyParam = FloatParam | IntParam | CategoricalParam | FixedParam


@dataclass(frozen=True)
class Proposal:
    """The settings of one trial, as a strategy proposed them."""

    number: int
    """0-based trial number within the study."""
    params: dict[str, Any]
    """Only the parameters that are active for this trial (dotted name -> value), in the
    search space's order; fixed parameters included."""


@dataclass(frozen=True)
class PastTrial:
    """A finished trial as the history store keeps it; what :meth:`Strategy.load` rebuilds
    a strategy from."""

    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    values: tuple[float, ...] | None = None
    """A trial of a multi-objective study: one value per objective (``value`` is the first);
    None in a single-objective study."""


@dataclass(frozen=True)
class PriorTrial:
    """A complete trial of an earlier, similar study (the experience pool), as a prior for
    the sampler: its settings mapped into this study's space, where its value stood within
    its own study, and how similar that study is to this one."""

    study: str
    """The name of the study it comes from."""
    number: int
    params: dict[str, Any]
    """Mapped into this study's search space (active parameters only)."""
    quantile: float
    """Its rank within its own study's complete trials, as a fraction: near 0 the best, near
    1 the worst (mid-ranks, so a study of one trial puts it at 0.5). Comparable across
    studies whatever their value scales."""
    similarity: float
    """Of its study to this one, in [0, 1]."""
    value: float | None = None
    """Its value, on its own study's scale (for reading; never compared across studies)."""

    @property
    def label(self) -> str:
        """``"study-name #12"``: how a seeded trial records where it came from."""
        return f"{self.study} #{self.number}"


class StrategyExhausted(RuntimeError):
    """``ask()`` on a strategy with nothing left to propose (a grid whose every combination
    was asked)."""


def float_top(param: FloatParam) -> float:
    """The highest value a stepped float range reaches: the last point of ``low + k * step``
    not above ``high``. Computed in decimals exactly as Optuna does, so Optuna never has to
    adjust (and warn about) the range itself."""
    if param.step is None:
        return param.high
    low, high, step = (Decimal(str(x)) for x in (param.low, param.high, param.step))
    return float((high - low) // step * step + low)


def int_top(param: IntParam) -> int:
    """The highest value ``low + k * step`` not above ``high``."""
    return (param.high - param.low) // param.step * param.step + param.low


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_value(param: AnyParam, value: Any) -> Any:
    """``value`` as parameter ``param`` takes it (an integral float becomes an int, a stepped
    float lands exactly on its grid point, a choice becomes the choice object itself); a
    ``ValueError`` naming the parameter and saying what is wrong otherwise."""
    where = f"parameter {param.name!r}"
    if isinstance(param, FixedParam):
        if value != param.value:
            raise ValueError(f"{where} is fixed at {param.value!r}, got {value!r}")
        return param.value
    if isinstance(param, CategoricalParam):
        for choice in param.choices:
            # bool is an int in Python: keep True and 1 apart
            if choice == value and isinstance(choice, bool) == isinstance(value, bool):
                return choice
        raise ValueError(f"{where}: {value!r} is not one of the choices {param.choices!r}")
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    if isinstance(param, IntParam):
        if value != int(value):
            raise ValueError(f"{where}: {value!r} is not an integer")
        number = int(value)
        if not param.low <= number <= param.high:
            raise ValueError(f"{where}: {number} is outside [{param.low}, {param.high}]")
        if (number - param.low) % param.step:
            raise ValueError(f"{where}: {number} is not on the grid {param.low} + k * {param.step}")
        return number
    real = float(value)
    if not param.low <= real <= param.high:
        raise ValueError(f"{where}: {real} is outside [{param.low}, {param.high}]")
    if param.step is not None:
        k = (real - param.low) / param.step
        if abs(k - round(k)) > 1e-8:
            raise ValueError(f"{where}: {real} is not on the grid {param.low} + k * {param.step}")
        return _grid_point(param, round(k))
    return real


def _grid_point(param: FloatParam, k: int) -> float:
    assert param.step is not None
    point = float(Decimal(str(param.low)) + k * Decimal(str(param.step)))
    return min(max(point, param.low), float_top(param))


def snap(param: SearchParam, value: Any) -> Any:
    """The valid value of ``param`` nearest to ``value`` (clipped into the range, rounded to
    the step): what an optimizer working in a continuous relaxation (nevergrad) proposed."""
    if isinstance(param, CategoricalParam):
        return check_value(param, value)
    if isinstance(param, IntParam):
        k = round((float(value) - param.low) / param.step)
        return min(max(param.low + k * param.step, param.low), int_top(param))
    clipped = min(max(float(value), param.low), param.high)
    if param.step is None:
        return clipped
    return _grid_point(param, round((clipped - param.low) / param.step))


def active_values(
    space: SearchSpace, values: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """The entries of ``values`` whose parameters are active, in the space's order, with
    the fixed parameters' values filled in. ``values`` must hold every active searched
    parameter; extra (inactive) entries are dropped."""
    out: dict[str, Any] = {}
    for param in space.params:
        if not space.active(param.name, out, base):
            continue
        if isinstance(param, FixedParam):
            out[param.name] = param.value
        elif param.name in values:
            out[param.name] = values[param.name]
    return out


def check_base(space: SearchSpace, base: dict[str, Any]) -> None:
    """Every condition on a setting that is not a search parameter must find that setting
    in ``base``; a ``ValueError`` naming the parameter otherwise."""
    names = set(space.names)
    for param in space.params:
        condition = param.condition
        if condition is None or condition.param in names:
            continue
        try:
            lookup(base, condition.param)
        except KeyError:
            raise ValueError(
                f"parameter {param.name!r} is conditional on {condition.param!r}, which is "
                "neither a search parameter nor one of the base settings"
            ) from None


def quantiles(values: list[float], direction: str) -> list[float]:
    """Each value's place within ``values`` as a fraction, 0 best and 1 worst under
    ``direction``: mid-ranks ``(rank + 0.5) / n`` (ties share their mean rank), so a study of
    one trial puts it at 0.5 and no trial sits at either end."""
    n = len(values)
    sign = -1.0 if direction == "maximize" else 1.0
    order = sorted(range(n), key=lambda i: sign * values[i])
    out = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        mid = (i + j) / 2
        for k in range(i, j + 1):
            out[order[k]] = (mid + 0.5) / n
        i = j + 1
    return out
