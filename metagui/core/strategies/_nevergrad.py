"""Particle swarm and differential evolution, from nevergrad, behind the strategy interface.

Nevergrad optimises a fixed-length vector, so every searched parameter that can be active
at all is in its parametrization and sampled for every trial; a trial reports only the
parameters that are active for it (a conditional parameter's value is simply unused when it
is inactive). Nevergrad minimises: a maximised objective is told negated.

Nevergrad works in a continuous relaxation; after rounding to steps and integers, and with
inactive coordinates ignored, two of its points are often the same configuration. A point
that repeats a finished trial is told that trial's result straight away and another one is
asked: a repeated configuration would cost a whole training run and teach nothing.

What nevergrad is told for a trial that did not complete:
- pruned: its last finite intermediate value. It is what the trial scored when it was
  stopped, an honest (pessimistic, since training was cut short) score of that region.
- failed (or pruned before any finite value): the worst loss told so far, so that the
  swarm or population moves away from the region without a made-up penalty distorting its
  scale; nothing, if no trial has been told yet (nevergrad allows asked points that are
  never told).
"""

from __future__ import annotations

from typing import Any, Literal

import nevergrad as ng
import numpy as np

from metagui.core.search_space import (
    CategoricalParam,
    FloatParam,
    IntParam,
    SearchSpace,
    lookup,
)
from metagui.core.strategies._common import (
    SearchParam,
    active_values,
    float_top,
    int_top,
    snap,
)
from metagui.core.strategies._grid import combination_key

MAX_REPEATS = 50
"""Repeated configurations skipped per ask before a repeat is accepted (a space with fewer
configurations than that may have none left)."""

__all__ = ["NevergradSearch"]


def _single_value(param: SearchParam) -> Any | None:
    """The only value of a parameter whose range is one point, else ``None``."""
    if isinstance(param, FloatParam) and float_top(param) <= param.low:
        return param.low
    if isinstance(param, IntParam) and int_top(param) <= param.low:
        return param.low
    return None


def never_active(space: SearchSpace, base: dict[str, Any]) -> set[str]:
    """Parameters whose condition is on a base setting that does not hold (or on such a
    parameter): inactive in every trial."""
    names = set(space.names)
    out: set[str] = set()
    for p in space.params:
        c = p.condition
        if c is None:
            continue
        if c.param in names:
            if c.param in out:
                out.add(p.name)
        elif not c.holds(lookup(base, c.param)):
            out.add(p.name)
    return out


def _ng_param(param: SearchParam) -> Any:
    if isinstance(param, CategoricalParam):
        return ng.p.Choice(list(param.choices))
    top = float_top(param) if isinstance(param, FloatParam) else int_top(param)
    if param.log:
        scalar = ng.p.Log(lower=param.low, upper=top)
    else:
        scalar = ng.p.Scalar(lower=param.low, upper=top)
    return scalar.set_integer_casting() if isinstance(param, IntParam) else scalar


class NevergradSearch:
    """A nevergrad optimizer (``pso``: ``ConfPSO``; ``de``: ``DifferentialEvolution`` with
    two-points crossover, i.e. nevergrad's ``TwoPointsDE``), asked and told per trial number."""

    def __init__(
        self,
        kind: Literal["pso", "de"],
        space: SearchSpace,
        base: dict[str, Any],
        seed: int,
        population_size: int | None,
        direction: Literal["minimize", "maximize"],
        num_workers: int = 1,
    ) -> None:
        self._space, self._base = space, base
        self._params: dict[str, SearchParam] = {}
        self._constants: dict[str, Any] = {}
        off = never_active(space, base)
        for p in space.params:
            if isinstance(p, FloatParam | IntParam | CategoricalParam) and p.name not in off:
                only = _single_value(p)
                if only is None:
                    self._params[p.name] = p
                else:
                    self._constants[p.name] = only
        self._sign = -1.0 if direction == "maximize" else 1.0
        self._pending: Any = None  # the candidate behind the last propose()
        self._candidates: dict[int, Any] = {}
        self._keys: dict[int, Any] = {}  # trial number -> its configuration
        self._results: dict[Any, float | None] = {}  # configuration -> loss (None: failed)
        self._worst: float | None = None
        self._optimizer: Any = None
        if not self._params:  # nothing to search: every trial is the same
            return
        parametrization = ng.p.Dict(**{k: _ng_param(p) for k, p in self._params.items()})
        parametrization.random_state = np.random.RandomState(seed)
        if kind == "pso":
            family: Any = ng.families.ConfPSO(popsize=population_size)
        else:
            family = ng.families.DifferentialEvolution(
                crossover="twopoints", popsize=population_size or "standard"
            )
        self._optimizer = family(parametrization, budget=None, num_workers=num_workers)

    def _values(self, candidate: Any) -> dict[str, Any]:
        value = candidate.value
        return {**{k: snap(p, value[k]) for k, p in self._params.items()}, **self._constants}

    def _key(self, values: dict[str, Any]) -> Any:
        return combination_key(self._space, active_values(self._space, values, self._base))

    def propose(self) -> dict[str, Any]:
        """A new point: every searched parameter (active or not), valid for its range, and
        not a configuration that already ran (unless nevergrad insists, see MAX_REPEATS)."""
        if self._optimizer is None:
            self._pending = None
            return dict(self._constants)
        for _ in range(MAX_REPEATS):
            self._pending = self._optimizer.ask()
            values = self._values(self._pending)
            key = self._key(values)
            if key not in self._results:
                return values
            loss = self._results[key]
            if loss is None:
                loss = self._worst
            if loss is not None:
                self._optimizer.tell(self._pending, loss)
        return values

    def suggest_points(self, points: list[dict[str, Any]]) -> None:
        """Start from ``points`` (the experience pool's best configurations, best first):
        nevergrad proposes them before points of its own, in this order. One that already
        ran is told its result instead (see :meth:`propose`)."""
        if self._optimizer is None:
            return
        # nevergrad hands out its suggestions last in, first out
        for params in reversed(points):
            self._optimizer.suggest(self._full(params))

    def _full(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` completed with freshly sampled values for the parameters it lacks,
        in nevergrad's own terms."""
        filler = self._optimizer.parametrization.sample().value
        return {k: params.get(k, filler[k]) for k in self._params}

    def bind(self, number: int, params: dict[str, Any], proposed: bool) -> None:
        """Trial ``number`` runs ``params``: the last proposal if ``proposed``, else a
        configuration enqueued by the user, which nevergrad is given as a suggestion."""
        if self._optimizer is None:
            return
        if not proposed:
            self._optimizer.suggest(self._full(params))
            self._pending = self._optimizer.ask()
        self._candidates[number] = self._pending
        self._keys[number] = self._key(params)
        self._pending = None

    def _loss(self, value: float | None) -> float | None:
        if value is None:
            return self._worst
        loss = self._sign * value
        self._worst = loss if self._worst is None else max(self._worst, loss)
        return loss

    def tell(self, number: int, value: float | None) -> None:
        """Trial ``number`` scored ``value`` (``None``: failed, see the module notes)."""
        candidate = self._candidates.pop(number, None)
        loss = self._loss(value)
        if number in self._keys:
            self._results[self._keys.pop(number)] = None if value is None else loss
        if candidate is not None and loss is not None:
            self._optimizer.tell(candidate, loss)

    def load(self, runs: list[tuple[dict[str, Any], float | None]]) -> None:
        """Tell nevergrad past trials it never asked: ``(params, value)`` pairs, ``None`` for
        a failed one (told after all the others, with the worst loss among them)."""
        if self._optimizer is None:
            return
        ordered = [r for r in runs if r[1] is not None] + [r for r in runs if r[1] is None]
        for params, value in ordered:
            loss = self._loss(value)
            self._results[self._key(params)] = None if value is None else loss
            if loss is None:
                continue
            point = self._optimizer.parametrization.spawn_child(new_value=self._full(params))
            self._optimizer.tell(point, loss)
