"""Ranges that a diverged trial cannot blow up (:func:`robust_range`, :func:`value_range`).
Pure numpy: no Qt, so the views' data parts use them and are tested without a GUI."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["OUTLIER_FENCE", "OUTLIER_FENCE_LOG", "as_array", "robust_range", "value_range"]

OUTLIER_FENCE = 10.0
"""How far beyond the bulk of the values (their interquartile range) a value may lie, in
widths of the bulk, before :func:`robust_range` calls it an outlier: further out, it would
squash the bulk into a twentieth of the view."""
OUTLIER_FENCE_LOG = 2.0
"""The same on a log axis, where one width of the bulk is already some decades."""
_QUARTILE_SAMPLE = 50_000


def robust_range(
    values: npt.ArrayLike, log: bool = False, margin: float = 0.05
) -> tuple[float, float] | None:
    """The range to show ``values`` over when a few of them are wild (a diverged trial's loss
    of 1e12): in view coordinates (log10 of the values when ``log``), or None when no value
    is finite (and positive, when ``log``).

    NaN and infinities are ignored, and so are zero and negative values under ``log``. The
    bulk of the rest is their interquartile range (of the log10 values under ``log``); a value
    more than :data:`OUTLIER_FENCE` (:data:`OUTLIER_FENCE_LOG`) bulk widths beyond it is an
    outlier, but never one within the bulk's own magnitude (a decade, on a log axis) of it.
    The range spans every other value, with ``margin`` of its width either side; a single
    value (or many equal ones) gets a small range around it."""
    t = np.asarray(values, dtype=float).ravel()
    if log:
        t = t[t > 0]  # NaN compares false: gone too
        t = np.log10(t)
    t = t[np.isfinite(t)]
    if t.size == 0:
        return None
    # Quartiles that are values, not interpolated towards an outlier next to them; of an even
    # sample of the values where there are many (long runs, many trials), for speed.
    sample = t[:: t.size // _QUARTILE_SAMPLE + 1]
    q1, q3 = (float(q) for q in np.quantile(sample, (0.25, 0.75), method="nearest"))
    if log:
        reach = max(OUTLIER_FENCE_LOG * (q3 - q1), 1.0)
    else:
        reach = max(OUTLIER_FENCE * (q3 - q1), abs(q1), abs(q3))
    inliers = t[(t >= q1 - reach) & (t <= q3 + reach)]
    low, high = (float(inliers.min()), float(inliers.max())) if inliers.size else (q1, q3)
    if low == high:  # one value, or many equal ones: a little room around it
        pad = 0.25 if log else abs(low) * 0.05 or 0.5
        return low - pad, high + pad
    pad = (high - low) * margin
    return low - pad, high + pad


def value_range(values: Sequence[float | None]) -> tuple[float, float] | None:
    """The objective values' span for colouring: their :func:`robust_range` without margin,
    so a diverged trial's value does not wash every other trial into one colour."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return robust_range(finite, margin=0.0)


def as_array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)
