"""Optuna pruners from a ``PrunerSpec``, and a sentence saying why one pruned a trial.

Optuna decides; the reason is recomputed here from the same trials the pruner looked at
(complete trials' intermediate values at the step for median and percentile, the rung
records for successive halving), so that the user reads numbers, not just "pruned"."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from metagui.core.strategies._optuna import quiet_experimental

if TYPE_CHECKING:
    from metagui.core.experiment import PrunerSpec

__all__ = ["diverged_reason", "make_pruner", "prune_reason", "rung_records"]


def make_pruner(spec: PrunerSpec) -> BasePruner:
    """The Optuna pruner for ``spec``. The patient pruner waits ``patience`` evaluations
    without improvement and then defers to a median pruner; a threshold pruner without
    bounds only prunes diverged (NaN / infinite) values."""
    pruners = optuna.pruners
    name = spec.name
    if name == "median":
        return pruners.MedianPruner(
            n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_steps
        )
    if name == "percentile":
        return pruners.PercentilePruner(
            spec.percentile, n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_steps
        )
    if name == "asha":
        return pruners.SuccessiveHalvingPruner(
            min_resource=spec.min_resource, reduction_factor=spec.reduction_factor
        )
    if name == "hyperband":
        return pruners.HyperbandPruner(
            min_resource=spec.min_resource, reduction_factor=spec.reduction_factor
        )
    if name == "threshold":
        upper = spec.upper if spec.lower is not None or spec.upper is not None else math.inf
        return pruners.ThresholdPruner(
            lower=spec.lower, upper=upper, n_warmup_steps=spec.warmup_steps
        )
    if name == "patient":
        median = pruners.MedianPruner(
            n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_steps
        )
        with quiet_experimental():
            return pruners.PatientPruner(median, patience=spec.patience)
    return pruners.NopPruner()


def _better(a: float, b: float, direction: StudyDirection) -> bool:
    return a > b if direction == StudyDirection.MAXIMIZE else a < b


def _best(values: list[float], direction: StudyDirection) -> float:
    arr = np.asarray(values, dtype=float)
    return float(np.nanmax(arr) if direction == StudyDirection.MAXIMIZE else np.nanmin(arr))


def _values_at(study: optuna.Study, step: int) -> list[float]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t.intermediate_values[step] for t in complete if step in t.intermediate_values]


def _percentile_reason(
    label: str, keep: float, study: optuna.Study, trial: FrozenTrial, step: int
) -> str | None:
    """Why a trial's best value so far fell outside the best ``keep`` percent of the
    complete trials at ``step``, or ``None`` if it did not."""
    direction = study.direction
    others = _values_at(study, step)
    if not others:
        return None
    best = _best(list(trial.intermediate_values.values()), direction)
    q = 100 - keep if direction == StudyDirection.MAXIMIZE else keep
    cut = float(np.nanpercentile(np.asarray(others, dtype=float), q))
    if not _better(cut, best, direction):
        return None
    n = len(others)
    if label == "median":
        return (
            f"median pruner: this trial's best so far, {best:.4g}, is worse than {cut:.4g}, "
            f"the median of {n} completed trials at step {step}"
        )
    return (
        f"{label}: this trial's best so far, {best:.4g}, is not in the best {keep:g}% of "
        f"{n} completed trials at step {step} (cut-off {cut:.4g})"
    )


def _rung_reason(label: str, rf: int, study: optuna.Study, trial: FrozenTrial) -> str | None:
    """Why successive halving stopped a trial at its last rung."""
    rung = -1
    while f"completed_rung_{rung + 1}" in trial.system_attrs:
        rung += 1
    if rung < 0:
        return None
    key = f"completed_rung_{rung}"
    value = float(trial.system_attrs[key])
    step = trial.last_step
    if label != "ASHA":
        # Hyperband compares within the trial's bracket, which Optuna does not expose.
        return (
            f"{label} pruner: {value:.4g} at step {step} is not in the top 1/{rf} of the "
            f"trials of its bracket that reached rung {rung}"
        )
    values = [
        float(t.system_attrs[key])
        for t in study.get_trials(deepcopy=False)
        if key in t.system_attrs and t.number != trial.number
    ] + [value]
    keep = max(len(values) // rf, 1)
    ranked = sorted(values, reverse=study.direction == StudyDirection.MAXIMIZE)
    return (
        f"{label} pruner: {value:.4g} at step {step} is not in the top 1/{rf} ({keep} of "
        f"{len(values)}) of the trials that reached rung {rung} (cut-off {ranked[keep - 1]:.4g})"
    )


def _patient_reason(
    spec: PrunerSpec, study: optuna.Study, trial: FrozenTrial, step: int
) -> str | None:
    steps = sorted(trial.intermediate_values)
    window = spec.patience + 1
    if len(steps) <= window:
        return None
    before = [trial.intermediate_values[s] for s in steps[:-window]]
    after = [trial.intermediate_values[s] for s in steps[-window:]]
    direction = study.direction
    stalled = (
        f"patient pruner: the last {window} evaluations (best {_best(after, direction):.4g}) "
        f"did not improve on {_best(before, direction):.4g}"
    )
    median = _percentile_reason("median", 50.0, study, trial, step)
    return stalled if median is None else f"{stalled}; {median}"


def prune_reason(spec: PrunerSpec, study: optuna.Study, trial: FrozenTrial) -> str:
    """A sentence saying why ``spec``'s pruner stopped ``trial`` (just pruned in ``study``)."""
    step = trial.last_step
    assert step is not None, "a trial is pruned only after reporting a value"
    value = trial.intermediate_values[step]
    reason: str | None = None
    if spec.name == "median":
        reason = _percentile_reason("median", 50.0, study, trial, step)
    elif spec.name == "percentile":
        reason = _percentile_reason("percentile pruner", spec.percentile, study, trial, step)
    elif spec.name in ("asha", "hyperband"):
        label = "ASHA" if spec.name == "asha" else "Hyperband"
        reason = _rung_reason(label, spec.reduction_factor, study, trial)
    elif spec.name == "threshold":
        if spec.lower is not None and value < spec.lower:
            reason = f"threshold pruner: {value:.4g} at step {step} is below {spec.lower:g}"
        elif spec.upper is not None and value > spec.upper:
            reason = f"threshold pruner: {value:.4g} at step {step} is above {spec.upper:g}"
    elif spec.name == "patient":
        reason = _patient_reason(spec, study, trial, step)
    return reason or f"{spec.name} pruner: stopped at step {step} with value {value:.4g}"


def diverged_reason(step: int, value: float) -> str | None:
    """Why a trial whose latest value is NaN or infinite is stopped, or ``None``."""
    if math.isfinite(value):
        return None
    return f"diverged: the validation value at step {step} is {value}"


def rung_records(spec: PrunerSpec, intermediate: dict[int, float]) -> dict[str, float]:
    """What ASHA recorded on a trial that reported ``intermediate`` (one pruning check after
    each report): the value with which it reached each rung. A history does not keep these
    records, and without them a resumed ASHA would have no earlier trials to compare with.

    Hyperband's records depend on the bracket Optuna assigns to each trial of the live
    study, so a resumed Hyperband starts its rungs afresh."""
    if spec.name != "asha":
        return {}
    out: dict[str, float] = {}
    rung = 0
    for step in sorted(intermediate):
        value = intermediate[step]
        if not math.isfinite(value):  # a diverged trial is stopped before ASHA sees it
            break
        while step >= spec.min_resource * spec.reduction_factor**rung:
            out[f"completed_rung_{rung}"] = value
            rung += 1
    return out
