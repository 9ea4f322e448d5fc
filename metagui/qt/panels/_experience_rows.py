"""What the warm-start list shows with ``warm_start: auto``, computed apart from drawing it:
the studies of the history ranked by similarity (:func:`rank_history`, slow: it
fingerprints the experiment, which may hash data files, so the panel calls it off the GUI
thread), and for each one whether the new study would learn from it and why not
(:func:`pool_rows`, instant: it follows the ``experience`` settings as they are edited).

:func:`pool_rows` decides by the runner's own rule
(:func:`metagui.core.experience.pool_statuses`): finished studies scored by the same metric,
at least ``min_similarity`` similar, not excluded, the ``max_studies`` most similar of those."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metagui.core.experience import DataCache, PoolStatus, SimilarStudy
    from metagui.core.experiment import ExperienceSpec, ExperimentSpec

__all__ = ["PoolRow", "Ranking", "fingerprint_key", "pool_rows", "pool_summary", "rank_history"]


@dataclass(frozen=True)
class Ranking:
    """The studies of the history at ``path``, most similar first, and the metric each one
    was scored by (None: not known); ``missing``: there is no history file yet."""

    path: Path
    studies: tuple[SimilarStudy, ...] = ()
    metrics: dict[int, str | None] = field(default_factory=dict)
    metric: str | None = None
    """The metric the new study would be scored by."""
    missing: bool = False


def fingerprint_key(spec: ExperimentSpec) -> str:
    """The parts of an experiment its fingerprint is made of: a ranking stays valid while
    this text is unchanged (edits of the budget, the strategy or the pool settings do not
    rank the studies again)."""
    parts = {"taskset", "model", "algorithm", "objective", "search_space"}
    return spec.model_dump_json(include=parts)


def rank_history(path: Path, spec: ExperimentSpec) -> Ranking:
    """The studies of the history at ``path`` ranked by similarity to ``spec`` (reads the
    history and may hash the experiment's data files: not on the GUI thread)."""
    from metagui.core.experience import fingerprint_of, rank_studies
    from metagui.core.history import HistoryReader

    if not path.is_file():
        return Ranking(path, missing=True)
    cache: DataCache = {}  # the data of many studies is often one data set: read it once
    target = fingerprint_of(spec, cache=cache)
    with HistoryReader(path) as reader:
        ranked = rank_studies(reader, target, cache=cache)
        stored = reader.fingerprints()
    metrics: dict[int, str | None] = {}
    for s in ranked:
        objective = stored[s.study_id].objective if s.study_id in stored else None
        metrics[s.study_id] = None if objective is None else objective.metric
    metric = None if target.objective is None else target.objective.metric
    return Ranking(path, tuple(ranked), metrics, metric)


@dataclass(frozen=True)
class PoolRow:
    """One study of the list: who it is, how similar, and whether the new study learns from
    it (``status``) and why not (``reason``)."""

    name: str
    similarity: float
    explanation: str
    best_value: float | None
    direction: str
    complete_trials: int
    status: PoolStatus
    reason: str = ""

    @property
    def checkable(self) -> bool:
        """The user may tick or untick it (a study that cannot be learned from may not)."""
        return self.status in ("used", "unticked", "beyond")

    @property
    def checked(self) -> bool:
        """Ticked: not excluded by the user (one beyond ``max_studies`` is ticked but unused)."""
        return self.status in ("used", "beyond")

    @property
    def used(self) -> bool:
        return self.status == "used"

    def headline(self) -> str:
        """``name · 0.92 similar · best 0.0123 ↓ · 12 trials``."""
        parts = [self.name, f"{self.similarity:.2f} similar"]
        if self.best_value is not None and math.isfinite(self.best_value):
            arrow = "↓" if self.direction == "minimize" else "↑"
            parts.append(f"best {self.best_value:.4g} {arrow}")
        trials = self.complete_trials
        parts.append(f"{trials} trial{'s' if trials != 1 else ''}")
        return "  ·  ".join(parts)

    def detail(self) -> str:
        """The second line: why it is not learned from, else how it is similar."""
        return f"{self.reason}: {self.explanation}" if self.reason else self.explanation


def pool_rows(ranking: Ranking, settings: ExperienceSpec) -> list[PoolRow]:
    """Every study of ``ranking`` in its order, each with what ``warm_start: auto`` with
    ``settings`` would do with it (the runner's rule: :func:`pool_statuses`)."""
    from metagui.core.experience import pool_statuses

    statuses = pool_statuses(ranking.studies, ranking.metrics, ranking.metric, settings)
    return [
        PoolRow(
            s.name,
            s.similarity,
            s.explanation,
            s.best_value,
            s.direction,
            s.complete_trials,
            status,
            reason,
        )
        for s, status, reason in statuses
    ]


def pool_summary(ranking: Ranking, rows: list[PoolRow], settings: ExperienceSpec) -> str:
    """One line above the list: what the new study will learn from."""
    if ranking.missing:
        return f"No history yet ({ranking.path.name}): the first study starts cold."
    if not rows:
        return "No earlier studies in the history yet: the study starts cold."
    used = [r for r in rows if r.used]
    rule = f"at least {settings.min_similarity:.2f} similar, at most {settings.max_studies}"
    if not used:
        return f"No study to learn from ({rule}): the study starts cold."
    studies = "study" if len(used) == 1 else "studies"
    return f"Learns from {len(used)} {studies} ({rule}); untick one to leave it out."
