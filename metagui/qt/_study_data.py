"""What the app holds of one study: its trials, the full-resolution series of the few trials
someone looks at, and the stored downsampled curves of all the others.

A study of 10,000 trials has millions of metric rows; none of them is read to open it. The
views ask for what they draw: :meth:`StudyData.finished_curves` (every finished trial's
stored curve of one metric, a few kilobytes each, read once), ``metrics[trial_id]`` (one
trial's full series, read when first asked for, then followed live while it runs), and the
per-study answers that every view needs on every redraw (trials in order, the best, the
running ones), computed once per change of the trials.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload

from metagui.core.history import (
    FINISHED_STATES,
    Curve,
    Direction,
    MetricRow,
    Objective,
    StudySummary,
    TrialRow,
)
from metagui.core.pareto import front_trials

__all__ = ["Series", "SeriesSource", "StudyData", "TrialSeries"]

T = TypeVar("T")
KEEP_LOADED = 64
"""Full-resolution series of finished trials kept after they were read (the last looked at);
running trials' series are always kept."""


@dataclass
class Series:
    """A growing (step, value) series of one trial; ``last_id`` is the id of the last row in
    it, so that a row read twice (on demand, then by a poll) is added once."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    last_id: int = 0

    def append(self, step: int, value: float, time: float) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.times.append(time)

    def add(self, row: MetricRow) -> None:
        if row.id > self.last_id:
            self.append(row.step, row.value, row.time)
            self.last_id = row.id


class SeriesSource(Protocol):
    """Where a study's data comes from on demand (the :class:`HistoryModel`'s reader)."""

    def trial_series(self, kind: str, trial_id: int) -> list[MetricRow]: ...

    def study_curves(self, study_id: int, name: str, trial_ids: set[int] | None) -> list[Curve]: ...

    def study_metric_names(self, study_id: int) -> list[str]: ...


class TrialSeries:
    """The full-resolution series (``'metrics'`` or ``'learned'``) of a study's trials, by
    trial id, read from the history the first time a trial's are asked for.

    ``get(trial_id)`` and ``series[trial_id]`` give ``{name: Series}`` (None, resp. KeyError,
    for a trial with no rows). Trials that started while the app followed the history, and
    those read once, are kept up to date by the polls (:meth:`add`); of the finished ones only
    the :data:`KEEP_LOADED` read last stay in memory."""

    def __init__(self, kind: str, source: SeriesSource | None) -> None:
        self.kind = kind
        self._source = source
        self._loaded: OrderedDict[int, dict[str, Series]] = OrderedDict()
        self._live: set[int] = set()

    @overload
    def get(self, trial_id: int) -> dict[str, Series] | None: ...

    @overload
    def get(self, trial_id: int, default: T) -> dict[str, Series] | T: ...

    def get(self, trial_id: int, default: Any = None) -> Any:
        series = self._series(trial_id)
        return series if series else default

    def __getitem__(self, trial_id: int) -> dict[str, Series]:
        series = self._series(trial_id)
        if not series:
            raise KeyError(trial_id)
        return series

    def __contains__(self, trial_id: object) -> bool:
        return isinstance(trial_id, int) and bool(self._series(trial_id))

    def loaded(self) -> Iterator[int]:
        """The trials whose series are in memory now (none is read)."""
        return iter(list(self._loaded))

    def follow(self, trial_id: int) -> None:
        """Trial ``trial_id`` started after the history was first read: every row of it comes
        through :meth:`add`, none needs reading."""
        self._loaded.setdefault(trial_id, {})
        self._live.add(trial_id)

    def running(self, trial_id: int) -> None:
        """Keep this trial's series however many others are read (it is running)."""
        self._live.add(trial_id)

    def finished(self, trial_id: int) -> None:
        """The trial ended: its series may leave memory when others are read."""
        self._live.discard(trial_id)

    def add(self, row: MetricRow) -> bool:
        """Add a polled row to its trial's series if they are in memory; True if so."""
        series = self._loaded.get(row.trial_id)
        if series is None:
            return False
        named = series.get(row.name)
        if named is None:
            named = series[row.name] = Series()
        named.add(row)
        return True

    def _series(self, trial_id: int) -> dict[str, Series]:
        series = self._loaded.get(trial_id)
        if series is not None:
            self._loaded.move_to_end(trial_id)
            return series
        series = {}
        if self._source is not None:
            for row in self._source.trial_series(self.kind, trial_id):
                named = series.get(row.name)
                if named is None:
                    named = series[row.name] = Series()
                named.add(row)
        self._loaded[trial_id] = series
        self._evict()
        return series

    def _evict(self) -> None:
        kept = [tid for tid in self._loaded if tid not in self._live]
        for trial_id in kept[: max(0, len(kept) - KEEP_LOADED)]:
            del self._loaded[trial_id]


@dataclass(eq=False)
class StudyData:
    """One study: its summary, trials by id, per-trial series read on demand (``metrics``,
    ``learned``: see :class:`TrialSeries`) and stored curves (:meth:`finished_curves`).

    ``revision`` grows with every change of the study's data (a view redraws when it did);
    ``trials_revision`` only with changes of its trials. ``objectives``: a two-objective
    study's objectives as stored (empty for a study of one)."""

    summary: StudySummary
    spec: dict[str, Any] = field(default_factory=dict)
    trials: dict[int, TrialRow] = field(default_factory=dict)
    source: SeriesSource | None = None
    revision: int = 0
    trials_revision: int = 0
    objectives: tuple[Objective, ...] = ()

    def __post_init__(self) -> None:
        self.metrics = TrialSeries("metrics", self.source)
        self.learned = TrialSeries("learned", self.source)
        self._cache: dict[str, tuple[int, Any]] = {}
        self._curves: dict[str, dict[int, Curve]] = {}
        self._curves_read: dict[str, set[int]] = {}  # trials whose stored curve was asked for
        self._names: set[str] | None = None
        # Kept up to date trial by trial, not computed again for each of 10,000 trials.
        self._ordered: list[TrialRow] = []
        self._numbers: list[int] = []
        self._finished: set[int] = set()
        self._params_seen: set[str] = set()
        for trial in list(self.trials.values()):
            self._index(trial)

    def set_spec(self, spec: dict[str, Any]) -> None:
        """The study's stored experiment changed (resumed with an edited search space): what
        is computed from it (parameter names, log axes, importances) is computed anew."""
        self.spec = spec
        self._cache.clear()
        self.trials_revision += 1
        self.revision += 1

    # -- trials ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def maximize(self) -> bool:
        return self.summary.direction == "maximize"

    @property
    def multi_objective(self) -> bool:
        """Whether trials are scored by several objectives (each trial's ``values``)."""
        return len(self.objectives) > 1

    @property
    def directions(self) -> tuple[Direction, ...]:
        """Which way each objective is better (one direction for a single-objective study)."""
        return tuple(o.direction for o in self.objectives) or (self.summary.direction,)

    def set_trial(self, trial: TrialRow) -> None:
        """Record a new or changed trial (the model's polls call this)."""
        self.trials[trial.id] = trial
        self._index(trial)
        self.trials_revision += 1
        self.revision += 1
        if trial.state == "RUNNING":
            self.metrics.running(trial.id)
            self.learned.running(trial.id)
        elif trial.state in FINISHED_STATES:
            self.metrics.finished(trial.id)
            self.learned.finished(trial.id)

    def _index(self, trial: TrialRow) -> None:
        i = bisect_left(self._numbers, trial.number)
        if i < len(self._numbers) and self._numbers[i] == trial.number:
            self._ordered[i] = trial  # numbers are unique in a study: the same trial
        else:
            self._numbers.insert(i, trial.number)
            self._ordered.insert(i, trial)
        if trial.state in FINISHED_STATES:
            self._finished.add(trial.id)
        else:
            self._finished.discard(trial.id)
        self._params_seen.update(trial.params)

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, computed again only after the trials changed."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.trials_revision:
            value: T = hit[1]
            return value
        value = compute()
        self._cache[key] = (self.trials_revision, value)
        return value

    def ordered_trials(self) -> list[TrialRow]:
        """The trials by number (the list is the study's own: not to be changed)."""
        return self._ordered

    def counted(self) -> list[TrialRow]:
        """Completed, non-excluded trials with a finite value: those that count for best."""
        return self._cached(
            "counted",
            lambda: [
                t
                for t in self.ordered_trials()
                if t.state == "COMPLETE"
                and not t.excluded
                and t.value is not None
                and math.isfinite(t.value)
            ],
        )

    def best_trial(self) -> TrialRow | None:
        """The best trial that counts, by the one rule (:func:`~metagui.core.study_comparison.
        best_trial`, the history reader's too)."""
        from metagui.core.study_comparison import best_trial

        return self._cached("best", lambda: best_trial(self.counted(), self.maximize))

    def front(self) -> list[TrialRow]:
        """The trials on the Pareto front (:func:`~metagui.core.pareto.front_trials`), in
        trial order: those no other counted trial beats on every objective. For a study of
        one objective, its best trial (and any that tie with it)."""
        return self._cached("front", lambda: front_trials(self.ordered_trials(), self.directions))

    def front_ids(self) -> frozenset[int]:
        """The ids of :meth:`front`'s trials."""
        return self._cached("front_ids", lambda: frozenset(t.id for t in self.front()))

    def best_so_far(self) -> list[tuple[int, float, float]]:
        """``(trial number, finished time, best value so far)`` after each counted trial,
        in the order trials finished."""

        def compute() -> list[tuple[int, float, float]]:
            out: list[tuple[int, float, float]] = []
            best: float | None = None
            for t in sorted(self.counted(), key=lambda t: (t.finished or 0.0, t.number)):
                assert t.value is not None
                if best is None or (t.value > best if self.maximize else t.value < best):
                    best = t.value
                out.append((t.number, t.finished or 0.0, best))
            return out

        return self._cached("best_so_far", compute)

    def running_trials(self) -> list[TrialRow]:
        """The trials in flight (several at once when a study runs them in parallel), in
        trial-number order."""
        return self._cached(
            "running", lambda: [t for t in self.ordered_trials() if t.state == "RUNNING"]
        )

    def running_trial(self) -> TrialRow | None:
        """The running trial that started last."""
        running = self.running_trials()
        return running[-1] if running else None

    def search_params(self) -> list[dict[str, Any]]:
        """The experiment's search-space entries (as stored with the study)."""
        params: list[dict[str, Any]] = self.spec.get("search_space", {}).get("params", [])
        return params

    def param_names(self) -> list[str]:
        def compute() -> list[str]:
            names = [p["name"] for p in self.search_params() if p.get("type") != "fixed"]
            seen = self._params_seen
            return names + sorted(seen - set(names))

        return self._cached("params", compute)

    def is_log(self, name: str) -> bool:
        return any(p["name"] == name and p.get("log") for p in self.search_params())

    # -- series ----------------------------------------------------------------------------------
    def metric_names(self) -> set[str]:
        """Every metric series name the study's trials recorded (read once, then followed)."""
        if self._names is None:
            self._names = set()
            if self.source is not None:
                self._names.update(self.source.study_metric_names(self.summary.id))
            for trial_id in self.metrics.loaded():
                self._names.update(self.metrics.get(trial_id) or {})
        return self._names

    def saw_metric(self, name: str) -> None:
        """A polled row of metric ``name`` (of any trial)."""
        if self._names is not None:
            self._names.add(name)

    def finished_curves(self, name: str) -> dict[int, Curve]:
        """The stored downsampled curve of metric ``name`` of every finished trial that has
        one, by trial id (read from the history once per trial; see
        :mod:`metagui.core.history._curves`)."""
        finished = self._finished
        curves = self._curves.setdefault(name, {})
        asked = self._curves_read.setdefault(name, set())
        missing = finished - asked
        if missing and self.source is not None:
            everything = not asked  # the first time: the whole study in one query
            for curve in self.source.study_curves(
                self.summary.id, name, None if everything else missing
            ):
                if curve.trial_id in missing:
                    curves[curve.trial_id] = curve
        asked |= missing
        return curves

    def last_value(self, trial_id: int, name: str) -> float | None:
        """The last finite value of a trial's series ``name``: from its stored curve once it
        finished, else from its series (read if need be)."""
        trial = self.trials.get(trial_id)
        if trial is not None and trial.state in FINISHED_STATES:
            curve = self.finished_curves(name).get(trial_id)
            if curve is not None or self.source is not None:
                return None if curve is None else curve.last_value
        series = (self.metrics.get(trial_id) or {}).get(name)
        if series is None:
            return None
        return next((v for v in reversed(series.values) if math.isfinite(v)), None)
