"""The experience pool of a ``warm_start: auto`` study: which earlier studies it learns from,
their trials mapped into its search space and normalised, its initial design, and the
record the history keeps of it (so that a resumed study reads exactly the same pool, even
after its source studies grew).

Values are never compared across studies: task sets score on different scales (an MSE of
0.3 on one sinusoid range is an MSE of 3 on another). Each trial is placed by its rank
within its own study instead (:attr:`PriorTrial.quantile`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from metagui.core.experience._mapping import config_key, map_params
from metagui.core.strategies._common import PriorTrial, quantiles

if TYPE_CHECKING:
    from metagui.core.experience._ranking import SimilarStudy
    from metagui.core.experience._spec import DataCache
    from metagui.core.experiment import ExperienceSpec, ExperimentSpec
    from metagui.core.history import HistoryReader, TrialRow
    from metagui.core.search_space import SearchSpace

__all__ = [
    "RECORD_VERSION",
    "ExperiencePool",
    "PoolStatus",
    "PoolStudy",
    "choose_pool",
    "load_pool",
    "new_sources",
    "pool_statuses",
    "quantiles",
    "sources_of_record",
]

RECORD_VERSION = 1


@dataclass(frozen=True)
class PoolStudy:
    """A study of the pool: who it is, how similar, and which of its trials the pool holds
    (those numbered up to ``last_number`` when the pool was made)."""

    study_id: int
    name: str
    similarity: float
    explanation: str
    last_number: int
    """The highest trial number the pool read: trials the study ran later are not in it."""
    trials: int = 0
    """Its complete trials in the pool (mapped into the new space)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.study_id,
            "name": self.name,
            "similarity": round(self.similarity, 6),
            "explanation": self.explanation,
            "last_trial": self.last_number,
            "trials_used": self.trials,
        }


@dataclass(frozen=True)
class ExperiencePool:
    """The studies a new study learns from and their trials, most similar study first; each
    study's trials best first."""

    studies: tuple[PoolStudy, ...]
    trials: tuple[PriorTrial, ...]

    def __bool__(self) -> bool:
        return bool(self.trials)

    def initial_design(self, count: int) -> list[PriorTrial]:
        """Up to ``count`` distinct configurations to run first, best first across the pool:
        the best of each study in turn (most similar study first), then the second best of
        each, and so on. Two trials that map to the same configuration of the new space are
        one (the better-placed one is kept)."""
        by_study: dict[str, list[PriorTrial]] = {s.name: [] for s in self.studies}
        for t in self.trials:
            by_study.setdefault(t.study, []).append(t)
        queues = [sorted(q, key=lambda t: (t.quantile, t.number)) for q in by_study.values()]
        chosen: list[PriorTrial] = []
        seen: set[Any] = set()
        depth = 0
        while len(chosen) < count and any(depth < len(q) for q in queues):
            for queue in queues:
                if depth < len(queue) and len(chosen) < count:
                    key = config_key(queue[depth].params)
                    if key not in seen:
                        seen.add(key)
                        chosen.append(queue[depth])
            depth += 1
        return chosen

    def record(self, settings: ExperienceSpec, used: dict[str, bool]) -> dict[str, Any]:
        """What the history keeps of the pool (``studies.experience``): the studies, their
        similarity and the last trial of each read, the settings, and which of the initial
        design, the prior and the pruning were used."""
        return {
            "version": RECORD_VERSION,
            "mode": "auto",
            "studies": [s.to_dict() for s in self.studies],
            "min_similarity": settings.min_similarity,
            "max_studies": settings.max_studies,
            "initial_design": used.get("initial_design", False),
            "initial_configs": settings.initial_configs,
            "prior": used.get("prior", False),
            "pruning": used.get("pruning", False),
            "pruning_quantile": settings.pruning_quantile,
        }


PoolStatus = Literal["used", "unticked", "beyond", "below", "unfinished", "other_metric"]
"""What ``warm_start: auto`` does with a study of the history (:func:`pool_statuses`)."""


def pool_statuses(
    ranked: Sequence[SimilarStudy],
    metrics: Mapping[int, str | None],
    metric: str | None,
    settings: ExperienceSpec,
) -> list[tuple[SimilarStudy, PoolStatus, str]]:
    """Each study of ``ranked`` (most similar first) with what the pool does with it and why
    not, in words: ``unfinished`` (no complete trial), ``other_metric`` (scored by another
    metric than ``metric``; ``metrics`` gives each study's, None where unknown), ``below``
    ``settings.min_similarity``, ``unticked`` (in ``settings.exclude``), ``beyond`` the
    ``max_studies`` most similar, or ``used``. The one rule the runner and the app follow."""
    threshold = settings.min_similarity
    excluded = set(settings.exclude)
    out: list[tuple[SimilarStudy, PoolStatus, str]] = []
    taken = 0
    for s in ranked:
        theirs = metrics.get(s.study_id)
        status: PoolStatus
        reason = ""
        if s.complete_trials < 1:
            status, reason = "unfinished", "no complete trial yet"
        elif theirs is not None and metric is not None and theirs != metric:
            # An accuracy cannot teach where MSE is minimised.
            status, reason = "other_metric", f"scored by {theirs}, not {metric}"
        elif s.similarity < threshold:
            status, reason = "below", f"below the threshold ({threshold:.2f})"
        elif s.name in excluded:
            status, reason = "unticked", "unticked: not learned from"
        elif taken >= settings.max_studies:
            n = settings.max_studies
            status, reason = "beyond", f"not among the {n} most similar (max studies)"
        else:
            status = "used"
            taken += 1
        out.append((s, status, reason))
    return out


def choose_pool(
    reader: HistoryReader,
    spec: ExperimentSpec,
    direction: str,
    *,
    exclude: str | None = None,
    cache: DataCache | None = None,
) -> tuple[list[SimilarStudy], list[str]]:
    """The studies ``warm_start: auto`` learns from (most similar first, by
    :func:`pool_statuses`), and a note saying which and why, or why none."""
    from metagui.core.experience._ranking import rank_studies
    from metagui.core.experience._spec import fingerprint_of

    settings = spec.experience
    target = fingerprint_of(spec, direction, cache=cache)
    metric = None if target.objective is None else target.objective.metric
    stored = reader.fingerprints()
    metrics = {
        study_id: None if f.objective is None else f.objective.metric
        for study_id, f in stored.items()
    }
    ranked = rank_studies(reader, target, exclude=exclude, cache=cache)
    statuses = pool_statuses(ranked, metrics, metric, settings)
    threshold = settings.min_similarity
    chosen = [s for s, status, _ in statuses if status == "used"]
    candidates = [s for s, status, _ in statuses if status in ("used", "below", "beyond")]
    if not candidates:
        left_out = sum(status == "unticked" for _, status, _ in statuses)
        unticked = f" ({left_out} left out by experience.exclude)" if left_out else ""
        return [], [
            "warm_start auto: no finished study scored the same way in the history to "
            f"learn from{unticked}; the study starts cold"
        ]
    if not chosen:
        best = candidates[0]
        return [], [
            f"warm_start auto: no study is similar enough to learn from (min_similarity "
            f"{threshold:.2f}); the most similar, {best.name!r}, is {best.similarity:.2f} "
            f"({best.explanation}); the study starts cold"
        ]
    named = ", ".join(f"{s.name!r} ({s.similarity:.2f})" for s in chosen)
    return chosen, [f"warm_start auto: learning from {named} (min_similarity {threshold:.2f})"]


def load_pool(
    reader: HistoryReader,
    sources: list[PoolStudy],
    space: SearchSpace,
    base: dict[str, Any],
) -> ExperiencePool:
    """The trials of ``sources`` numbered up to each one's ``last_number`` (a new pool gives
    the highest number it has), complete, counted (not excluded by hand) and with a finite
    value, placed within their own study (:func:`quantiles`) and mapped into ``space``
    (:func:`map_params`; a trial with no configuration there is left out). A source study
    removed from the history since is left out."""
    studies: list[PoolStudy] = []
    trials: list[PriorTrial] = []
    for source in sources:
        row = reader.study(source.study_id)
        if row is None or row.name != source.name:
            continue
        complete = [t for t in reader.trials(source.study_id) if _counts(t, source.last_number)]
        places = quantiles([float(t.value) for t in complete], row.direction)  # type: ignore[arg-type]
        mine = []
        for t, q in zip(complete, places, strict=True):
            mapped = map_params(t.params, space, base)
            if mapped is not None:
                mine.append(
                    PriorTrial(source.name, t.number, mapped, q, source.similarity, t.value)
                )
        mine.sort(key=lambda t: (t.quantile, t.number))
        trials += mine
        studies.append(
            PoolStudy(
                source.study_id,
                source.name,
                source.similarity,
                source.explanation,
                source.last_number,
                len(mine),
            )
        )
    return ExperiencePool(tuple(studies), tuple(trials))


def new_sources(reader: HistoryReader, chosen: list[SimilarStudy]) -> list[PoolStudy]:
    """The chosen studies as pool sources, each read up to its highest trial number now."""
    out = []
    for s in chosen:
        last = max((t.number for t in reader.trials(s.study_id)), default=-1)
        out.append(PoolStudy(s.study_id, s.name, s.similarity, s.explanation, last))
    return out


def sources_of_record(record: dict[str, Any]) -> list[PoolStudy]:
    """The pool sources a study recorded (``studies.experience``), for reading its pool again
    on resume; none from a record this version cannot read."""
    if record.get("version") != RECORD_VERSION or record.get("mode") != "auto":
        return []
    out = []
    for s in record.get("studies", []):
        try:
            out.append(
                PoolStudy(
                    int(s["id"]),
                    str(s["name"]),
                    float(s["similarity"]),
                    str(s.get("explanation", "")),
                    int(s["last_trial"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _counts(trial: TrialRow, last_number: int) -> bool:
    return (
        trial.state == "COMPLETE"
        and not trial.excluded
        and trial.value is not None
        and math.isfinite(trial.value)
        and trial.number <= last_number
    )
