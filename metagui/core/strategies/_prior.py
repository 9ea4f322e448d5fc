"""The experience pool as a prior for Optuna's model-based samplers (TPE, GP): the pool's
trials shown to the sampler as extra observations beside the study's own.

Before each trial, :class:`PriorSampler` builds a scratch in-memory study holding the real
study's trials (every state, in order, so that trial numbers and ids match) followed by a
subset of the pool's trials, and lets a sampler made for this trial alone propose on it.

Normalisation. Pool trials come from other studies, whose values live on other scales (an
MSE of 0.3 on one task set is an MSE of 3 on another), so a pool trial enters with its place
in its own study (:attr:`PriorTrial.quantile`, 0 best, 1 worst) translated onto this study's
scale: the value at that quantile of this study's own complete values. Before this study has
two complete values it has no scale, so everything, its own complete trials included, is
shown by quantile (``q`` when minimising, ``1 - q`` when maximising). TPE and GP only use
the order of values (TPE) or standardise them (GP), so the translation keeps what matters: a
trial in the top tenth of its study counts as a top-tenth trial here.

Weight. A pool study of similarity ``s`` with ``n`` usable trials contributes
``round(n * s * K / (K + own))`` of them, ``own`` being this study's complete trials and
``K`` = :data:`PRIOR_HALF_LIFE`: a less similar study says less, and once this study has run
``K`` trials of its own the pool counts half as much, fading as its own evidence grows
(Optuna's samplers take no per-trial weights, so weight is how many trials are shown). The
subset is a prefix of a fixed, seeded random order of each study's trials: the trials kept
are a fair sample of that study (good and bad: TPE needs both), and as it shrinks the kept
trials only ever leave, never swap.

Determinism. The sampler behind each trial is made afresh, seeded from the study's seed and
the trial's number; with the pool read back from the history (its recorded extent) and the
study's trials loaded, a resumed study proposes exactly what it would have proposed had it
never stopped.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from metagui.core.strategies._common import PriorTrial, quantiles

__all__ = ["PRIOR_HALF_LIFE", "PriorSampler", "prior_subset", "prior_values"]

PRIOR_HALF_LIFE = 10
"""``K``: after this many complete trials of its own, a study gives the pool half its weight."""


def prior_subset(prior: Sequence[PriorTrial], own: int, seed: int) -> list[PriorTrial]:
    """The pool trials shown to the sampler when the study has ``own`` complete trials (see
    the module's docstring), study by study in the pool's order."""
    by_study: dict[str, list[PriorTrial]] = {}
    for t in prior:
        by_study.setdefault(t.study, []).append(t)
    kept: list[PriorTrial] = []
    for name, trials in by_study.items():
        ordered = sorted(trials, key=lambda t: t.number)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        order = rng.permutation(len(ordered))
        weight = trials[0].similarity * PRIOR_HALF_LIFE / (PRIOR_HALF_LIFE + own)
        count = round(len(ordered) * weight)
        kept += [ordered[i] for i in order[:count]]
    return kept


def prior_values(
    quantiles: Sequence[float],
    own_values: Sequence[float],
    direction: Literal["minimize", "maximize"],
) -> list[float]:
    """Pool trials' values on this study's scale, from their quantiles in their own studies:
    the value at that quantile of ``own_values`` (this study's complete values, best at
    quantile 0), or the quantile itself (``1 - q`` when maximising) while there are fewer
    than two own values."""
    if len(own_values) < 2:
        return [q if direction == "minimize" else 1.0 - q for q in quantiles]
    own = np.asarray(own_values, dtype=float)
    at = [q if direction == "minimize" else 1.0 - q for q in quantiles]
    return [float(v) for v in np.quantile(own, at)]


def _own_scale(
    own: list[FrozenTrial], direction: Literal["minimize", "maximize"]
) -> dict[int, float]:
    """The values the study's own complete trials are shown with while it has fewer than two
    (then the pool is on the quantile scale, see :func:`prior_values`): their mid-rank."""
    complete = [t for t in own if t.state == TrialState.COMPLETE and t.value is not None]
    if len(complete) >= 2:
        return {}
    places = quantiles([float(t.value) for t in complete], direction)  # type: ignore[arg-type]
    return {
        t.number: (q if direction == "minimize" else 1.0 - q)
        for t, q in zip(complete, places, strict=True)
    }


class PriorSampler(BaseSampler):
    """A sampler that sees the experience pool beside the study's own trials (see the
    module's docstring). ``make_inner(seed)`` makes the real sampler; ``prior`` holds the
    pool's trials as frozen trials of this space (their values are set here)."""

    def __init__(
        self,
        make_inner: Callable[[int], BaseSampler],
        prior: Sequence[tuple[PriorTrial, FrozenTrial]],
        direction: Literal["minimize", "maximize"],
        seed: int,
    ) -> None:
        self._make_inner = make_inner
        self._prior = list(prior)
        self._direction = direction
        self._seed = seed
        self._for: int | None = None  # the trial number the scratch study was built for
        self._scratch: optuna.Study | None = None
        self._inner: BaseSampler | None = None
        self.shown: list[PriorTrial] = []
        """The pool trials shown for the last trial (for inspection and tests)."""

    def _setup(self, study: optuna.Study, trial: FrozenTrial) -> tuple[optuna.Study, BaseSampler]:
        if self._for == trial.number and self._scratch is not None and self._inner is not None:
            return self._scratch, self._inner
        own = study.get_trials(deepcopy=False)
        complete = [t for t in own if t.state == TrialState.COMPLETE and t.value is not None]
        rescaled = _own_scale(own, self._direction)
        shown = prior_subset([p for p, _ in self._prior], len(complete), self._seed)
        keep = {(p.study, p.number) for p in shown}
        frozen = [(p, f) for p, f in self._prior if (p.study, p.number) in keep]
        own_values = [t.value for t in complete if t.value is not None]
        values = prior_values([p.quantile for p, _ in frozen], own_values, self._direction)
        seed = int(np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0])
        inner = self._make_inner(seed)
        scratch = optuna.create_study(direction=self._direction, sampler=inner)
        for t in own:
            if t.number in rescaled:
                t = optuna.trial.create_trial(
                    params=t.params,
                    distributions=t.distributions,
                    value=rescaled[t.number],
                    intermediate_values=t.intermediate_values,
                    system_attrs=t.system_attrs,
                )
            scratch.add_trial(t)
        for (_, f), value in zip(frozen, values, strict=True):
            scratch.add_trial(
                optuna.trial.create_trial(
                    params=f.params, distributions=f.distributions, value=value
                )
            )
        self._for, self._scratch, self._inner = trial.number, scratch, inner
        self.shown = [p for p, _ in frozen]
        return scratch, inner

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        scratch, inner = self._setup(study, trial)
        return inner.infer_relative_search_space(scratch, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        scratch, inner = self._setup(study, trial)
        params = inner.sample_relative(scratch, trial, search_space)
        # What the sampler noted on the trial (TPE's constant liar shares its relative
        # params with the trials asked after it) goes to the real study.
        noted = scratch._storage.get_trial(trial._trial_id).system_attrs
        for key, value in noted.items():
            if trial.system_attrs.get(key) != value:
                study._storage.set_trial_system_attr(trial._trial_id, key, value)
        return params

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        scratch, inner = self._setup(study, trial)
        return inner.sample_independent(scratch, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        if self._inner is not None and self._for == trial.number:
            self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._seed = int(np.random.SeedSequence([self._seed]).generate_state(1)[0])
