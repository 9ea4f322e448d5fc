"""``metagui bench --transfer`` at a tiny size (2 problems, 1 seed, 3 trials of 2
meta-iterations): every warm study learned from the pool it was meant to (and only that), ran
the pool's configurations first, and the figures are within their bounds. Timings and the
figures' values are never asserted: they are what the benchmark measures."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from metagui.core.bench_transfer import (
    PROBLEMS,
    UNRELATED,
    run_transfer_benchmark,
    transfer_spec,
)
from metagui.core.bench_transfer_figures import format_summary, transfer_figures, trials_to_reach
from metagui.core.history import HistoryReader


def test_trials_to_reach_counts_the_first_trial_whose_best_so_far_gets_there() -> None:
    values = [3.0, None, 2.5, math.nan, 1.0]
    assert trials_to_reach(values, 3.0, 5) == 1
    assert trials_to_reach(values, 2.5, 5) == 3
    assert trials_to_reach(values, 1.0, 5) == 5
    assert trials_to_reach(values, 1.0, 4) == 5  # only the first 4 count: never, 4 + 1
    assert trials_to_reach(values, 0.5, 5) == 6
    assert trials_to_reach([None, None], 1.0, 2) == 3


def test_every_problem_searches_the_same_space_and_a_warm_one_learns_only_from_its_pool() -> None:
    cold = [transfer_spec(p, seed=3, trials=30, iterations=100) for p in (*PROBLEMS, UNRELATED)]
    assert len({s.search_space.model_dump_json() for s in cold}) == 1
    # the space: inner and outer learning rates, inner steps and the MLP's width
    assert [p.name for p in cold[0].search_space.params] == [
        "algorithm.inner_lr",
        "optimizer.lr",
        "algorithm.inner_steps",
        "model.hidden_sizes.0",
        "model.hidden_sizes.1",
    ]
    widths = cold[0].trial_spec({"model.hidden_sizes.0": 96, "model.hidden_sizes.1": 16})
    assert widths.model.hidden_sizes == [96, 16]
    assert len({s.taskset.model_dump_json() for s in cold}) == len(cold)
    assert all(s.warm_start == [] and s.seed == 3 for s in cold)
    warm = transfer_spec(
        PROBLEMS[0], seed=3, trials=30, iterations=100, warm=True, exclude=["a"], min_similarity=0
    )
    assert warm.warm_start == "auto"
    assert (warm.experience.exclude, warm.experience.min_similarity) == (["a"], 0)
    # the same study otherwise: same trial seeds, same validation tasks
    assert warm.model_copy(update={"warm_start": [], "experience": cold[0].experience}) == cold[0]


@pytest.mark.slow
def test_a_tiny_run_learns_from_the_intended_pools(tmp_path: Path) -> None:
    problems = PROBLEMS[:2]
    trials = 3
    # The unrelated problem's inputs (x up to 50) make over half of the space's configurations
    # diverge whatever the width; three trials that all did would leave its pool empty. Its
    # inputs on the targets' range here: what is checked is which pool each study learns from.
    unrelated = replace(UNRELATED, x_range=(-5.0, 5.0))
    result = run_transfer_benchmark(
        seeds=1,
        trials=trials,
        iterations=2,
        problems=problems,
        unrelated=unrelated,
        negative_targets=1,
        folder=tmp_path,
    )
    assert (result["name"], result["seeds"], result["trials"]) == ("transfer", 1, trials)
    assert result["problems"] == [p.name for p in problems]
    assert {"transfer", "negative", "pairs", "negative_pairs", "wall_s", "cpu_s"} <= set(result)
    a, b = (p.name for p in problems)
    pairs = {p["target"]: p for p in result["pairs"]}
    assert set(pairs) == {a, b}
    for target, other in ((a, b), (b, a)):
        pair = pairs[target]
        assert pair["pool"] == [f"{other}-cold"]
        assert pair["first_seeded_from"].startswith(f"{other}-cold #")
        assert pair["seeded_trials"] >= 1
    (negative,) = result["negative_pairs"]
    assert negative["target"] == a and negative["pool"] == [f"{UNRELATED.name}-cold"]
    assert negative["first_seeded_from"].startswith(f"{UNRELATED.name}-cold #")
    for pair in (*result["pairs"], negative):
        assert 1 <= pair["trials_to_reach"] <= trials + 1
        assert 1 <= pair["cold_trials_to_best"] <= trials
        for key in ("cold_best", "warm_best", "cold_best_at_10", "warm_best_at_10"):
            assert pair[key] is not None and math.isfinite(pair[key]), key
        # the cold search's best is reached exactly when the warm one's best is no worse
        assert (pair["trials_to_reach"] <= trials) == (pair["warm_best"] <= pair["cold_best"])
    for part, count in (("transfer", 2), ("negative", 1)):
        figures = result[part]
        assert figures["pairs"] == count
        reach = figures["trials_to_reach"]
        assert 1 <= reach["q1"] <= reach["median"] <= reach["q3"] <= trials + 1
        assert 0 <= figures["never_reached"] <= count
        assert figures["best_final"]["warm_no_worse"] <= count
    # each seed's studies share one history, kept in the folder asked for
    with HistoryReader(tmp_path / "seed-0.sqlite") as reader:
        names = {s.name for s in reader.studies()}
    assert names == {
        f"{a}-cold",
        f"{b}-cold",
        f"{UNRELATED.name}-cold",
        f"{a}-warm",
        f"{b}-warm",
        f"{a}-warm-unrelated",
    }
    # the figures read back from the kept histories are the run's own
    again = transfer_figures(
        tmp_path, 1, trials, targets=[a, b], unrelated=UNRELATED.name, negative_targets=1
    )
    assert again == {k: result[k] for k in again}
    text = format_summary(result)
    assert "trials to reach" in text and "unrelated pool" in text
    # a second run into the same folder starts from empty histories
    second = run_transfer_benchmark(
        seeds=1,
        trials=2,
        iterations=1,
        problems=problems,
        unrelated=unrelated,
        negative_targets=0,
        folder=tmp_path,
    )
    assert second["negative"] is None and "unrelated pool" not in format_summary(second)
    with HistoryReader(tmp_path / "seed-0.sqlite") as reader:
        counts = {s.name: s.n_trials for s in reader.studies()}
    assert counts == {
        f"{a}-cold": 2,
        f"{b}-cold": 2,
        f"{UNRELATED.name}-cold": 2,
        f"{a}-warm": 2,
        f"{b}-warm": 2,
    }
