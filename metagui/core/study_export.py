"""Export a study's best (or a chosen) trial from the history: the one function behind both
``metagui export`` and the app's export dialog, so they write exactly the same files.

A two-objective study has no one best trial: without a trial number it exports the one trial
of its Pareto front, and asks for a number when the front holds several (any trial can be
exported by number; :func:`study_front` says whether it is on the front)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metagui.core.errors import MetaguiError

if TYPE_CHECKING:
    from metagui.core.history import HistoryReader, StudyRow, TrialRow

__all__ = [
    "EXPORT_FORMATS",
    "describe_front",
    "describe_values",
    "export_from_history",
    "learned_from",
    "pick_study",
    "pick_trial",
    "study_front",
]

EXPORT_FORMATS: tuple[str, ...] = ("yaml", "json", "toml", "hydra", "args", "csv", "checkpoint")


def pick_study(reader: HistoryReader, name: str | None) -> StudyRow:
    """The study called ``name``, or the most recently created one."""
    if name is not None:
        study = reader.study(name)
        if study is None:
            known = ", ".join(s.name for s in reader.studies()) or "none"
            raise MetaguiError(f"{reader.path}: no study named {name!r} (studies: {known})")
        return study
    summaries = reader.studies()
    if not summaries:
        raise MetaguiError(f"{reader.path}: the history holds no study yet")
    latest = max(summaries, key=lambda s: s.created)
    study = reader.study(latest.id)
    assert study is not None
    return study


def study_front(study: StudyRow, trials: Sequence[TrialRow]) -> list[TrialRow]:
    """The trials of ``study`` (its ``trials``) on its Pareto front, by number: for a study
    of one objective, its best trial and any that tie with it (see
    :func:`metagui.core.pareto.front_trials`, what the filter name ``front`` reads)."""
    from metagui.core.pareto import front_trials

    return front_trials(trials, study.directions)


def describe_values(study: StudyRow, trial: TrialRow) -> str:
    """A trial's result as it reads: ``validation MSE 0.2164, parameters 1,153`` (one value
    per objective), or ``no result``."""
    from metagui.core.objectives import format_objective, objectives_text

    values = trial.objective_values
    if values is None:
        return "no result"
    if not study.multi_objective:
        return f"value {format_objective('', values[0])}"
    return objectives_text(study.objectives, values)


def pick_trial(
    reader: HistoryReader,
    study: StudyRow,
    number: int | None,
    trials: Sequence[TrialRow] | None = None,
) -> TrialRow:
    """Trial ``number`` of ``study``, or its best trial (excluded trials never count); in a
    two-objective study, the one trial of its Pareto front (a ``MetaguiError`` naming the
    front's trials when it holds several: pick one by number). ``trials``: the study's
    trials where the caller has read them already."""
    if number is None and not study.multi_objective:
        best = reader.best_trial(study.id)
        if best is None:
            raise MetaguiError(f"study {study.name!r} has no completed trial to export")
        return best
    if trials is None:
        trials = reader.trials(study.id)
    if number is None:
        front = study_front(study, trials)
        if not front:
            raise MetaguiError(f"study {study.name!r} has no completed trial to export")
        if len(front) > 1:
            raise MetaguiError(
                f"study {study.name!r} has {len(front)} trials on its Pareto front, no one "
                f"best: {describe_front(study, front)}; pick one by number (--trial N)"
            )
        return front[0]
    for trial in trials:
        if trial.number == number:
            return trial
    raise MetaguiError(f"study {study.name!r} has no trial {number}")


def describe_front(study: StudyRow, front: Sequence[TrialRow]) -> str:
    """The trials of a front with their values: ``#4 (validation MSE 3.01, parameters 347);
    #9 (...)``."""
    return "; ".join(f"#{t.number} ({describe_values(study, t)})" for t in front)


def export_from_history(
    db_path: str | os.PathLike[str],
    fmt: str,
    output: str | os.PathLike[str],
    *,
    study: str | None = None,
    trial: int | None = None,
    where: str | None = None,
) -> Path:
    """Write ``fmt`` for the chosen trial of a study (``csv``: the whole trials table, or
    with ``where`` the trials that match that filter, see :mod:`metagui.core.trial_filter`)
    to ``output``; returns the path written."""
    from metagui.core.atomic_write import write_text_atomic
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.export import (
        ExportMeta,
        export_args,
        export_experiment,
        export_hydra,
        export_trials_csv,
    )
    from metagui.core.history import HistoryReader
    from metagui.core.trial_filter import parameter_names, parse_filter

    if fmt not in EXPORT_FORMATS:
        raise MetaguiError(f"export: unknown format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if where is not None and fmt != "csv":
        raise MetaguiError(f"export: a trial filter is for the csv format ({fmt} is one trial)")
    out = Path(output)
    with HistoryReader(Path(db_path)) as reader:
        chosen_study = pick_study(reader, study)
        if fmt == "csv":
            trials = reader.trials(chosen_study.id)
            names = sorted(parameter_names(trials))
            if where is not None:
                # Names are checked against the whole study: a filter that leaves out every
                # trial holding a parameter still knows it.
                front = {t.number for t in study_front(chosen_study, trials)}
                trials = parse_filter(where, names).select(trials, front)
            rows = [
                {
                    "number": t.number,
                    "state": t.state,
                    "value": t.value,
                    "seed": t.seed,
                    "started": t.started,
                    "finished": t.finished,
                    "duration_s": t.duration,
                    "pruned_at_step": t.pruned_at_step,
                    "error": t.error,
                    "excluded": t.excluded,
                    "tags": t.tags,
                    "notes": t.notes,
                    "params": t.params,
                    "values": t.values,
                }
                for t in trials
            ]
            objectives = [o.name for o in chosen_study.objectives]
            export_trials_csv(rows, names, out, objectives)
            return out
        # A two-objective study's trials are read once: for the pick and for ``on_front``.
        read = reader.trials(chosen_study.id) if chosen_study.multi_objective else None
        chosen = pick_trial(reader, chosen_study, trial, read)
        if fmt == "checkpoint":
            return _copy_checkpoint(reader, chosen_study, chosen, out)
        if fmt == "args":
            write_text_atomic(out, export_args(chosen.params) + "\n")
            return out
        if chosen.state != "COMPLETE" or chosen.value is None:
            raise MetaguiError(
                f"study {chosen_study.name!r}: trial {chosen.number} is {chosen.state}, "
                "only a completed trial has settings worth exporting"
            )
        if fmt == "hydra":
            export_hydra(chosen.params, chosen.value, out, chosen.values)
            return out
        spec = ExperimentSpec.model_validate(chosen_study.spec)
        meta = ExportMeta(
            study=chosen_study.name,
            trial=chosen.number,
            value=chosen.value,
            direction=chosen_study.direction,
            strategy=chosen_study.strategy,
            seed=chosen.seed,
            learned_from=learned_from(reader.experience(chosen_study.id)),
            seeded_from=chosen.seeded_from,
            notes={"study": chosen_study.notes or "", "trial": chosen.notes or ""},
            tags={"study": chosen_study.tags, "trial": chosen.tags},
            provenance=reader.provenance(chosen_study.id),
            objectives=_objective_values(chosen_study, chosen),
            on_front=(
                None
                if read is None
                else any(t.id == chosen.id for t in study_front(chosen_study, read))
            ),
        )
        export_experiment(spec, chosen.params, meta, out, fmt)
        return out


def _objective_values(study: StudyRow, trial: TrialRow) -> tuple[dict[str, Any], ...]:
    """A two-objective study's objectives with the trial's value of each, for ``_meta``."""
    from metagui.core.objectives import objective_label

    if not study.multi_objective or trial.values is None:
        return ()
    return tuple(
        {
            "name": o.name,
            "label": objective_label(o.name),
            "direction": o.direction,
            "value": v if v == v else None,  # NaN is no YAML/TOML/JSON value
        }
        for o, v in zip(study.objectives, trial.values, strict=False)
    )


def learned_from(record: dict[str, Any] | None) -> tuple[str, ...]:
    """The studies a study learned from, in words, from its recorded experience (see
    :meth:`HistoryReader.experience`): each with its similarity (``warm_start: auto``) or
    the trial whose settings it gave (named studies)."""
    if not record:
        return ()
    out = []
    for study in record.get("studies", []):
        if not isinstance(study, dict) or "name" not in study:
            continue
        if "similarity" in study:
            used = study.get("trials_used")
            out.append(
                f"{study['name']} (similarity {float(study['similarity']):.2f}, "
                f"{used} trials up to #{study.get('last_trial')})"
            )
        elif study.get("best_trial") is not None:
            out.append(f"{study['name']} (its best trial, #{study['best_trial']})")
        else:
            out.append(str(study["name"]))
    return tuple(out)


def _copy_checkpoint(reader: HistoryReader, study: StudyRow, trial: TrialRow, out: Path) -> Path:
    from metagui.core.kept_checkpoints import CHECKPOINT_KIND, kept_count, kept_trial_ids

    every = reader.artifacts(study.id)
    artifacts = [a for a in every if a.kind == CHECKPOINT_KIND and a.trial_id == trial.id]
    if not artifacts:
        if trial.state != "COMPLETE":
            raise MetaguiError(
                f"study {study.name!r}: trial {trial.number} is {trial.state}; only a completed "
                "trial has a checkpoint"
            )
        kept_ids = kept_trial_ids(every)
        kept = sorted(t.number for t in reader.trials(study.id) if t.id in kept_ids)
        which = ", ".join(map(str, kept)) if kept else "none"
        raise MetaguiError(
            f"study {study.name!r}: trial {trial.number}'s checkpoint was not kept (only the "
            f"top k={kept_count(study)} are); kept: trial(s) {which} (checkpoints.keep in the "
            "experiment file keeps more)"
        )
    source = Path(artifacts[-1].path)
    if not source.is_file():
        raise MetaguiError(f"checkpoint {source} of trial {trial.number} no longer exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out)
    return out
