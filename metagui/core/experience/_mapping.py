"""A past trial's settings mapped into a new search space: what the experience pool's initial
design runs and what its prior shows the sampler. Pure functions, no Optuna."""

from __future__ import annotations

import math
from typing import Any

from metagui.core.search_space import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
)
from metagui.core.strategies._common import check_value, snap

__all__ = ["config_key", "map_params"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def map_params(
    params: dict[str, Any], space: SearchSpace, base: dict[str, Any]
) -> dict[str, Any] | None:
    """``params`` (a past trial's, dotted name -> value) as a configuration of ``space``, or
    None when it has none.

    Each parameter of ``space`` that is active (given the values mapped before it and the
    ``base`` settings) takes the past value: a number is clipped into the new range and
    rounded to its integers or step; a categorical value must be one of the new choices,
    else the whole configuration is skipped (None): there is no nearest choice. A fixed
    parameter takes its fixed value. A parameter the past trial did not have (new in this
    space, or inactive there) is left out, for the strategy to choose; so is a past value
    of the wrong kind (text for a number). A configuration left with nothing searched is
    None too: it says nothing about this space. Past parameters this space does not search
    are ignored. The result holds only active parameters, in the space's order."""
    out: dict[str, Any] = {}
    searched = 0
    for p in space.params:
        if not space.active(p.name, out, base):
            continue
        if isinstance(p, FixedParam):
            out[p.name] = list(p.value) if isinstance(p.value, list) else p.value
            continue
        if p.name not in params:
            continue
        value = params[p.name]
        if isinstance(p, CategoricalParam):
            try:
                out[p.name] = check_value(p, value)
            except ValueError:
                return None
        else:
            number = _number(value)
            if number is None:
                continue
            assert isinstance(p, FloatParam | IntParam)
            out[p.name] = snap(p, min(max(number, p.low), p.high))
        searched += 1
    return out if searched else None


def config_key(params: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """A hashable key of a configuration, for telling mapped configurations apart: two past
    trials that land on the same point of the new space are one configuration (``True`` and
    ``1`` stay apart)."""
    return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in params.items()))
