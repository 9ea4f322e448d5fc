"""The Optuna side of strategies: samplers, distributions, define-by-run suggestions, and
past trials as ``FrozenTrial`` objects. Imported only when a strategy is built, so Optuna
stays out of the GUI's start-up."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import BaseSampler, CmaEsSampler
from optuna.trial import FrozenTrial, Trial, TrialState

from metagui.core.search_space import (
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
)
from metagui.core.strategies._common import (
    PastTrial,
    PriorTrial,
    SearchParam,
    float_top,
    int_top,
)

if TYPE_CHECKING:
    from metagui.core.experiment import StrategySpec

__all__ = [
    "cma_space",
    "create_study",
    "distribution",
    "frozen_trial",
    "last_finite",
    "make_sampler",
    "quiet_experimental",
    "resume_seed",
    "suggest",
]

WARM_START_MIN = 10
"""WS-CMA-ES starts from the best 10% of its source trials: fewer than 10 give it none."""

optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextmanager
def quiet_experimental() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning for a deliberate use of an experimental feature
    (QMCSampler, TPE's ``group``, CMA-ES ``source_trials``, PatientPruner); every other
    warning still surfaces."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


def distribution(param: SearchParam) -> BaseDistribution:
    """The Optuna distribution of a searched parameter (a stepped range ends at its last
    step, see :func:`float_top`)."""
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, float_top(param), log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return IntDistribution(param.low, int_top(param), log=param.log, step=param.step)
    return CategoricalDistribution(param.choices)


def suggest(trial: Trial, param: SearchParam) -> Any:
    """Ask ``trial`` for ``param``'s value (define-by-run)."""
    if isinstance(param, FloatParam):
        return trial.suggest_float(
            param.name, param.low, float_top(param), log=param.log, step=param.step
        )
    if isinstance(param, IntParam):
        return trial.suggest_int(
            param.name, param.low, int_top(param), log=param.log, step=param.step
        )
    return trial.suggest_categorical(param.name, param.choices)


_STATES = {"COMPLETE": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED, "FAILED": TrialState.FAIL}


def frozen_trial(
    past: PastTrial, space: SearchSpace, system_attrs: dict[str, Any] | None = None
) -> FrozenTrial:
    """``past`` as an Optuna trial. Its params must have been checked against ``space``.
    A complete trial without a finite value counts as failed; a pruned one takes its last
    finite intermediate value as its value, as ``Study.tell`` does. A trial of a
    multi-objective study (``past.values``) keeps its values; pruned, it has none."""
    params: dict[str, Any] = {}
    dists: dict[str, BaseDistribution] = {}
    for name, value in past.params.items():
        param = space.get(name)
        if not isinstance(param, FixedParam):
            params[name], dists[name] = value, distribution(param)
    state = _STATES[past.state]
    if past.values is not None:
        return _frozen_multi(past, state, params, dists, system_attrs)
    value = past.value
    if state == TrialState.COMPLETE and (value is None or not math.isfinite(value)):
        state, value = TrialState.FAIL, None
    elif state == TrialState.PRUNED:
        value = last_finite(past.intermediate)
    elif state == TrialState.FAIL:
        value = None
    return optuna.trial.create_trial(
        params=params,
        distributions=dists,
        value=value,
        state=state,
        intermediate_values={int(k): float(v) for k, v in past.intermediate.items()},
        system_attrs=system_attrs,
    )


def _frozen_multi(
    past: PastTrial,
    state: TrialState,
    params: dict[str, Any],
    dists: dict[str, BaseDistribution],
    system_attrs: dict[str, Any] | None,
) -> FrozenTrial:
    """A trial of a multi-objective study: complete with a finite value per objective, or
    without values (failed, pruned, or a value that cannot be ranked: failed). Without its
    intermediate values, as a live multi-objective study keeps none (TPE reads a pruned
    trial's as single-objective values)."""
    values = [float(v) for v in past.values or ()]
    if state == TrialState.COMPLETE and not all(math.isfinite(v) for v in values):
        state = TrialState.FAIL
    return optuna.trial.create_trial(
        params=params,
        distributions=dists,
        values=values if state == TrialState.COMPLETE else None,
        state=state,
        system_attrs=system_attrs,
    )


def last_finite(intermediate: dict[int, float]) -> float | None:
    """The value at the last reported step, if it is a finite number."""
    if not intermediate:
        return None
    value = intermediate[max(intermediate)]
    return float(value) if math.isfinite(value) else None


def cma_space(space: SearchSpace, base: dict[str, Any]) -> list[str]:
    """The parameters CMA-ES can model for every trial: numeric, not single-valued, and
    active whatever the other parameters are (no condition, or one on a base setting that
    holds)."""
    names = set(space.names)
    out = []
    for p in space.params:
        if not isinstance(p, FloatParam | IntParam):
            continue
        if (float_top(p) if isinstance(p, FloatParam) else int_top(p)) <= p.low:
            continue
        if p.condition is not None and (
            p.condition.param in names or not space.active(p.name, {}, base)
        ):
            continue
        out.append(p.name)
    return out


def _warm_cma(
    seed: int,
    spec: StrategySpec,
    names: list[str],
    sources: Sequence[FrozenTrial],
) -> CmaEsSampler:
    """CMA-ES started from the promising region of ``sources`` (WS-CMA-ES), restricted to the
    parameters in ``names``.

    Optuna's CMA-ES only accepts a source trial whose distributions equal its own search
    space exactly, and raises mid-``ask`` otherwise; with categorical or conditional
    parameters around, that space moves with the history. Pinning it to ``names`` (the
    always-active numeric parameters) and cutting the sources down to them keeps the two
    equal; the other parameters are sampled independently, as CMA-ES does for them anyway.
    """
    wanted = set(names)

    class PinnedCmaEsSampler(CmaEsSampler):
        def infer_relative_search_space(
            self, study: optuna.Study, trial: FrozenTrial
        ) -> dict[str, BaseDistribution]:
            space = super().infer_relative_search_space(study, trial)
            if not wanted <= set(space):  # a loaded trial lacked one: no model this time
                return {}
            return {k: space[k] for k in names}

    with quiet_experimental():
        return PinnedCmaEsSampler(
            seed=seed,
            n_startup_trials=spec.startup_trials,
            popsize=spec.population_size,
            warn_independent_sampling=False,
            source_trials=list(sources),
        )


def cma_sources(trials: Sequence[FrozenTrial], names: list[str]) -> list[FrozenTrial]:
    """Complete trials that set every parameter in ``names``, cut down to those."""
    out = []
    for t in trials:
        if t.state != TrialState.COMPLETE or not set(names) <= set(t.params):
            continue
        out.append(
            optuna.trial.create_trial(
                params={k: t.params[k] for k in names},
                distributions={k: t.distributions[k] for k in names},
                value=t.value,
            )
        )
    return out


class _FirstTrialQMCSampler(optuna.samplers.QMCSampler):
    """A QMC sampler whose search space is the first trial's, whether it finished or is still
    running.

    Optuna's takes the first finished trial's; while trials are in flight and none has
    finished, it takes the union of the running trials' spaces, which over a conditional
    space differs from the first trial's. Then a parallel Sobol search would leave the
    sequence a serial one follows. ``test_strategies_parallel`` checks that both propose
    the same trials.
    """

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if finished:
            return super().infer_relative_search_space(study, trial)
        running = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number
        ]
        if not running:
            return {}
        return dict(min(running, key=lambda t: t.number).distributions)


class _ContinuedQMCSampler(_FirstTrialQMCSampler):
    """A QMC sampler that picks its sequence up at point ``skip`` instead of the start.

    QMCSampler numbers its points with a counter in the live study, which a history does not
    hold: a resumed study would start the same scrambled sequence again and propose the
    first session's trials a second time. The counter is read through ``_find_sample_id``, a
    private method; ``test_strategies`` checks that a resumed Sobol search continues the
    uninterrupted sequence, so a change in Optuna shows up there.
    """

    def __init__(self, *, skip: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._skip = skip

    def _find_sample_id(
        self, study: optuna.Study, search_space: dict[str, BaseDistribution]
    ) -> int:
        return super()._find_sample_id(study, search_space) + self._skip


def resume_seed(seed: int, done: int) -> int:
    """The seed for the random draws of a study resumed after trial number ``done - 1``:
    derived from both, so that a resumed study does not replay the draws its first session
    made (random search would propose the same trials again)."""
    return int(np.random.SeedSequence([seed, done]).generate_state(1)[0])


def make_sampler(
    spec: StrategySpec,
    seed: int,
    space: SearchSpace,
    base: dict[str, Any],
    source_trials: Sequence[FrozenTrial] = (),
    resumed: int = 0,
    parallel: int = 1,
    prior: Sequence[tuple[PriorTrial, FrozenTrial]] = (),
    direction: Literal["minimize", "maximize"] = "minimize",
) -> BaseSampler:
    """The Optuna sampler behind strategy ``spec.name``; for grid, pso and de (whose
    proposals arrive as fixed parameters) a seeded random sampler that only fills in what an
    enqueued configuration leaves out. ``resumed``: the number of trials a resumed study
    has behind it (0 for a new study). ``parallel > 1``: trials run concurrently, so TPE
    treats the ones in flight as if they had the worst value (``constant_liar``).

    TPE is multivariate (it models how parameters interact, e.g. learning rate and inner
    steps) with ``group=True``: over a conditional space, plain multivariate TPE can only
    model the parameters every trial has and samples the rest independently; grouping
    models each set of parameters that occur together. The samplers that cannot model a
    conditional parameter (Sobol, GP, CMA-ES) or a categorical one (CMA-ES) sample it
    independently: by design here, so their per-trial warnings are turned off.

    ``prior``: the experience pool's trials (as frozen trials of this space, their values
    unset), which TPE and GP see beside the study's own (:class:`PriorSampler`; it seeds a
    sampler per trial from ``seed`` and the trial's number, so ``resumed`` does not matter
    there). The other samplers take the pool elsewhere (CMA-ES as source trials, PSO and DE
    as suggested points) or not at all (random, Sobol, grid, NSGA-II).
    """
    if prior and spec.name in ("tpe", "gp"):
        from metagui.core.strategies._prior import PriorSampler

        def inner(draws: int) -> BaseSampler:
            return make_sampler(spec, draws, space, base, parallel=parallel)

        return PriorSampler(inner, prior, direction, seed)
    samplers = optuna.samplers
    draws = resume_seed(seed, resumed) if resumed else seed
    with quiet_experimental():
        if spec.name == "sobol":
            # The scrambling seed stays: a resumed search continues the same sequence.
            qmc: dict[str, Any] = {
                "qmc_type": "sobol",
                "scramble": True,
                "seed": seed,
                "independent_sampler": samplers.RandomSampler(seed=draws),
                "warn_independent_sampling": False,
            }
            if resumed:
                # Every trial but the study's first took the next point of the sequence.
                return _ContinuedQMCSampler(skip=resumed - 1, **qmc)
            return _FirstTrialQMCSampler(**qmc)
        if spec.name == "tpe":
            return samplers.TPESampler(
                seed=draws,
                n_startup_trials=spec.startup_trials,
                multivariate=True,
                group=True,
                constant_liar=parallel > 1,
            )
        if spec.name == "gp":
            return samplers.GPSampler(
                seed=draws, n_startup_trials=spec.startup_trials, warn_independent_sampling=False
            )
        if spec.name == "cmaes":
            names = cma_space(space, base)
            sources = cma_sources(source_trials, names)
            if names and len(sources) >= WARM_START_MIN:
                return _warm_cma(draws, spec, names, sources)
            return samplers.CmaEsSampler(
                seed=draws,
                n_startup_trials=spec.startup_trials,
                popsize=spec.population_size,
                warn_independent_sampling=False,
            )
        if spec.name == "nsga2":
            if spec.population_size is None:
                return samplers.NSGAIISampler(seed=draws)
            return samplers.NSGAIISampler(seed=draws, population_size=spec.population_size)
    return samplers.RandomSampler(seed=draws)


def create_study(
    directions: Sequence[Literal["minimize", "maximize"]],
    sampler: BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """An in-memory study of one objective or (two directions or more) of several. Its name
    is fixed because Hyperband assigns trials to brackets by a hash of the study's name: a
    random one would make pruning differ between runs."""
    return optuna.create_study(
        directions=list(directions), sampler=sampler, pruner=pruner, study_name="metagui"
    )
