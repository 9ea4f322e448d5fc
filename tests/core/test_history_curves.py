"""Stored downsampled curves: the writer's row-by-row summary equals the summary made at once,
every bucket keeps its lowest and highest value (a spike stays visible), plots merge them to
their width without losing either, the writer keeps them with the rows, and a history written
before curves existed (schema 2, a file made by that code) is migrated with its curves."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from metagui.core.errors import MetaguiError
from metagui.core.history import SCHEMA_VERSION, HistoryReader, HistoryWriter, Watermark
from metagui.core.history._curves import MAX_BUCKETS, Curve, CurveBuilder, polylines, summarize

SCHEMA_2 = Path(__file__).parent / "data" / "history-schema2.sqlite"  # see history-schema2.md


def series(length: int, seed: int, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A loss-like series with NaN runs, infinities, one spike of 1e6 in the middle and, with
    ``ties``, many equal values."""
    rng = np.random.default_rng(seed)
    steps = np.arange(length) * 5
    values = np.exp(-np.arange(length) / 300) + rng.normal(0, 0.05, length)
    if ties:
        values = np.round(values, 2)
    if length > 10:
        values[rng.integers(0, length, length // 20)] = np.nan
        values[length // 3 : length // 3 + 7] = np.nan
        values[rng.integers(0, length)] = np.inf
        values[rng.integers(0, length)] = -np.inf
        values[length // 2] = 1e6
    return steps, values


def built(steps: np.ndarray, values: np.ndarray) -> CurveBuilder:
    builder = CurveBuilder()
    for step, value in zip(steps.tolist(), values.tolist(), strict=True):
        builder.add(step, value)
    return builder


def as_array(builder: CurveBuilder) -> np.ndarray:
    return np.asarray(builder.buckets, dtype=float).reshape(-1, 4)


LENGTHS = [0, 1, 7, MAX_BUCKETS - 1, MAX_BUCKETS, MAX_BUCKETS + 1, 2 * MAX_BUCKETS + 3, 3001]


@pytest.mark.parametrize("length", LENGTHS)
def test_the_row_by_row_summary_is_the_summary_made_at_once(length: int) -> None:
    steps, values = series(length, seed=length)
    one_by_one, at_once = built(steps, values), summarize(steps, values)
    assert (
        (one_by_one.count, one_by_one.width)
        == (at_once.count, at_once.width)
        == (
            length,
            max(1, 2 ** math.ceil(math.log2(max(length, 1) / MAX_BUCKETS))),
        )
    )
    np.testing.assert_array_equal(as_array(one_by_one), as_array(at_once))
    assert (one_by_one.last_step, one_by_one.last_value) == (at_once.last_step, at_once.last_value)


@pytest.mark.parametrize("length", LENGTHS[1:])
def test_every_bucket_keeps_its_lowest_and_highest_value_where_it_was(length: int) -> None:
    steps, values = series(length, seed=7 * length)
    summary = summarize(steps, values)
    buckets = as_array(summary)
    assert len(buckets) <= MAX_BUCKETS
    for i, (step_low, low, step_high, high) in enumerate(buckets):
        chunk = values[i * summary.width : (i + 1) * summary.width]
        chunk_steps = steps[i * summary.width : (i + 1) * summary.width]
        if np.isnan(chunk).all():
            assert math.isnan(low) and math.isnan(high) and step_low == chunk_steps[0]
            continue
        assert low == np.nanmin(chunk) and high == np.nanmax(chunk)
        assert step_low == chunk_steps[np.flatnonzero(chunk == low)[0]]  # the earliest
        assert step_high == chunk_steps[np.flatnonzero(chunk == high)[0]]
    if length > 10:  # the spike survives in its bucket
        assert buckets[(length // 2) // summary.width, 3] == 1e6
    finite = np.flatnonzero(np.isfinite(values))
    assert summary.last_value == values[finite[-1]] and summary.last_step == steps[finite[-1]]


def curve(trial_id: int, steps: np.ndarray, values: np.ndarray) -> Curve:
    summary = summarize(steps, values)
    return Curve.from_rows([summary.row(trial_id, "train/loss")])[0]


def test_polylines_merge_to_the_plot_width_keeping_each_low_and_high() -> None:
    lengths = [3001, 40, 0, 700, 1]
    curves = [curve(i, *series(n, seed=i)) for i, n in enumerate(lengths)]
    x, y, starts = polylines(curves, max_buckets=20)
    assert len(starts) == len(curves)
    ends = [*starts[1:], len(x)]
    for c, start, end in zip(curves, starts, ends, strict=True):
        xs, ys = x[start:end], y[start:end]
        assert math.isnan(xs[-1]) and math.isnan(ys[-1])  # one NaN after each curve
        xs, ys = xs[:-1], ys[:-1]
        assert len(xs) <= 2 * 20 and len(xs) == 2 * len(range(0, len(c.buckets), _factor(c, 20)))
        assert np.all(np.diff(xs) >= 0)  # each bucket's two points in step order
        stored = c.buckets.astype(float)
        if len(stored):
            assert np.nanmax(ys) == np.nanmax(stored[:, 3])  # the spike is still drawn
            assert np.nanmin(ys) == np.nanmin(stored[:, 1])
    # Wide enough for every stored bucket: the stored curve as it is.
    x, y, _ = polylines(curves[:1], max_buckets=MAX_BUCKETS)
    stored = curves[0].buckets.astype(float)
    assert set(zip(x[:-1:2].tolist(), y[:-1:2].tolist(), strict=True)) | set(
        zip(x[1:-1:2].tolist(), y[1:-1:2].tolist(), strict=True)
    ) == set(zip(stored[:, 0].tolist(), stored[:, 1].tolist(), strict=True)) | set(
        zip(stored[:, 2].tolist(), stored[:, 3].tolist(), strict=True)
    )


def _factor(c: Curve, max_buckets: int) -> int:
    factor = 1
    while -(-len(c.buckets) // factor) > max_buckets:
        factor *= 2
    return factor


# -- in the history ---------------------------------------------------------------------------


def stored_rows(path: Path, trial_id: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT step, value FROM metrics WHERE trial_id = ? AND name = ? ORDER BY step, id",
            [trial_id, name],
        ).fetchall()
    finally:
        conn.close()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)


def assert_curve_is_the_rows(path: Path, c: Curve) -> None:
    steps, values = stored_rows(path, c.trial_id, c.name)
    expected = summarize(steps, values)
    assert (c.count, c.width, c.last_step) == (expected.count, expected.width, expected.last_step)
    assert c.last_value == expected.last_value
    np.testing.assert_array_equal(c.buckets, np.asarray(expected.buckets))


def test_the_writer_keeps_each_metric_curve_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    steps, values = series(1500, seed=3)
    with HistoryWriter(path, flush_rows=10**9, flush_seconds=1e9) as writer:
        study = writer.create_study("s", "{}", "minimize", "random")
        trial = writer.start_trial(study, 0, {})
        for step, value in zip(steps[:900].tolist(), values[:900].tolist(), strict=True):
            writer.add_metrics(trial, step, {"train/loss": value, "val/mse": 2 * value})
            if step % 250 == 0:
                writer.flush()
    # A new writer goes on with the stored curve (a trial that continues after a restart).
    with HistoryWriter(path, flush_rows=97, flush_seconds=1e9) as writer:
        for step, value in zip(steps[900:].tolist(), values[900:].tolist(), strict=True):
            writer.add_metrics(trial, step, {"train/loss": value})
        writer.finish_trial(trial, "COMPLETE", value=0.5)
    with HistoryReader(path) as reader:
        assert reader.metric_names(study) == ["train/loss", "val/mse"]
        (loss,) = reader.curves(study, "train/loss")
        (mse,) = reader.curves(study, "val/mse", trial_ids=[trial])
        assert reader.curves(study, "val/mse", trial_ids=[]) == []
        assert reader.curves(study, "nothing") == []
        assert reader.learned(trial) == []
    assert loss.count == 1500 and mse.count == 900
    for c in (loss, mse):
        assert_curve_is_the_rows(path, c)


def test_a_first_look_without_series_skips_them(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with HistoryWriter(path) as writer:
        study = writer.create_study("s", "{}", "minimize", "random")
        trial = writer.start_trial(study, 0, {})
        for step in range(10):
            writer.add_metrics(trial, step, {"train/loss": 1.0 / (step + 1)})
            writer.add_learned(trial, step, {"inner_lr/head": 0.1})
        writer.flush()
        with HistoryReader(path) as reader:
            first = reader.changes_since(None, series=False)
            assert [t.id for t in first.trials] == [trial] and not first.metrics
            assert not first.learned and not first.more
            assert first.watermark.metric_id == 10 and first.watermark.learned_id == 10
            writer.add_metrics(trial, 10, {"train/loss": 0.01})
            writer.flush()
            later = reader.changes_since(first.watermark)
            assert [(m.step, m.value) for m in later.metrics] == [(10, 0.01)]
            assert reader.changes_since(Watermark(), series=False).watermark.metric_id == 11


def test_a_schema_2_history_is_migrated_with_its_curves(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA_2, path)
    before = _table_counts(path)
    with pytest.raises(MetaguiError, match="older"):
        HistoryReader(path)
    with HistoryReader(path, upgrade=True) as reader:
        (study,) = reader.studies()
        trials = reader.trials(study.id)
        assert [t.state for t in trials] == ["COMPLETE"] * 3 + ["PRUNED", "COMPLETE", "RUNNING"]
        assert trials[4].excluded and reader.artifacts(study.id)[0].path == "/nowhere/best.pt"
        assert reader.metric_names(study.id) == ["train/loss", "val/mse", "val/mse_ci95"]
        curves = reader.curves(study.id, "train/loss")
        assert [c.trial_id for c in curves] == [t.id for t in trials]
        for c in curves + reader.curves(study.id, "val/mse"):
            assert_curve_is_the_rows(path, c)
        long = curves[0]
        assert long.count == 700 and long.width == 8  # 88 buckets of 8 rows
        assert 333 in long.buckets[:, 2]  # the spike of step 333 is a bucket's high
        nan_tail = curves[4]  # NaN from step 30 on: the last finite value is step 29's
        assert nan_tail.last_step == 29 and np.isnan(nan_tail.buckets[-1, 1])
        assert len(reader.learned(trials[0].id)) == 14
    assert _table_counts(path) == before  # nothing lost
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            SCHEMA_VERSION,
        )
    finally:
        conn.close()
    # The migrated file goes on as any other: a writer adds to the running trial's curve.
    with HistoryWriter(path) as writer:
        writer.add_metrics(trials[5].id, 40, {"train/loss": 9.0})
        writer.finish_trial(trials[5].id, "COMPLETE", value=0.3)
    with HistoryReader(path) as reader:
        (last,) = reader.curves(study.id, "train/loss", trial_ids=[trials[5].id])
        assert last.count == 41 and last.last_value == 9.0
        assert_curve_is_the_rows(path, last)


def _table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("studies", "trials", "metrics", "learned", "artifacts")
        }
    finally:
        conn.close()
