"""Pruning from experience: a running trial is compared, at its latest step, with the pool's
trials that ended well; decisions and reasons for both directions, the minimum number of
curves, step alignment, which pool trials count, and reading the pool from a real history."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from metagui.core.experience._pruning import ExperiencePruner, PoolCurve, pool_curves
from metagui.core.history import HistoryReader, HistoryWriter
from metagui.core.history._curves import MAX_BUCKETS
from metagui.core.reports import EvalResult, StepReport


def curve(
    study: str, number: int, value: float, points: Mapping[int, float], metric: str = "accuracy"
) -> PoolCurve:
    return PoolCurve.from_values(study, number, metric, value, points)


def accuracy_pool() -> list[PoolCurve]:
    """Two studies, three trials each, logged at steps 100 and 200; in each study the two
    with the best final accuracy ended well. At step 200 the good ones had 0.5, 0.6, 0.7 and
    0.8 (median 0.65); the one that ended badly in each had much less."""
    return [
        curve("a", 0, 0.6, {100: 0.3, 200: 0.5}),
        curve("a", 1, 0.7, {100: 0.4, 200: 0.6}),
        curve("a", 2, 0.2, {100: 0.1, 200: 0.1}),
        curve("b", 0, 0.9, {100: 0.5, 200: 0.7}),
        curve("b", 1, 0.95, {100: 0.6, 200: 0.8}),
        curve("b", 2, 0.3, {100: 0.1, 200: 0.15}),
    ]


def test_a_trial_below_the_median_of_the_good_pool_trials_is_pruned_with_the_reason() -> None:
    pruner = ExperiencePruner(accuracy_pool(), "maximize")
    assert pruner.reason({100: 0.3, 200: 0.41}) == (
        "experience pruner: at step 200 this trial's best validation accuracy so far, 0.41, "
        "is below 0.65, the median of 4 pool trials that ended well (from 2 similar studies) "
        "at that step"
    )


def test_a_trial_at_or_above_the_cut_off_goes_on() -> None:
    pruner = ExperiencePruner(accuracy_pool(), "maximize")
    assert pruner.reason({200: 0.66}) is None
    assert pruner.reason({200: 0.65}) is None  # as good as the median is good enough
    assert pruner.reason({200: 0.64}) is not None


def test_the_trials_best_so_far_is_compared_not_one_noisy_evaluation() -> None:
    pruner = ExperiencePruner(accuracy_pool(), "maximize")
    assert pruner.reason({100: 0.7, 200: 0.4}) is None


def test_minimize_prunes_above_the_cut_off() -> None:
    pool = [
        curve("a", 0, 0.5, {10: 2.0, 20: 1.0}, "mse"),
        curve("a", 1, 0.4, {10: 1.5, 20: 0.8}, "mse"),
        curve("b", 0, 5.0, {10: 9.0, 20: 8.0}, "mse"),  # ended badly: its study's worst
        curve("b", 1, 0.1, {10: 1.0, 20: 0.5}, "mse"),
        curve("b", 2, 0.2, {10: 1.2, 20: 0.6}, "mse"),
    ]
    pruner = ExperiencePruner(pool, "minimize", quantile=0.25, good_fraction=0.6)
    # Good: a's both, b's 1 and 2: 0.5, 0.6, 0.8, 1.0 at step 20. Counted from the worst, the
    # 0.25 quantile of errors is the 75th percentile: 0.85.
    assert pruner.reason({10: 1.1, 20: 0.84}) is None
    assert pruner.reason({10: 1.1, 20: 0.9}) == (
        "experience pruner: at step 20 this trial's best validation mse so far, 0.9, is above "
        "0.85, the cut-off for the best 75% of 4 pool trials that ended well (from 2 similar "
        "studies) at that step"
    )


def test_quantile_sets_how_demanding_the_pruner_is() -> None:
    pool = accuracy_pool()
    # At step 200 the good trials had 0.5, 0.6, 0.7, 0.8.
    assert ExperiencePruner(pool, "maximize", quantile=0.0).reason({200: 0.51}) is None
    assert ExperiencePruner(pool, "maximize", quantile=0.0).reason({200: 0.49}) is not None
    assert ExperiencePruner(pool, "maximize", quantile=1.0).reason({200: 0.79}) is not None
    assert ExperiencePruner(pool, "maximize", quantile=1.0).reason({200: 0.8}) is None


def test_no_trial_is_pruned_where_too_few_pool_curves_reached_the_step() -> None:
    pool = [
        *accuracy_pool(),
        # Only these trained to step 400, and only the first two of them ended well.
        curve("c", 0, 0.9, {200: 0.7, 400: 0.9}),
        curve("c", 1, 0.8, {200: 0.6, 400: 0.8}),
        curve("c", 2, 0.1, {200: 0.1, 400: 0.1}),
    ]
    pruner = ExperiencePruner(pool, "maximize", min_curves=3)
    assert pruner.reason({200: 0.3, 400: 0.3}) is None
    assert ExperiencePruner(pool, "maximize", min_curves=2).reason({200: 0.3, 400: 0.3}) == (
        "experience pruner: at step 400 this trial's best validation accuracy so far, 0.3, "
        "is below 0.85, the median of 2 pool trials that ended well (from 1 similar study) "
        "at that step"
    )
    # Nothing before any pool curve's first value either.
    assert pruner.reason({50: 0.0}) is None


def test_a_pool_curve_logged_at_other_steps_counts_with_its_best_value_before_the_step() -> None:
    pool = [
        curve("a", 0, 0.9, {100: 0.5, 200: 0.6}),
        curve("b", 0, 0.9, {150: 0.4, 250: 0.9}),  # at 200: 0.4, carried from step 150
        curve("c", 0, 0.9, {90: 0.7, 180: 0.3, 270: 0.9}),  # at 200: best so far, 0.7
        curve("d", 0, 0.9, {100: 0.9, 190: 0.95}),  # ended before 200: left out
        curve("e", 0, 0.9, {210: 0.99, 300: 0.99}),  # nothing by 200: left out
    ]
    pruner = ExperiencePruner(pool, "maximize")
    # 0.4, 0.6, 0.7: median 0.6 of three curves from three studies.
    assert pruner.reason({200: 0.61}) is None
    reason = pruner.reason({200: 0.59})
    assert reason is not None
    assert "is below 0.6, the median of 3 pool trials" in reason
    assert "(from 3 similar studies)" in reason


def test_only_the_pool_trials_that_ended_well_count() -> None:
    # Study "a"'s bad trials had high values early and ended badly; they must not raise the
    # bar. Ranks are within each study, so "b"'s best counts though its values are lower
    # than any of "a"'s.
    pool = [
        curve("a", 0, 0.9, {100: 0.5}),
        curve("a", 1, 0.2, {100: 0.95}),
        curve("a", 2, 0.1, {100: 0.99}),
        curve("a", 3, 0.85, {100: 0.55}),
        curve("b", 0, 0.4, {100: 0.2}),
        curve("b", 1, 0.3, {100: 0.1}),
    ]
    pruner = ExperiencePruner(pool, "maximize", good_fraction=0.5, min_curves=1)
    assert [(c.study, c.trial_number) for c in pruner.ended_well(pool)] == [
        ("a", 0),
        ("a", 3),
        ("b", 0),
    ]
    # The good ones at 100: 0.5, 0.55, 0.2: median 0.5. With every trial it would be 0.525.
    assert pruner.reason({100: 0.51}) is None
    reason = pruner.reason({100: 0.49})
    assert reason is not None and "the median of 3 pool trials" in reason
    # Ranked in the pruner's direction: minimizing, the other trials ended well.
    minimizing = ExperiencePruner(pool, "minimize", good_fraction=0.5, min_curves=1)
    assert [(c.study, c.trial_number) for c in minimizing.ended_well(pool)] == [
        ("a", 2),
        ("a", 1),
        ("b", 1),
    ]


def test_a_diverged_or_empty_trial_is_left_to_the_divergence_check() -> None:
    pruner = ExperiencePruner(accuracy_pool(), "maximize")
    assert pruner.reason({}) is None
    assert pruner.reason({100: 0.0, 200: math.nan}) is None
    assert ExperiencePruner([], "maximize").reason({200: 0.0}) is None


def test_bad_settings_and_mixed_metrics_are_refused() -> None:
    pool = accuracy_pool()
    with pytest.raises(ValueError, match="quantile"):
        ExperiencePruner(pool, "maximize", quantile=1.5)
    with pytest.raises(ValueError, match="good_fraction"):
        ExperiencePruner(pool, "maximize", good_fraction=0.0)
    with pytest.raises(ValueError, match="min_curves"):
        ExperiencePruner(pool, "maximize", min_curves=0)
    with pytest.raises(ValueError, match="direction"):
        ExperiencePruner(pool, "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="accuracy, mse"):
        ExperiencePruner([*pool, curve("m", 0, 1.0, {1: 1.0}, "mse")], "maximize")


def test_a_pool_curve_keeps_finite_values_in_step_order() -> None:
    made = curve("a", 3, 0.5, {20: 0.2, 10: 0.1, 30: math.nan, 40: math.inf})
    assert made.intermediate == ((10, 0.1), (20, 0.2))
    assert made.last_step == 20


# -- reading the pool from a history ------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Iterator[tuple[HistoryWriter, Path]]:
    path = tmp_path / "history.db"
    with HistoryWriter(path, flush_rows=10**9, flush_seconds=1e9) as writer:
        yield writer, path


def run_trial(
    writer: HistoryWriter,
    study: int,
    number: int,
    validation: Mapping[int, float],
    state: str = "COMPLETE",
    value: float | None = None,
    metric: str = "accuracy",
) -> int:
    """A trial recorded as the runner records one: a StepReport per step, with a validation
    result at the evaluation steps, then its end."""
    trial = writer.start_trial(study, number, {"inner_lr": 0.01 * (number + 1)})
    for step in range(1, max(validation) + 1):
        result = None
        if step in validation:
            result = EvalResult(metric, (0.2, validation[step]), (0.01, 0.02), 10)
        report = StepReport(step, max(validation), 1.0 / step, 0.5, validation=result)
        writer.add_step(trial, report)
    writer.finish_trial(trial, state, value)  # type: ignore[arg-type]
    return trial


def test_pool_curves_reads_the_complete_trials_validation_curves_up_to_the_cut_off(
    history: tuple[HistoryWriter, Path],
) -> None:
    writer, path = history
    spec = json.dumps({"taskset": {"family": "omniglot"}})
    a = writer.create_study("a", spec, "maximize", "tpe")
    b = writer.create_study("b", spec, "maximize", "tpe")
    other = writer.create_study("regression", spec, "minimize", "tpe")
    run_trial(writer, a, 0, {2: 0.4, 4: 0.6}, value=0.62)
    run_trial(writer, a, 1, {2: 0.3}, state="PRUNED")
    run_trial(writer, a, 2, {2: 0.5, 4: 0.7}, state="FAILED")
    excluded = run_trial(writer, a, 3, {2: 0.5, 4: 0.7}, value=0.7)
    writer.set_excluded(excluded, True)
    run_trial(writer, a, 4, {2: 0.45, 4: 0.65}, value=0.66)
    run_trial(writer, a, 5, {2: 0.9, 4: 0.95}, value=0.96)  # after the cut-off
    run_trial(writer, b, 0, {3: 0.2, 6: 0.8}, value=0.81)
    run_trial(writer, other, 0, {2: 1.5, 4: 0.5}, value=0.5, metric="mse")
    writer.flush()

    with HistoryReader(path) as reader:
        curves = pool_curves(reader, [a, b, other, 999], "accuracy", up_to={a: 4})
        assert curves == [
            PoolCurve("a", 0, "accuracy", 0.62, ((2, 0.4), (4, 0.6))),
            PoolCurve("a", 4, "accuracy", 0.66, ((2, 0.45), (4, 0.65))),
            PoolCurve("b", 0, "accuracy", 0.81, ((3, 0.2), (6, 0.8))),
        ]
        assert [(c.study, c.trial_number) for c in pool_curves(reader, [a], "accuracy")] == [
            ("a", 0),
            ("a", 4),
            ("a", 5),
        ]
        assert pool_curves(reader, [other], "mse") == [
            PoolCurve("regression", 0, "mse", 0.5, ((2, 1.5), (4, 0.5)))
        ]
        assert pool_curves(reader, [], "accuracy") == []


def test_pool_curves_reads_a_long_series_exactly(history: tuple[HistoryWriter, Path]) -> None:
    # More evaluations than a stored curve keeps one by one: read from the metric rows.
    writer, path = history
    study = writer.create_study("long", "{}", "maximize", "tpe")
    validation = {step: step / 1000 for step in range(1, 2 * MAX_BUCKETS + 2)}
    run_trial(writer, study, 0, validation, value=0.5)
    writer.flush()
    with HistoryReader(path) as reader:
        (read,) = pool_curves(reader, [study], "accuracy")
    assert read.intermediate == tuple(validation.items())
