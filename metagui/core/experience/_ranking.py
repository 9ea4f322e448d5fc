"""The studies of a history ranked by how similar their problems are to a new one: what
``warm_start: auto`` picks from and what the app lists, each with the reasons in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from metagui.core.experience._fingerprint import Fingerprint
from metagui.core.experience._similarity import similarity

if TYPE_CHECKING:
    from metagui.core.experience._spec import DataCache
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import HistoryReader

__all__ = ["SimilarStudy", "rank_studies"]


@dataclass(frozen=True)
class SimilarStudy:
    """A past study and how similar its problem is to the one asked about."""

    study_id: int
    name: str
    similarity: float
    explanation: str
    best_value: float | None
    """The best value of its trials that count (COMPLETE, not excluded), or None."""
    direction: str
    finished_trials: int
    """Trials that ended: COMPLETE, PRUNED or FAILED."""
    complete_trials: int
    """Trials that ended with a value."""


def rank_studies(
    reader: HistoryReader,
    target: Fingerprint | ExperimentSpec,
    *,
    exclude: str | None = None,
    cache: DataCache | None = None,
) -> list[SimilarStudy]:
    """Every study of the history but ``exclude`` (a study's name: the new study itself), most
    similar first; among equally similar ones, those with more complete trials first, then by
    name.

    A study the history holds no fingerprint for (created by code that stored none) is
    fingerprinted here from its stored experiment, and not stored: a reader cannot write."""
    if not isinstance(target, Fingerprint):
        from metagui.core.experience._spec import fingerprint_of

        target = fingerprint_of(target)
    stored = reader.fingerprints()
    cache = {} if cache is None else cache
    ranked = []
    for summary in reader.studies():
        if summary.name == exclude:
            continue
        fingerprint = stored.get(summary.id)
        if fingerprint is None:
            from metagui.core.experience._spec import fingerprint_of_stored

            row = reader.study(summary.id)
            if row is None:  # removed since it was listed
                continue
            fingerprint = fingerprint_of_stored(row.spec_json, row.direction, cache=cache)
        alike = similarity(target, fingerprint)
        counts = summary.counts
        ranked.append(
            SimilarStudy(
                study_id=summary.id,
                name=summary.name,
                similarity=alike.value,
                explanation=alike.explanation,
                best_value=summary.best_value,
                direction=summary.direction,
                finished_trials=counts["COMPLETE"] + counts["PRUNED"] + counts["FAILED"],
                complete_trials=counts["COMPLETE"],
            )
        )
    # Rounded for the order only: sums of the same parts in another order differ in the last bit.
    ranked.sort(key=lambda s: (-round(s.similarity, 9), -s.complete_trials, s.name))
    return ranked
