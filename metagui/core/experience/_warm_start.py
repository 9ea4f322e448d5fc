"""What a ``warm_start: auto`` study learns from when it starts or resumes: the pool chosen
(or, on resume, read back as recorded), which of its uses apply, the initial design still to
run, and the notes that tell the user. The runner's side of the experience pool."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metagui.core.experience._pool import (
    ExperiencePool,
    choose_pool,
    load_pool,
    new_sources,
    sources_of_record,
)
from metagui.core.strategies._common import PriorTrial

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import HistoryReader, HistoryWriter, TrialRow

__all__ = ["WarmStart", "open_pool"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarmStart:
    """A study's experience pool as the runner uses it."""

    pool: ExperiencePool
    used: dict[str, bool]
    """Which of ``initial_design``, ``prior`` and ``pruning`` apply."""
    design: list[PriorTrial] = field(default_factory=list)
    """The pool configurations to run first that have not run yet, best first."""
    notes: list[str] = field(default_factory=list)

    @property
    def prior(self) -> list[PriorTrial]:
        """The pool's trials for the sampler, if the prior is used."""
        return list(self.pool.trials) if self.used.get("prior") else []


def open_pool(
    reader: HistoryReader,
    writer: HistoryWriter,
    spec: ExperimentSpec,
    direction: str,
    study_id: int,
    study_name: str,
    past: list[TrialRow],
) -> WarmStart:
    """The pool of study ``study_id`` (``warm_start: auto``). A study that recorded its pool
    reads the same one again (the same studies, each up to the trial it was read to, however
    much they grew since); a study without a record chooses one now (:func:`choose_pool`)
    and records it (``studies.experience``), even an empty one: then it starts cold, and the
    notes say why."""
    settings = spec.experience
    base = spec.base_settings().model_dump(mode="json")
    record = reader.experience(study_id)
    notes: list[str] = []
    count = settings.initial_configs
    if record is not None:
        count = int(record.get("initial_configs", count))
        sources = sources_of_record(record)
        pool = load_pool(reader, sources, spec.search_space, base)
        if sources:
            gone = [s.name for s in sources if s.name not in {p.name for p in pool.studies}]
            named = ", ".join(f"{s.name!r} ({s.similarity:.2f})" for s in pool.studies)
            notes.append(f"warm_start auto: learning from the recorded pool: {named or 'none'}")
            if gone:
                notes.append(f"warm_start auto: pool studies no longer in the history: {gone}")
        used = {
            k: bool(record.get(k)) and bool(pool) for k in ("initial_design", "prior", "pruning")
        }
    else:
        chosen, notes = choose_pool(reader, spec, direction, exclude=study_name)
        pool = load_pool(reader, new_sources(reader, chosen), spec.search_space, base)
        if chosen and not pool:
            notes.append(
                "warm_start auto: none of the pool's trials has a configuration in this search "
                "space (a categorical value that is not a choice here); the study starts cold"
            )
        used = {
            "initial_design": settings.initial_design
            and settings.initial_configs > 0
            and bool(pool),
            "prior": settings.prior and bool(pool),
            "pruning": settings.pruning and bool(pool),
        }
        text: dict[str, Any] = pool.record(settings, used)
        text["note"] = " ".join(notes)
        writer.set_study_experience(study_id, json.dumps(text))
    for note in notes:
        _log.info("%s: %s", study_name, note)
    design: list[PriorTrial] = []
    if used["initial_design"]:
        ran = {t.seeded_from for t in past if t.seeded_from is not None}
        design = [t for t in pool.initial_design(count) if t.label not in ran]
    return WarmStart(pool, used, design, notes)
