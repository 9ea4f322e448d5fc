"""Stored downsampled curves: every trial's metric series summarised as it is written, so that
a reader draws thousands of trials without reading their millions of rows.

A series of ``count`` values, in the order they were written, is cut into buckets of ``width``
consecutive values, ``width`` the smallest power of two with ``count <= MAX_BUCKETS * width``.
Each bucket keeps its lowest and its highest value with the steps where they were logged (the
earliest on a tie): a spike stays visible at any size. NaN (stored as NULL) counts only where
a bucket holds nothing else. When a growing series would need one bucket more than
:data:`MAX_BUCKETS`, neighbouring buckets merge in pairs and ``width`` doubles, so the summary
of the first ``count`` values is the same whether it was made row by row
(:class:`CurveBuilder`, the writer's) or at once (:func:`summarize`).

In the ``curves`` table (schema 3) one row per (trial, series name) holds ``count``,
``width``, the last finite value and its step, and ``buckets``: little-endian float64, four
per bucket (step of the low, low, step of the high, high): the values exactly as written.

A plot merges the stored buckets further, in powers of two, to what its width in pixels can
show (:func:`polylines`): all the trials' curves as one NaN-separated polyline.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Self

import numpy as np
import numpy.typing as npt

from metagui.core.history._rows import RowValues, StoredRow, columns_of

__all__ = [
    "MAX_BUCKETS",
    "Curve",
    "CurveBuilder",
    "backfill",
    "polylines",
    "store",
    "summarize",
    "summarize_rows",
]

MAX_BUCKETS = 128
"""At most this many buckets per stored curve: 4 KB a curve, 40 MB for 10,000 trials; a
faint curve of a plot 1,000 pixels wide gets a low and a high every 4 pixels."""
_DTYPE = np.dtype("<f8")
_UPSERT = (
    "INSERT INTO curves (trial_id, name, count, width, last_step, last_value, buckets) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trial_id, name) DO UPDATE SET "
    "count = excluded.count, width = excluded.width, last_step = excluded.last_step, "
    "last_value = excluded.last_value, buckets = excluded.buckets"
)


@dataclass(frozen=True, slots=True, eq=False)
class Curve(StoredRow):
    """The stored summary of one trial's series ``name``: ``buckets`` is a read-only
    ``(k, 4)`` float64 array of (step of the low, low, step of the high, high)."""

    trial_id: int
    name: str
    count: int
    width: int
    last_step: int | None
    last_value: float | None
    buckets: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[RowValues]) -> list[Self]:
        """Curves from ``curves`` rows of :attr:`COLUMNS` (as stored or as
        :meth:`CurveBuilder.row` makes them), ``buckets`` decoded from its blob."""
        frombuffer = np.frombuffer
        return [
            cls(
                int(trial_id),
                str(name),
                int(count),
                int(width),
                None if last_step is None else int(last_step),
                None if last_value is None else float(last_value),
                frombuffer(blob, dtype=_DTYPE).reshape(-1, 4),
            )
            for trial_id, name, count, width, last_step, last_value, blob in rows
        ]

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The curve as drawn at full stored resolution: each bucket's low and high, in step
        order (float64 steps and values)."""
        x, y, _ = polylines([self], MAX_BUCKETS)
        return x[:-1], y[:-1]


Curve.COLUMNS = columns_of(Curve)


class CurveBuilder:
    """A series' summary, kept up to date one value at a time (by the writer)."""

    __slots__ = ("buckets", "count", "last_step", "last_value", "width")

    def __init__(self) -> None:
        self.count = 0
        self.width = 1
        self.buckets: list[list[float]] = []
        self.last_step: int | None = None
        self.last_value: float | None = None

    @classmethod
    def from_curve(cls, curve: Curve) -> CurveBuilder:
        """Continue a stored summary (a trial that goes on logging in a new writer)."""
        builder = cls()
        builder.count, builder.width = curve.count, curve.width
        builder.buckets = [[float(v) for v in row] for row in curve.buckets]
        builder.last_step, builder.last_value = curve.last_step, curve.last_value
        return builder

    def add(self, step: int, value: float) -> None:
        index = self.count // self.width
        if index == MAX_BUCKETS:
            self._halve()
            index = self.count // self.width
        if index == len(self.buckets):
            self.buckets.append([step, value, step, value])
        else:
            bucket = self.buckets[index]
            if _better(value, bucket[1], lowest=True):
                bucket[0], bucket[1] = step, value
            if _better(value, bucket[3], lowest=False):
                bucket[2], bucket[3] = step, value
        self.count += 1
        if math.isfinite(value):
            self.last_step, self.last_value = step, value

    def _halve(self) -> None:
        merged = []
        for first, second in zip(self.buckets[::2], self.buckets[1::2], strict=False):
            # The second only if better: lower (higher), or a value where the first has none.
            low = second if _better(second[1], first[1], lowest=True) else first
            high = second if _better(second[3], first[3], lowest=False) else first
            merged.append([low[0], low[1], high[2], high[3]])
        if len(self.buckets) % 2:
            merged.append(list(self.buckets[-1]))
        self.buckets = merged
        self.width *= 2

    def blob(self) -> bytes:
        return np.asarray(self.buckets, dtype=_DTYPE).tobytes()

    def row(self, trial_id: int, name: str) -> tuple[object, ...]:
        """The ``curves`` row of this summary (the parameters of the writer's upsert)."""
        return (
            trial_id,
            name,
            self.count,
            self.width,
            self.last_step,
            self.last_value,
            self.blob(),
        )


def _better(value: float, than: float, *, lowest: bool) -> bool:
    """Whether ``value`` replaces ``than`` as a bucket's low (high): strictly lower (higher),
    or a number where ``than`` is NaN. NaN compares false, so it never replaces anything."""
    if value != value:
        return False
    return than != than or (value < than if lowest else value > than)


def summarize(steps: npt.ArrayLike, values: npt.ArrayLike) -> CurveBuilder:
    """The summary of a whole series at once (what :class:`CurveBuilder` would hold after
    adding these values one by one)."""
    s = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    builder = CurveBuilder()
    count = len(v)
    if count == 0:
        return builder
    width = 1
    while count > MAX_BUCKETS * width:
        width *= 2
    k = -(-count // width)
    pad = k * width - count
    vs = np.concatenate([v, np.full(pad, np.nan)]).reshape(k, width)
    ss = np.concatenate([s, np.zeros(pad)]).reshape(k, width)
    nan = np.isnan(vs)
    rows = np.arange(k)
    first_number = np.argmax(~nan, axis=1)  # 0 where the whole bucket is NaN
    low = np.argmin(np.where(nan, np.inf, vs), axis=1)
    low = np.where(np.isnan(vs[rows, low]), first_number, low)  # all +inf, or all NaN
    high = np.argmax(np.where(nan, -np.inf, vs), axis=1)
    high = np.where(np.isnan(vs[rows, high]), first_number, high)
    builder.count, builder.width = count, width
    builder.buckets = np.stack(
        [ss[rows, low], vs[rows, low], ss[rows, high], vs[rows, high]], axis=1
    ).tolist()
    finite = np.flatnonzero(np.isfinite(v))
    if finite.size:
        builder.last_step, builder.last_value = int(s[finite[-1]]), float(v[finite[-1]])
    return builder


def summarize_rows(
    conn: sqlite3.Connection,
    trial_id: int,
    name: str,
    steps: npt.ArrayLike,
    values: npt.ArrayLike,
) -> None:
    """Store the summary of a whole series (inside the caller's transaction)."""
    conn.execute(_UPSERT, summarize(steps, values).row(trial_id, name))


def backfill(conn: sqlite3.Connection) -> int:
    """Summarise every metric series already stored (for a history written before curves
    were kept), in one pass over the metrics in index order; return how many. Inside the
    caller's transaction."""
    rows = conn.execute(
        "SELECT trial_id, name, step, value FROM metrics ORDER BY trial_id, name, step, id"
    )
    done = 0
    batch: list[tuple[object, ...]] = []
    for (trial_id, name), series in groupby(rows, key=itemgetter(0, 1)):
        points = list(series)
        steps = [row[2] for row in points]
        values = [row[3] for row in points]  # None (a NaN written) becomes NaN
        batch.append(summarize(steps, values).row(trial_id, name))
        done += 1
        if len(batch) >= 1000:
            store(conn, batch)
            batch.clear()
    store(conn, batch)
    return done


def store(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Store :meth:`CurveBuilder.row` rows (inside the caller's transaction)."""
    conn.executemany(_UPSERT, rows)


def polylines(
    curves: Sequence[Curve], max_buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``curves`` as one polyline ``(x, y, starts)``: each curve's buckets merged in
    powers of two to at most ``max_buckets`` (each merged bucket keeps its low and its
    high), each bucket's low and high in step order, one NaN after each curve; ``starts[i]``
    is where curve ``i`` begins in ``x`` and ``y`` (float64 arrays)."""
    max_buckets = max(1, int(max_buckets))
    sizes = np.fromiter((len(c.buckets) for c in curves), dtype=np.int64, count=len(curves))
    if not len(curves) or not sizes.sum():
        return np.full(len(curves), np.nan), np.full(len(curves), np.nan), np.arange(len(curves))
    stacked = np.concatenate([c.buckets for c in curves])
    owner = np.repeat(np.arange(len(curves)), sizes)
    position = np.arange(len(stacked)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    # Each curve's merge factor: the smallest power of two that brings it under max_buckets.
    factor = np.ones(len(curves), dtype=np.int64)
    while np.any(-(-sizes // factor) > max_buckets):
        factor = np.where(-(-sizes // factor) > max_buckets, factor * 2, factor)
    group = position // np.repeat(factor, sizes)
    new = np.ones(len(stacked), dtype=bool)
    new[1:] = (owner[1:] != owner[:-1]) | (group[1:] != group[:-1])
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    lows = _pick(stacked[:, 1], seg, starts, lowest=True)
    highs = _pick(stacked[:, 3], seg, starts, lowest=False)
    lx, ly = stacked[lows, 0], stacked[lows, 1]
    hx, hy = stacked[highs, 2], stacked[highs, 3]
    swap = hx < lx
    first_x, first_y = np.where(swap, hx, lx), np.where(swap, hy, ly)
    second_x, second_y = np.where(swap, lx, hx), np.where(swap, ly, hy)
    # Two points per merged bucket, then a NaN after each curve.
    buckets_per_curve = np.bincount(owner[starts], minlength=len(curves))
    ends = np.cumsum(buckets_per_curve)  # merged buckets up to each curve's end
    total = 2 * len(starts) + len(curves)
    x = np.full(total, np.nan)
    y = np.full(total, np.nan)
    slot = 2 * np.arange(len(starts)) + owner[starts]  # curve i's separators come before
    x[slot], y[slot] = first_x, first_y
    x[slot + 1], y[slot + 1] = second_x, second_y
    curve_starts = 2 * (ends - buckets_per_curve) + np.arange(len(curves))
    return x, y, curve_starts


def _pick(values: np.ndarray, seg: np.ndarray, starts: np.ndarray, *, lowest: bool) -> np.ndarray:
    """Per segment, the index of its lowest (highest) value, the earliest on a tie; NaN only
    where the segment holds nothing else (then its first index)."""
    nan = np.isnan(values)
    key = np.where(nan, np.inf if lowest else -np.inf, values)
    best = (np.minimum if lowest else np.maximum).reduceat(key, starts)
    hits = np.flatnonzero((key == best[seg]) & ~nan)
    # The first hit of each segment (hits are in order, segments contiguous); a segment
    # without one (all NaN) keeps its first index.
    hit_seg = seg[hits]
    first = np.ones(len(hits), dtype=bool)
    first[1:] = hit_seg[1:] != hit_seg[:-1]
    picked = starts.copy()
    picked[hit_seg[first]] = hits[first]
    return picked
