"""One ask/tell interface over every search strategy and pruner.

Every strategy keeps an in-memory Optuna study. For the Optuna samplers (random, sobol, tpe,
gp, cmaes, nsga2) it is the search itself: ``study.ask()`` and one ``suggest_*`` call per
active parameter, in the space's order, so that conditional parameters work (define-by-run).
For grid, PSO and DE the proposals come from elsewhere (the enumerated grid, nevergrad) and
are handed to the study as an enqueued configuration: the study is then the ledger the
pruners read, so pruning works the same for every strategy.

The runner owns the loop; the history store is the record, and :meth:`Strategy.load`
rebuilds a strategy from it on resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from metagui.core.search_space import FixedParam, SearchSpace, lookup
from metagui.core.strategies._common import (
    PastTrial,
    PriorTrial,
    Proposal,
    StrategyExhausted,
    TrialState,
    active_values,
    check_base,
    check_value,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from metagui.core.experience import ExperiencePruner
    from metagui.core.experiment import PrunerSpec, StrategySpec
    from metagui.core.strategies._grid import Grid
    from metagui.core.strategies._nevergrad import NevergradSearch

__all__ = ["Strategy"]

_log = logging.getLogger(__name__)
PRIOR_POINTS = 10
"""How many of the pool's best configurations PSO and DE start from, without a population
size set."""
_STATE_NAMES: dict[str, TrialState] = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAILED"}


class Strategy:
    """Proposes trials and learns from their results; decides whether a running trial should
    be pruned.

    ``base`` is the experiment's fixed settings as a nested dict, for conditions on them.
    ``source_trials`` (CMA-ES only) are finished trials of an earlier, similar study that
    start CMA-ES in their promising region (WS-CMA-ES; it needs at least 10 complete ones).

    ``prior``: the experience pool's trials (mapped into ``space``, see
    :mod:`metagui.core.experience`), which the strategy learns from beside its own: TPE and
    GP see them as extra observations (:mod:`metagui.core.strategies._prior`); CMA-ES starts
    from their promising region (as source trials, valued by their quantile in their own
    study); PSO and DE get the best distinct ones as their first points; random, Sobol,
    grid and NSGA-II ignore them.

    ``experience_pruner``: prunes a running trial whose curve is worse than the pool's good
    trials' at the same step (:mod:`metagui.core.experience._pruning`), beside ``pruner``
    (either may stop a trial), whatever ``pruner`` is.

    ``directions``: with two or more, the search has as many objectives (a trial is told one
    value per objective; ``direction`` is the first's): the Optuna samplers search them
    together (NSGA-II, TPE and GP model them, random, Sobol and grid ignore values), and
    :attr:`front` replaces :attr:`best`. CMA-ES, PSO, DE and the pruners rank by one value:
    they are refused then.

    ``parallel``: how many trials the runner keeps in flight. Several proposals are then
    asked before the first result is told: TPE assumes the worst value for the trials in
    flight (``constant_liar``) so that it does not propose the same region to each of them,
    and nevergrad is told how many candidates are out at once.

    Not thread-safe: the runner's driver is its only user.
    """

    def __init__(
        self,
        space: SearchSpace,
        strategy: StrategySpec,
        pruner: PrunerSpec,
        direction: Literal["minimize", "maximize"],
        seed: int,
        base: dict[str, Any] | None = None,
        source_trials: Iterable[PastTrial] | None = None,
        parallel: int = 1,
        prior: Iterable[PriorTrial] = (),
        experience_pruner: ExperiencePruner | None = None,
        directions: Sequence[Literal["minimize", "maximize"]] = (),
    ) -> None:
        from metagui.core.strategies import _optuna, _pruners

        self.directions = tuple(directions) or (direction,)
        if self.multi_objective:
            _check_multi_objective(strategy, pruner, self.directions, direction)
        self.space = space
        self.spec = strategy
        self.pruner = pruner
        self.direction = direction
        self.seed = seed
        self.parallel = parallel
        self.experience_pruner = experience_pruner
        self.base: dict[str, Any] = base if base is not None else {}
        check_base(space, self.base)
        self._sources = [_optuna.frozen_trial(self._usable(t), space) for t in source_trials or ()]
        self._prior = self._prior_trials(prior)
        self._sources += [f for _, f in self._prior]
        sampler = _optuna.make_sampler(
            strategy,
            seed,
            space,
            self.base,
            self._sources,
            parallel=parallel,
            prior=self._prior,
            direction=direction,
        )
        self._study = _optuna.create_study(self.directions, sampler, _pruners.make_pruner(pruner))
        self._grid: Grid | None = None
        self._nevergrad: NevergradSearch | None = None
        if strategy.name == "grid":
            from metagui.core.strategies._grid import Grid

            self._grid = Grid(space, self.base, seed)
        elif strategy.name in ("pso", "de"):
            self._nevergrad = self._make_nevergrad(seed)
            self._nevergrad.suggest_points(self._prior_points())
        self._running: dict[int, optuna.trial.Trial] = {}
        self._intermediate: dict[int, dict[int, float]] = {}
        self._finished: dict[int, tuple[dict[str, Any], TrialState, float | None]] = {}
        self._values: dict[int, tuple[float, ...]] = {}  # a multi-objective complete trial's
        self._loaded: list[tuple[PastTrial, FrozenTrial]] = []
        self._next_number = 0
        self._asked = False

    def _prior_trials(self, prior: Iterable[PriorTrial]) -> list[tuple[PriorTrial, FrozenTrial]]:
        """The pool's trials as frozen trials of this space, valued by their quantile in their
        own study (on this study's direction: low is good when minimising); a trial whose
        settings do not fit this space is left out and logged."""
        from metagui.core.strategies._optuna import frozen_trial

        out = []
        for t in prior:
            value = t.quantile if self.direction == "minimize" else 1.0 - t.quantile
            try:
                past = self._usable(PastTrial(t.number, t.params, "COMPLETE", value), strict=True)
            except ValueError as exc:
                _log.info("pool trial %s: %s; not used", t.label, exc)
                continue
            out.append((t, frozen_trial(past, self.space)))
        return out

    def _prior_points(self) -> list[dict[str, Any]]:
        """The pool's best distinct configurations, best first (the best of each study
        before the second best of any), as many as a population holds."""
        from metagui.core.strategies._grid import combination_key

        size = self.spec.population_size or PRIOR_POINTS
        ranked = sorted(self._prior, key=lambda pf: (pf[0].quantile, -pf[0].similarity))
        points: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for t, _ in ranked:
            key = combination_key(self.space, t.params)
            if key not in seen:
                seen.add(key)
                points.append(t.params)
            if len(points) >= size:
                break
        return points

    def _make_nevergrad(self, seed: int) -> NevergradSearch:
        from metagui.core.strategies._nevergrad import NevergradSearch

        kind: Literal["pso", "de"] = "pso" if self.spec.name == "pso" else "de"
        return NevergradSearch(
            kind,
            self.space,
            self.base,
            seed,
            self.spec.population_size,
            self.direction,
            num_workers=self.parallel,
        )

    # -- proposing ------------------------------------------------------------------------

    def _waiting(self) -> bool:
        from optuna.trial import TrialState as OptunaState

        return bool(self._study.get_trials(deepcopy=False, states=(OptunaState.WAITING,)))

    def ask(self) -> Proposal:
        """The next trial's settings: an enqueued configuration first, then the strategy's.
        Raises :class:`StrategyExhausted` when a grid has no combination left."""
        from metagui.core.strategies._optuna import suggest

        proposed: dict[str, Any] | None = None
        if not self._waiting():
            if self._grid is not None:
                proposed = self._grid.next()
                if proposed is None:
                    raise StrategyExhausted(
                        f"grid search is done: all {self._grid.size} combinations were run"
                    )
            elif self._nevergrad is not None:
                proposed = self._nevergrad.propose()
            if proposed is not None:
                # The study's own sampler stays out of it: every value is fixed.
                self._study.enqueue_trial(proposed)
        trial = self._study.ask()
        self._asked = True
        params: dict[str, Any] = {}
        for p in self.space.params:
            if self.space.active(p.name, params, self.base):
                if isinstance(p, FixedParam):  # a copy: a list value is not shared
                    params[p.name] = list(p.value) if isinstance(p.value, list) else p.value
                else:
                    params[p.name] = suggest(trial, p)
        number = self._next_number
        self._next_number += 1
        if self._grid is not None:
            self._grid.mark([params])
        if self._nevergrad is not None:
            self._nevergrad.bind(number, params, proposed=proposed is not None)
        self._running[number] = trial
        self._intermediate[number] = {}
        return Proposal(number, params)

    def enqueue(self, params: dict[str, Any]) -> None:
        """Run ``params`` before anything the strategy proposes (warm start). Parameters that
        are inactive under these settings are dropped; searched parameters left out are
        chosen by the strategy. A configuration some trial already ran is not enqueued
        again. Raises ``ValueError`` naming every parameter that is unknown or whose value
        is invalid, and enqueues nothing then."""
        checked: dict[str, Any] = {}
        errors: list[str] = []
        names = set(self.space.names)
        for name, value in params.items():
            if name not in names:
                errors.append(f"{name!r} is not a parameter of this search space")
                continue
            try:
                checked[name] = check_value(self.space.get(name), value)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("cannot enqueue these settings: " + "; ".join(errors))
        kept = self._possibly_active(checked)
        self._study.enqueue_trial(kept, skip_if_exists=True)

    def retry(self, params: dict[str, Any]) -> None:
        """Run ``params`` (a trial's, whose worker was lost) again as the next proposal, even
        though a trial already had them."""
        self._study.enqueue_trial(self._possibly_active(params))

    def _possibly_active(self, values: dict[str, Any]) -> dict[str, Any]:
        """The searched entries of ``values`` that are not ruled out by a condition whose
        parameter is known (given, fixed, or a base setting)."""
        known: dict[str, Any] = {}
        ruled_out: set[str] = set()
        names = set(self.space.names)
        for p in self.space.params:
            c = p.condition
            if c is None:
                active = True
            elif c.param in known:
                active = c.holds(known[c.param])
            elif c.param in ruled_out:
                active = False
            elif c.param in names:  # not given: the strategy picks it, so it may hold
                active = True
            else:
                active = c.holds(lookup(self.base, c.param))
            if not active:
                ruled_out.add(p.name)
            elif isinstance(p, FixedParam):
                known[p.name] = p.value
            elif p.name in values:
                known[p.name] = values[p.name]
        return {k: v for k, v in known.items() if not isinstance(self.space.get(k), FixedParam)}

    @property
    def exhausted(self) -> bool:
        """Whether ``ask()`` has nothing left: only a grid whose every combination ran."""
        return self._grid is not None and self._grid.exhausted and not self._waiting()

    # -- running trials -------------------------------------------------------------------

    def _trial(self, proposal: Proposal) -> optuna.trial.Trial:
        try:
            return self._running[proposal.number]
        except KeyError:
            raise ValueError(f"trial {proposal.number} is not running") from None

    def report(self, proposal: Proposal, step: int, value: float) -> None:
        """An intermediate validation value of a running trial. A step reported twice keeps
        its first value."""
        trial = self._trial(proposal)
        seen = self._intermediate[proposal.number]
        if step in seen:
            return
        value = float(value)
        if not self.multi_objective:  # Optuna keeps no intermediate values of several
            trial.report(value, step)
        seen[step] = value

    def should_prune(self, proposal: Proposal) -> str | None:
        """``None``, or why the running trial should stop now. With any pruner but ``none``,
        a NaN or infinite latest value stops it ("diverged"), warm-up or not. ASHA and
        Hyperband never stop a trial before ``startup_trials`` trials completed (the other
        pruners handle that themselves)."""
        from optuna.trial import TrialState as OptunaState

        from metagui.core.strategies._pruners import diverged_reason, prune_reason

        trial = self._trial(proposal)
        values = self._intermediate[proposal.number]
        if not values:
            return None
        if self.pruner.name == "none":
            return self._experience_reason(values)
        step = max(values)
        diverged = diverged_reason(step, values[step])
        if diverged is not None:
            return diverged
        # Called even during start-up: successive halving records rung values as it goes.
        if not trial.should_prune():
            return self._experience_reason(values)
        if self.pruner.name in ("asha", "hyperband"):
            complete = self._study.get_trials(deepcopy=False, states=(OptunaState.COMPLETE,))
            if len(complete) < self.pruner.startup_trials:
                return self._experience_reason(values)
        frozen = next(t for t in self._study.get_trials(deepcopy=False) if t.number == trial.number)
        return prune_reason(self.pruner, self._study, frozen)

    def _experience_reason(self, values: dict[int, float]) -> str | None:
        pruner = self.experience_pruner
        return None if pruner is None else pruner.reason(values)

    def tell(self, proposal: Proposal, value: float | Sequence[float]) -> None:
        """The trial completed with objective ``value`` (a multi-objective search: one value
        per objective). A NaN or infinite value cannot be ranked: the trial counts as
        failed."""
        from optuna.trial import TrialState as OptunaState

        if self.multi_objective:
            self._tell_values(proposal, value)
            return
        if isinstance(value, Sequence):  # a NumPy or torch scalar is one value too
            raise ValueError(f"trial {proposal.number}: one objective, one value; got {value!r}")
        trial = self._finish(proposal)
        value = float(value)
        if not math.isfinite(value):
            self._study.tell(trial, state=OptunaState.FAIL)
            self._record(proposal, "FAILED", None)
            return
        self._study.tell(trial, value)
        self._record(proposal, "COMPLETE", value)

    def _tell_values(self, proposal: Proposal, value: float | Sequence[float]) -> None:
        from optuna.trial import TrialState as OptunaState

        values = tuple(value) if isinstance(value, Sequence) else (value,)
        if len(values) != len(self.directions):
            raise ValueError(
                f"trial {proposal.number}: {len(self.directions)} objectives, "
                f"{len(values)} value(s) told"
            )
        trial = self._finish(proposal)
        values = tuple(float(v) for v in values)
        if not all(math.isfinite(v) for v in values):
            self._study.tell(trial, state=OptunaState.FAIL)
            self._record(proposal, "FAILED", None)
            return
        self._study.tell(trial, list(values))
        self._values[proposal.number] = values
        self._record(proposal, "COMPLETE", values[0])

    def tell_pruned(self, proposal: Proposal, step: int | None, value: float | None) -> None:
        """The trial was stopped early (by :meth:`should_prune` or by hand); ``step`` and
        ``value`` are its last evaluation if it was not reported yet. Like Optuna, the trial
        keeps its last finite intermediate value as its value."""
        from optuna.trial import TrialState as OptunaState

        from metagui.core.strategies._optuna import last_finite

        if step is not None and value is not None:
            self.report(proposal, step, value)
        trial = self._finish(proposal)
        self._study.tell(trial, state=OptunaState.PRUNED)
        self._record(proposal, "PRUNED", last_finite(self._intermediate[proposal.number]))

    def tell_failed(self, proposal: Proposal) -> None:
        """The trial crashed (an exception, out of memory): no value."""
        from optuna.trial import TrialState as OptunaState

        trial = self._finish(proposal)
        self._study.tell(trial, state=OptunaState.FAIL)
        self._record(proposal, "FAILED", None)

    def _finish(self, proposal: Proposal) -> optuna.trial.Trial:
        trial = self._trial(proposal)
        del self._running[proposal.number]
        return trial

    def _record(self, proposal: Proposal, state: TrialState, value: float | None) -> None:
        self._finished[proposal.number] = (proposal.params, state, value)
        if self._nevergrad is not None:
            self._nevergrad.tell(proposal.number, value)

    # -- history --------------------------------------------------------------------------

    def _usable(self, past: PastTrial, strict: bool = False) -> PastTrial:
        """``past`` with only the parameters that fit this space and are active; a value
        that no longer fits (the space was edited since) is left out and logged, or, with
        ``strict``, raises ``ValueError``."""
        if past.state not in _STATE_NAMES.values():
            raise ValueError(
                f"trial {past.number}: a past trial is COMPLETE, PRUNED or FAILED, "
                f"not {past.state!r}"
            )
        checked: dict[str, Any] = {}
        for name, value in past.params.items():
            if name not in self.space.names:
                _log.info("trial %d: %r is no longer searched; ignored", past.number, name)
                continue
            try:
                checked[name] = check_value(self.space.get(name), value)
            except ValueError as exc:
                if strict:
                    raise
                _log.warning("trial %d: %s; ignored", past.number, exc)
        return PastTrial(
            number=past.number,
            params=active_values(self.space, checked, self.base),
            state=past.state,
            value=None if past.value is None else float(past.value),
            # a history read back from JSON may have its steps as strings
            intermediate={int(k): float(v) for k, v in past.intermediate.items()},
            values=None if past.values is None else tuple(float(v) for v in past.values),
        )

    def load(self, trials: Iterable[PastTrial]) -> None:
        """Rebuild the strategy's state from finished trials of this study (resume), before
        the first :meth:`ask`: the sampler and the pruners see them, a grid skips their
        combinations, and new trials are numbered from the highest loaded number + 1.

        The random draws of a resumed study are seeded from the seed and the number of
        trials behind it, so that it does not replay the draws of its first session; Sobol
        continues its sequence. Some samplers keep state in the trials of the live study,
        which a history does not hold: CMA-ES restarts, warm-started from the loaded trials
        (WS-CMA-ES); NSGA-II starts a new first generation; TPE and GP lose nothing. ASHA's
        rung records are rebuilt from the intermediate values; Hyperband's are not (they
        depend on the live study's bracket assignment), so it starts its rungs afresh."""
        from metagui.core.strategies._optuna import frozen_trial, make_sampler, resume_seed
        from metagui.core.strategies._pruners import rung_records

        if self._asked:
            raise RuntimeError("load() rebuilds a strategy before its first ask()")
        past = [self._usable(t) for t in sorted(trials, key=lambda t: t.number)]
        if not past:
            return
        if self.multi_objective:
            # Every trial as one of several objectives: a pruned or failed one without values,
            # and a complete one recorded with one value (the first objective's only) as a
            # trial without a result, which keeps its settings.
            past = [
                t
                if t.state == "COMPLETE"
                and t.values is not None
                and len(t.values) == len(self.directions)
                else PastTrial(
                    t.number,
                    t.params,
                    "FAILED" if t.state == "COMPLETE" else t.state,
                    None,
                    t.intermediate,
                    values=(),
                )
                for t in past
            ]
        frozen = [
            frozen_trial(t, self.space, rung_records(self.pruner, t.intermediate)) for t in past
        ]
        self._study.add_trials(frozen)
        self._loaded += zip(past, frozen, strict=True)
        for t, f in zip(past, frozen, strict=True):
            if self.multi_objective:
                if f.values is not None and f.state.name == "COMPLETE":
                    self._values[t.number] = tuple(f.values)
                first = None if f.values is None else f.values[0]
                self._finished[t.number] = (t.params, _STATE_NAMES[f.state.name], first)
                continue
            self._finished[t.number] = (t.params, _STATE_NAMES[f.state.name], f.value)
        self._next_number = max(self._next_number, past[-1].number + 1)
        self._study.sampler = make_sampler(
            self.spec,
            self.seed,
            self.space,
            self.base,
            self._sources + [f for _, f in self._loaded],
            resumed=self._next_number,
            parallel=self.parallel,
            prior=self._prior,
            direction=self.direction,
        )
        if self._grid is not None:
            self._grid.mark(t.params for t in past)
        if self._nevergrad is not None:
            self._nevergrad = self._make_nevergrad(resume_seed(self.seed, self._next_number))
            self._nevergrad.suggest_points(self._prior_points())
            # a pruned trial's value is its last finite intermediate value; failed: None
            self._nevergrad.load([(t.params, f.value) for t, f in self._loaded])

    # -- results --------------------------------------------------------------------------

    @property
    def study(self) -> optuna.Study:
        """The in-memory Optuna study (loaded and finished trials); for inspection."""
        return self._study

    @property
    def multi_objective(self) -> bool:
        """Whether the search has several objectives (see ``directions``)."""
        return len(self.directions) > 1

    @property
    def front(self) -> list[tuple[Proposal, tuple[float, ...]]]:
        """The complete trials so far (loaded ones included) that no other beats on every
        objective (the Pareto front, see :mod:`metagui.core.pareto`), with their values, by
        number. A single-objective search's front is its best trial(s)."""
        from metagui.core.pareto import pareto_front

        if self.multi_objective:
            done = sorted(self._values.items())
        else:
            done = [
                (number, (value,))
                for number, (_, state, value) in sorted(self._finished.items())
                if state == "COMPLETE" and value is not None
            ]
        on_front = pareto_front([values for _, values in done], self.directions)
        return [
            (Proposal(done[i][0], dict(self._finished[done[i][0]][0])), done[i][1])
            for i in on_front
        ]

    @property
    def best(self) -> tuple[Proposal, float] | None:
        """The best complete trial so far (loaded ones included) and its value; None in a
        multi-objective search, where no one trial is best (see :attr:`front`)."""
        if self.multi_objective:
            return None
        complete = [
            (value, number, params)
            for number, (params, state, value) in self._finished.items()
            if state == "COMPLETE" and value is not None
        ]
        if not complete:
            return None
        sign = -1.0 if self.direction == "maximize" else 1.0
        value, number, params = min(complete, key=lambda item: (sign * item[0], item[1]))
        return Proposal(number, dict(params)), value


def _check_multi_objective(
    strategy: StrategySpec,
    pruner: PrunerSpec,
    directions: tuple[str, ...],
    direction: str,
) -> None:
    """Refuse (``ValueError``) what cannot search several objectives; the experiment file's
    validation says the same to a user (see :class:`~metagui.core.experiment.ExperimentSpec`)."""
    from metagui.core.experiment import MULTI_OBJECTIVE_STRATEGIES

    if directions[0] != direction:
        raise ValueError(
            f"direction {direction!r} is not the first objective's ({directions[0]!r})"
        )
    if strategy.name not in MULTI_OBJECTIVE_STRATEGIES:
        raise ValueError(f"strategy {strategy.name} searches one objective")
    if pruner.name != "none":
        raise ValueError(f"the {pruner.name} pruner ranks trials by one value")
