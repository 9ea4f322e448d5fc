"""The trained models a study keeps: the checkpoints of its top k trials (``checkpoints.keep``
in the experiment file; 1, the best trial's only, unless set).

The rules:

- The trials that count are those that count towards the study's best value: COMPLETE, not
  excluded, with a finite value. They rank by value in the study's direction and, on a tie,
  by the lower trial number (as :meth:`HistoryReader.best_trial` picks the best), so the order
  in which parallel trials finish changes nothing and the best trial's model is always kept.
- A two-objective study has no one best trial: its counting trials (those with a finite
  value per objective) rank by non-dominated sorting. The Pareto front first (the trials no
  other beats on both objectives, see :mod:`metagui.core.pareto`), then the front of the
  rest, and so on; within a front by the first objective, then by trial number. So the top
  k hold the whole front whenever it has at most k trials.
- After each COMPLETE trial, the study keeps the checkpoints of at most k trials: the best
  ranked of the counting trials that have one. The new trial's checkpoint is written only if
  it ranks among them; a checkpoint that falls out is deleted, its file and its artifact row.
  Each kept checkpoint's artifact row (kind ``checkpoint``, with its trial) states its rank
  in its note.
- A trial the user excludes (from the app or ``metagui history --exclude``, in another
  process) loses its checkpoint at the next COMPLETE trial, or when the study is resumed:
  only the run that holds the study's lease writes its artifacts. Its place goes to the next
  trial that still has a checkpoint; one deleted earlier cannot come back (its model is gone),
  nor does the excluded trial's when it is taken back in.
- Resuming recomputes all this from the history (with the experiment's k, which may have
  changed) and deletes the checkpoint files of the study's folder that no row records (left
  by a run killed between writing a file and recording it, or between forgetting a row and
  deleting its file).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metagui.core.history import ArtifactRow, HistoryWriter, StudyRow, TrialRow

__all__ = [
    "CHECKPOINT_KIND",
    "KeepPlan",
    "KeptCheckpoints",
    "checkpoint_file_name",
    "kept_count",
    "kept_trial_ids",
    "plan_kept",
    "rank_note",
    "ranks",
]

CHECKPOINT_KIND = "checkpoint"
_FILE_PATTERN = "trial-*.pt"


def checkpoint_file_name(number: int) -> str:
    """The file a study keeps trial ``number``'s checkpoint in, in its artifact folder."""
    return f"trial-{number:04d}.pt"


def rank_note(rank: int, keep: int) -> str:
    """The note of a kept checkpoint's artifact row."""
    return f"rank {rank} of the study (the top {keep} are kept)"


def kept_count(study: StudyRow) -> int:
    """How many trials' checkpoints ``study`` keeps, as its stored experiment says (1 for a
    study made before the setting, or whose experiment does not read back)."""
    from metagui.core.experiment import CheckpointsSpec

    try:
        data = study.spec
        section = data.get("checkpoints") if isinstance(data, dict) else None
        return CheckpointsSpec.model_validate(section or {}).keep
    except ValueError:  # not JSON, or not a valid section
        return CheckpointsSpec().keep


def ranks(
    trials: Sequence[TrialRow], direction: str, directions: Sequence[str] = ()
) -> dict[int, int]:
    """Trial id -> rank (1: the best) of each trial that counts (see the module);
    ``directions``: a multi-objective study's, one per objective."""
    if len(directions) > 1:
        return _front_ranks(trials, directions)
    sign = -1.0 if direction == "maximize" else 1.0
    counting = [
        t
        for t in trials
        if t.state == "COMPLETE" and not t.excluded
        if t.value is not None and math.isfinite(t.value)
    ]
    counting.sort(key=lambda t: (sign * (t.value or 0.0), t.number))
    return {t.id: rank for rank, t in enumerate(counting, start=1)}


def _front_ranks(trials: Sequence[TrialRow], directions: Sequence[str]) -> dict[int, int]:
    """Ranks by non-dominated sorting (see the module): front after front, each by its
    first objective, then by trial number."""
    from metagui.core.pareto import pareto_front

    sign = -1.0 if directions[0] == "maximize" else 1.0
    left = [
        t
        for t in trials
        if t.state == "COMPLETE" and not t.excluded
        if t.values is not None
        and len(t.values) == len(directions)
        and all(math.isfinite(v) for v in t.values)
    ]
    ordered: list[TrialRow] = []
    while left:
        on_front = set(pareto_front([t.values or () for t in left], directions))  # type: ignore[arg-type]
        front = [t for i, t in enumerate(left) if i in on_front]
        front.sort(key=lambda t: (sign * (t.values or (0.0,))[0], t.number))
        ordered += front
        left = [t for i, t in enumerate(left) if i not in on_front]
    return {t.id: rank for rank, t in enumerate(ordered, start=1)}


def kept_trial_ids(artifacts: Sequence[ArtifactRow]) -> set[int]:
    """The ids of the trials whose checkpoint the study keeps (has a row of)."""
    return {a.trial_id for a in artifacts if a.kind == CHECKPOINT_KIND and a.trial_id is not None}


@dataclass(frozen=True)
class KeepPlan:
    """What to change so that a study keeps its top k checkpoints: the notes of the rows that
    stay (artifact id -> note, only those that change), the rows to forget, the files to
    delete, and the rank of the new trial when its checkpoint is to be written."""

    notes: dict[int, str]
    forget: tuple[int, ...]
    delete: tuple[Path, ...]
    new_rank: int | None


def plan_kept(
    trials: Sequence[TrialRow],
    artifacts: Sequence[ArtifactRow],
    direction: str,
    keep: int,
    new_trial_id: int | None = None,
    directions: Sequence[str] = (),
) -> KeepPlan:
    """The plan (see :class:`KeepPlan`) for a study of ``trials`` whose ``artifacts`` are
    recorded, keeping ``keep`` checkpoints; ``new_trial_id``: the trial whose checkpoint was
    just trained (not written yet); ``directions``: a multi-objective study's."""
    rank_of = ranks(trials, direction, directions)
    checkpoints = sorted(
        (a for a in artifacts if a.kind == CHECKPOINT_KIND), key=lambda a: a.id, reverse=True
    )
    holder: dict[int, ArtifactRow] = {}  # trial id -> its newest checkpoint row
    for a in checkpoints:
        if a.trial_id is not None:
            holder.setdefault(a.trial_id, a)
    candidates = [t for t in holder if t in rank_of]
    if new_trial_id is not None and new_trial_id in rank_of and new_trial_id not in holder:
        candidates.append(new_trial_id)
    top = sorted(candidates, key=rank_of.__getitem__)[:keep]
    kept = {holder[t].id: rank_of[t] for t in top if t in holder}
    notes = {
        a.id: rank_note(kept[a.id], keep)
        for a in checkpoints
        if a.id in kept and a.note != rank_note(kept[a.id], keep)
    }
    dropped = [a for a in checkpoints if a.id not in kept]
    # An older row of a kept trial names the kept file: that file stays.
    kept_names = {Path(a.path).name for a in checkpoints if a.id in kept}
    delete = tuple(Path(a.path) for a in dropped if Path(a.path).name not in kept_names)
    new_rank = rank_of[new_trial_id] if new_trial_id is not None and new_trial_id in top else None
    return KeepPlan(notes, tuple(a.id for a in dropped), delete, new_rank)


@dataclass(frozen=True)
class KeptCheckpoints:
    """Keeps one study's top ``keep`` checkpoints (see the module) in ``folder``; used by the
    run that holds the study's lease, the only writer of its artifacts. ``directions``: a
    multi-objective study's, one per objective (empty for one objective)."""

    db_path: Path
    study_id: int
    folder: Path
    direction: str
    keep: int
    directions: tuple[str, ...] = ()

    def after_trial(
        self, writer: HistoryWriter, trial_id: int, number: int, checkpoint: bytes | None
    ) -> None:
        """A trial ended COMPLETE (recorded already) with ``checkpoint``'s bytes (None: no
        model to keep): write it if it ranks in the top k, and delete what falls out."""
        plan = self._plan(None if checkpoint is None else trial_id)
        if plan.new_rank is not None and checkpoint is not None:
            from metagui.core.checkpoint import write_checkpoint_bytes

            path = write_checkpoint_bytes(self.folder / checkpoint_file_name(number), checkpoint)
            note = rank_note(plan.new_rank, self.keep)
            writer.add_artifact(self.study_id, CHECKPOINT_KIND, path, trial_id, note)
        self._apply(writer, plan)

    def tidy(self, writer: HistoryWriter) -> int:
        """Bring a resumed study's checkpoints to its top k and delete the checkpoint files
        no row records; returns how many files were deleted."""
        plan = self._plan(None)
        removed = self._apply(writer, plan)
        from metagui.core.history import HistoryReader

        # By file name: a path recorded by a run in another working folder (a relative
        # --db) names the same file in other words.
        with HistoryReader(self.db_path) as reader:
            recorded = {Path(a.path).name for a in reader.artifacts(self.study_id)}
        for path in sorted(self.folder.glob(_FILE_PATTERN)):
            if path.name not in recorded and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _plan(self, new_trial_id: int | None) -> KeepPlan:
        from metagui.core.history import HistoryReader

        # Read afresh each time: the user may have excluded a trial since, from another process.
        with HistoryReader(self.db_path) as reader:
            trials = reader.trials(self.study_id)
            artifacts = reader.artifacts(self.study_id)
        return plan_kept(
            trials, artifacts, self.direction, self.keep, new_trial_id, self.directions
        )

    def _apply(self, writer: HistoryWriter, plan: KeepPlan) -> int:
        """Write the plan's notes and forget its dropped rows, then delete their files (in
        that order: a run killed in between leaves a file no row records, which resuming
        deletes, never a row without its file). Returns how many files were deleted."""
        if not plan.notes and not plan.forget:
            return 0
        writer.update_artifacts(notes=plan.notes, remove=plan.forget)
        removed = 0
        for recorded in plan.delete:
            # A relative path recorded by a run in another working folder: the same file name
            # in this study's folder.
            path = recorded if recorded.is_file() else self.folder / recorded.name
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed
