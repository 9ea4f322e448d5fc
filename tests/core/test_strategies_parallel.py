"""Strategies with several trials in flight (``parallel``): proposals asked before any result
is told, results told out of order, lost trials run again; what the Ray executor relies on."""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_strategies import assert_in_space  # tests/core is on sys.path (rootdir import)

from metagui.core.experiment import STRATEGIES, PrunerSpec, StrategySpec
from metagui.core.search_space import (
    SearchSpace,
)
from metagui.core.strategies import (
    Proposal,
    Strategy,
    StrategyExhausted,
    grid_combinations,
)

MAML = {"param": "algorithm.name", "in": ["maml"]}
SPACE = SearchSpace.model_validate(
    {
        "params": [
            {"type": "categorical", "name": "algorithm.name", "choices": ["maml", "protonet"]},
            {"type": "float", "name": "algorithm.outer_lr", "low": 1e-4, "high": 0.1, "log": True},
            {
                "type": "int",
                "name": "algorithm.inner_steps",
                "low": 1,
                "high": 10,
                "step": 3,
                "condition": MAML,
            },
            {"type": "float", "name": "optimizer.weight_decay", "low": 0, "high": 1, "step": 0.25},
            {"type": "int", "name": "model.width", "low": 8, "high": 128, "log": True},
            {"type": "fixed", "name": "model.depth", "value": 3},
        ]
    }
)
# The same space without its condition: Optuna's Sobol sampler models a fixed space only.
FLAT = SearchSpace.model_validate(
    {"params": [p.model_dump() for p in SPACE.params if p.name != "algorithm.inner_steps"]}
)
# 2 x 3 maml combinations (inner steps x decay) + 3 protonet ones: 9, not a multiple of 4.
GRID = SearchSpace.model_validate(
    {
        "params": [
            {"type": "categorical", "name": "algorithm.name", "choices": ["maml", "protonet"]},
            {
                "type": "int",
                "name": "algorithm.inner_steps",
                "low": 1,
                "high": 2,
                "condition": MAML,
            },
            {"type": "float", "name": "optimizer.weight_decay", "low": 0, "high": 1, "step": 0.5},
            {"type": "fixed", "name": "model.depth", "value": 3},
        ]
    }
)
BASE: dict[str, Any] = {"model": {"depth": 3}, "algorithm": {"name": "maml"}}
PARALLEL = 4
ROUNDS = 3
TELL_ORDER = (3, 0, 2, 1)


def make(
    name: str, parallel: int = PARALLEL, seed: int = 0, space: SearchSpace = SPACE
) -> Strategy:
    # A start-up of one round: the model-based strategies model the later rounds.
    spec = StrategySpec(name=name, startup_trials=PARALLEL, population_size=4)
    return Strategy(space, spec, PrunerSpec(), "minimize", seed, BASE, parallel=parallel)


def objective(params: dict[str, Any]) -> float:
    """A bowl over both spaces (the grid has no learning rate)."""
    value = (math.log10(params.get("algorithm.outer_lr", 1e-2)) + 2) ** 2
    value += params["optimizer.weight_decay"] + params.get("algorithm.inner_steps", 0) / 10
    return value + (0.5 if params["algorithm.name"] == "protonet" else 0.0)


def key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def tell_out_of_order(strategy: Strategy, batch: list[Proposal]) -> None:
    """Tell a batch in :data:`TELL_ORDER`: complete, pruned (after two reports), failed,
    complete."""
    for i, index in enumerate(i for i in TELL_ORDER if i < len(batch)):
        p = batch[index]
        value = objective(p.params)
        outcome = i % 4
        if outcome == 1:
            strategy.report(p, 1, value * 2)
            strategy.report(p, 2, value * 1.5)
            strategy.tell_pruned(p, None, None)
        elif outcome == 2:
            strategy.tell_failed(p)
        else:
            strategy.tell(p, value)


def run_rounds(strategy: Strategy, rounds: int = ROUNDS) -> list[Proposal]:
    asked: list[Proposal] = []
    for _ in range(rounds):
        batch = [strategy.ask() for _ in range(PARALLEL)]
        asked += batch
        tell_out_of_order(strategy, batch)
    return asked


@pytest.mark.parametrize("name", STRATEGIES)
def test_asked_in_batches_and_told_out_of_order(name: str) -> None:
    strategy = make(name, space=GRID if name == "grid" else SPACE)
    rounds = 2 if name == "grid" else ROUNDS  # the grid has 9 combinations
    asked = run_rounds(strategy, rounds)
    assert [p.number for p in asked] == list(range(PARALLEL * rounds))
    for p in asked:
        assert_in_space(p.params, GRID if name == "grid" else SPACE, BASE)
    states = sorted(t.state.name for t in strategy.study.trials)
    per_round = ["COMPLETE", "COMPLETE", "FAIL", "PRUNED"]
    assert states == sorted(per_round * rounds)
    # The pruned trial of each round is the first proposal of its batch (TELL_ORDER[1]).
    first = strategy.study.trials[0]
    assert first.state.name == "PRUNED"
    assert first.value == pytest.approx(objective(asked[0].params) * 1.5)
    best = strategy.best
    assert best is not None
    complete = [p for i, p in enumerate(asked) if i % PARALLEL in (1, 3)]
    assert best[1] == min(objective(p.params) for p in complete)


def test_grid_hands_out_each_combination_once_with_four_in_flight() -> None:
    strategy = make("grid", space=GRID)
    every = {key(c) for c in grid_combinations(GRID, BASE)}
    assert len(every) == 9
    seen: list[tuple[Any, ...]] = []
    while True:
        batch = []
        for _ in range(PARALLEL):
            assert not strategy.exhausted, f"exhausted after {len(seen)} of 9 combinations"
            batch.append(strategy.ask())
            seen.append(key(batch[-1].params))
            if len(seen) == len(every):
                break
        # Exhausted as soon as the last combination is asked, its trial still running.
        assert strategy.exhausted == (len(seen) == len(every))
        tell_out_of_order(strategy, batch)
        if strategy.exhausted:
            break
    assert len(seen) == len(set(seen)) == len(every)
    assert set(seen) == every
    with pytest.raises(StrategyExhausted):
        strategy.ask()


def assert_parallel_proposes_as_serial(name: str, space: SearchSpace) -> None:
    """4 asked at a time (told out of order, with failures and pruning) = one at a time."""
    parallel = run_rounds(make(name, seed=3, space=space))
    serial_strategy = make(name, parallel=1, seed=3, space=space)
    serial = []
    for _ in range(PARALLEL * ROUNDS):
        p = serial_strategy.ask()
        serial.append(p)
        serial_strategy.tell(p, objective(p.params))
    assert [p.params for p in parallel] == [p.params for p in serial]
    # Not a constant sequence: the comparison above means something.
    assert len({p.params["algorithm.outer_lr"] for p in serial}) == len(serial)


@pytest.mark.parametrize(("name", "space"), [("random", SPACE), ("sobol", FLAT)])
def test_non_adaptive_proposals_do_not_depend_on_what_is_in_flight(
    name: str, space: SearchSpace
) -> None:
    assert_parallel_proposes_as_serial(name, space)


def test_sobol_over_a_conditional_space_does_not_depend_on_what_is_in_flight() -> None:
    assert_parallel_proposes_as_serial("sobol", SPACE)


def _constant_liar(strategy: Strategy) -> bool:
    # ``_constant_liar`` is a private attribute of Optuna's TPESampler (optuna 5): if a new
    # Optuna renames it, this test must be updated, not silently skipped.
    sampler = strategy.study.sampler
    assert type(sampler).__name__ == "TPESampler", type(sampler)
    if not hasattr(sampler, "_constant_liar"):
        pytest.fail("Optuna's TPESampler has no _constant_liar any more: update this test")
    return bool(sampler._constant_liar)


def _num_workers(strategy: Strategy) -> int:
    # ``Strategy._nevergrad._optimizer`` is metagui's; ``num_workers`` is nevergrad's public
    # attribute of an optimizer.
    search = strategy._nevergrad
    assert search is not None
    return int(search._optimizer.num_workers)


def test_tpe_assumes_the_worst_for_trials_in_flight_only_when_parallel() -> None:
    assert _constant_liar(make("tpe", parallel=PARALLEL))
    # Optuna 5 makes constant_liar the default: a serial study must turn it off itself.
    assert not _constant_liar(make("tpe", parallel=1))
    # A resumed strategy rebuilds its sampler: it keeps the setting.
    history = make_history()
    resumed = make("tpe", parallel=PARALLEL)
    resumed.load(history)
    assert _constant_liar(resumed)
    serial = make("tpe", parallel=1)
    serial.load(history)
    assert not _constant_liar(serial)


@pytest.mark.parametrize("name", ["pso", "de"])
def test_nevergrad_is_told_how_many_candidates_are_out(name: str) -> None:
    assert _num_workers(make(name, parallel=PARALLEL)) == PARALLEL
    assert _num_workers(make(name, parallel=1)) == 1
    resumed = make(name, parallel=PARALLEL)
    resumed.load(make_history())
    assert _num_workers(resumed) == PARALLEL


def make_history() -> list[Any]:
    """Four finished trials of a random search, as a history holds them."""
    from metagui.core.strategies import PastTrial

    random = make("random", parallel=1, seed=9)
    out = []
    for _ in range(4):
        p = random.ask()
        random.tell(p, objective(p.params))
        out.append(PastTrial(p.number, p.params, "COMPLETE", objective(p.params)))
    return out


@pytest.mark.parametrize("name", STRATEGIES)
def test_retry_runs_settings_again_that_a_trial_already_ran(name: str) -> None:
    space = GRID if name == "grid" else SPACE
    strategy = make(name, space=space)
    batch = [strategy.ask() for _ in range(PARALLEL)]
    lost = batch[1]
    strategy.tell_failed(lost)
    strategy.tell(batch[0], objective(batch[0].params))
    strategy.retry(lost.params)
    again = strategy.ask()
    assert again.params == lost.params
    assert again.number == PARALLEL  # a new trial number
    # Only once: the proposal after it is the strategy's own again.
    assert strategy.ask().params != lost.params
    # enqueue(), unlike retry(), does not run settings a trial already had.
    strategy.enqueue(batch[0].params)
    assert strategy.ask().params != batch[0].params
