"""Pruning from experience: stop a trial whose validation curve falls behind the curves of
the trials that ended well in similar past studies (the experience pool), at the same step.

The median and percentile pruners compare a trial only with the complete trials of its own
study, so they cannot prune anything until a few trials have finished. The pool's studies
trained on similar problems with the same metric, so their curves say from the first trial
what a run that ends well has reached by each step.

:func:`pool_curves` reads those curves from a history; :class:`ExperiencePruner` decides, with
the reason in words like the other pruners' (:mod:`metagui.core.strategies._pruners`).

Nothing here imports torch or Optuna.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from metagui.core.history import HistoryReader
    from metagui.core.history._rows import Direction

__all__ = ["ExperiencePruner", "PoolCurve", "pool_curves", "validation_series"]


def validation_series(metric: str) -> str:
    """The stored name of the per-step validation series of ``metric`` (``accuracy``,
    ``mse``): the value the runner reports to the pruner at each evaluation step (see
    :func:`metagui.core.history.step_metrics`)."""
    return f"val/{metric}"


@dataclass(frozen=True)
class PoolCurve:
    """One complete trial of a pool study: its final objective value and the validation
    ``metric`` it reported at each evaluation step."""

    study: str
    """The source study's name."""
    trial_number: int
    metric: str
    """``accuracy`` or ``mse``: the series is stored as ``val/<metric>``."""
    value: float
    """The trial's final objective value (what it is ranked by within its study)."""
    intermediate: tuple[tuple[int, float], ...]
    """(step, value) by increasing step, finite values only."""

    @classmethod
    def from_values(
        cls,
        study: str,
        trial_number: int,
        metric: str,
        value: float,
        intermediate: Mapping[int, float],
    ) -> PoolCurve:
        """From intermediate values by step, in any order; NaN and infinite values (a stored
        NaN, an evaluation that blew up) are left out."""
        points = tuple(
            (int(step), float(v)) for step, v in sorted(intermediate.items()) if math.isfinite(v)
        )
        return cls(study, trial_number, metric, float(value), points)

    @property
    def last_step(self) -> int | None:
        """The last step with a value, or None for an empty curve."""
        return self.intermediate[-1][0] if self.intermediate else None


def pool_curves(
    reader: HistoryReader,
    studies: Iterable[int],
    metric: str,
    *,
    up_to: Mapping[int, int] | None = None,
) -> list[PoolCurve]:
    """The validation curves of ``metric`` of the complete trials of the studies with ids
    ``studies``, by study then trial number: the metric of the new study's objective, so a
    study that was scored by another one contributes nothing.

    ``up_to`` maps a study id to the last trial number read from it (inclusive): a resumed
    study passes the numbers it recorded when it chose its pool, so that it reads the same
    curves even if a source study has run more trials since. A study not in ``up_to`` is
    read in full.

    Only trials that count are read: COMPLETE, not excluded by hand, with a finite value.
    Values come from the stored curves (one query per study), which hold every value exactly
    while a series has at most :data:`~metagui.core.history._curves.MAX_BUCKETS` of them;
    a longer series is read from its metric rows instead."""
    name = validation_series(metric)
    limits = up_to or {}
    out: list[PoolCurve] = []
    for study_id in studies:
        row = reader.study(study_id)
        if row is None:
            continue
        last = limits.get(study_id)
        counting = {
            t.id: t
            for t in reader.trials(study_id)
            if t.state == "COMPLETE"
            and not t.excluded
            and t.value is not None
            and math.isfinite(t.value)
            and (last is None or t.number <= last)
        }
        for curve in reader.curves(study_id, name, counting):
            trial = counting[curve.trial_id]
            assert trial.value is not None  # counting trials have one
            if curve.width == 1:
                # One value per bucket: its low and its high are the value, at its step.
                values = {int(step): float(v) for step, v in curve.buckets[:, :2].tolist()}
            else:
                values = {
                    r.step: r.value for r in reader.metrics(trial.id, name) if r.value is not None
                }
            out.append(PoolCurve.from_values(row.name, trial.number, metric, trial.value, values))
    return out


@dataclass(frozen=True)
class _Good:
    """A pool curve that ended well, ready to be read at any step: its steps and its best
    value up to each of them."""

    study: str
    steps: tuple[int, ...]
    best: tuple[float, ...]


class ExperiencePruner:
    """Stops a trial whose validation curve is worse, at its latest step, than a quantile of
    what the pool's trials that ended well had reached at that step.

    **Which pool trials count.** The best ``good_fraction`` of each source study's curves by
    final value (at least one per study), ranked within their own study: the studies solved
    different tasks, so a good trial of a hard task and one of an easy task both count,
    where one ranking of all the trials together would keep only the easy task's. They are
    ranked in this study's ``direction``: the pool shares its metric.

    **What is compared.** Raw values of the same metric at the same step, not values
    normalised per study: the pool is made of similar studies scored by the same metric
    (accuracy on episodes of the same shape is comparable), the reason then reads in the
    metric's own units, and normalising would need this study's own scale, which it does
    not know before its own trials complete, just when the pool is most useful.

    **At a step.** Each side's best value so far (up to and including the step), as the
    median pruner does for the trial: one noisy evaluation does not stop a trial, and the
    pool is held to the same measure. A pool curve logged at other steps counts with its
    best value at or before the step (a value carried forward is never better than what
    the curve had reached, so the cut-off never flatters the pool); a curve that ended
    before the step (a shorter training) or had no value yet by then is left out, since
    what it would have reached there is unknown.

    **Too few curves.** No trial is pruned where fewer than ``min_curves`` good curves have
    reached the step: a quantile of one or two curves is one trial's luck, and curves thin
    out at late steps, where a study that trained longer than the pool's would otherwise be
    judged by a single curve.

    ``quantile`` sets how demanding it is, counted from the worst of the good trials: with
    0.5 a trial must be as good as their median, with 0.25 as good as the worst quarter.
    """

    def __init__(
        self,
        curves: Sequence[PoolCurve],
        direction: Direction,
        quantile: float = 0.5,
        good_fraction: float = 0.5,
        min_curves: int = 3,
    ) -> None:
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be between 0 and 1, not {quantile}")
        if not 0.0 < good_fraction <= 1.0:
            raise ValueError(f"good_fraction must be above 0 and at most 1, not {good_fraction}")
        if min_curves < 1:
            raise ValueError(f"min_curves must be at least 1, not {min_curves}")
        metrics = {c.metric for c in curves}
        if len(metrics) > 1:
            raise ValueError(f"pool curves of different metrics: {', '.join(sorted(metrics))}")
        self.direction = direction
        self.quantile = quantile
        self.good_fraction = good_fraction
        self.min_curves = min_curves
        self.metric = metrics.pop() if metrics else None
        self._good = [self._prepared(c) for c in self.ended_well(curves)]

    def ended_well(self, curves: Sequence[PoolCurve]) -> list[PoolCurve]:
        """The curves that count: the best ``good_fraction`` of each study's (rounded up),
        by final value in this pruner's direction, the lower trial number on a tie."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        by_study: dict[str, list[PoolCurve]] = {}
        for curve in curves:
            by_study.setdefault(curve.study, []).append(curve)
        good: list[PoolCurve] = []
        for study_curves in by_study.values():
            ranked = sorted(study_curves, key=lambda c: (sign * c.value, c.trial_number))
            # Rounded up, past the float error of a product such as 0.1 * 30.
            good += ranked[: math.ceil(self.good_fraction * len(ranked) - 1e-9)]
        return good

    def _prepared(self, curve: PoolCurve) -> _Good:
        values = [v for _, v in curve.intermediate]
        best = accumulate(values, max if self.direction == "maximize" else min)
        return _Good(curve.study, tuple(s for s, _ in curve.intermediate), tuple(best))

    def reason(self, values: Mapping[int, float]) -> str | None:
        """Why a running trial that reported ``values`` (validation values by step) should
        stop now, or None. None as well where its latest value is NaN or infinite: the
        divergence check stops such a trial with its own reason."""
        if not values:
            return None
        step = max(values)
        if not math.isfinite(values[step]):
            return None
        finite = [v for v in values.values() if math.isfinite(v)]
        maximize = self.direction == "maximize"
        best = max(finite) if maximize else min(finite)
        at_step: list[float] = []
        studies: set[str] = set()
        for good in self._good:
            if not good.steps or good.steps[-1] < step:
                continue  # ended before this step
            index = bisect_right(good.steps, step) - 1
            if index < 0:
                continue  # no value yet by this step
            at_step.append(good.best[index])
            studies.add(good.study)
        n = len(at_step)
        if n < self.min_curves:
            return None
        q = self.quantile if maximize else 1.0 - self.quantile
        cut = float(np.quantile(np.asarray(at_step, dtype=float), q))
        if (best >= cut) if maximize else (best <= cut):
            return None
        label = f"validation {self.metric}" if self.metric else "validation value"
        if self.quantile == 0.5:
            which = "the median"
        else:
            which = f"the cut-off for the best {100 * (1 - self.quantile):g}%"
        trials = _count(n, "pool trial")
        sources = _count(len(studies), "similar study", "similar studies")
        return (
            f"experience pruner: at step {step} this trial's best {label} so far, {best:.4g}, "
            f"is {'below' if maximize else 'above'} {cut:.4g}, {which} of {trials} that ended "
            f"well (from {sources}) at that step"
        )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
