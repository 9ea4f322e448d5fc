"""``metagui history``: the studies of a history, one study's details and trials, and the
notebook kept in it (notes, tags, excluded trials, renaming, archiving and deleting studies)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from metagui.core.objectives import format_objective
from metagui.core.paths import default_history_path
from metagui.core.reports import format_value

if TYPE_CHECKING:
    from metagui.core.history import (
        HistoryReader,
        HistoryWriter,
        StudyRow,
        StudySummary,
        TrialRow,
    )
    from metagui.core.trial_filter import TrialFilter

__all__ = ["add_history_command"]

_ACTIONS = ("rename", "delete", "archive", "unarchive")


def _history(args: argparse.Namespace) -> int:
    from metagui.core.errors import MetaguiError

    db = Path(args.db) if args.db else default_history_path()
    if not db.is_file():
        raise MetaguiError(f"{db}: no such history database")
    action = next((name for name in _ACTIONS if getattr(args, name)), None)
    edits = args.note is not None or bool(args.tag or args.untag)
    marks = bool(args.exclude or args.include)
    if (action or edits or args.trial is not None) and args.study is None:
        raise MetaguiError("history: name the study with --study NAME")
    if action and (edits or marks or args.trial is not None):
        raise MetaguiError(f"history: --{action} goes alone (with --study)")
    if args.yes and action != "delete":
        raise MetaguiError("history: --yes confirms --delete; there is nothing to confirm")
    if args.where is not None and (args.study is None or args.trial is not None):
        raise MetaguiError("history: --where picks trials of one study: give --study, no --trial")
    if args.where is not None and (action or edits):
        raise MetaguiError("history: --where only lists trials; give it without changes")
    if action:
        return _study_action(db, args.study, action, args)
    for number, excluded in [(n, True) for n in args.exclude or []] + [
        (n, False) for n in args.include or []
    ]:
        _set_excluded(db, args.study, number, excluded)
    if edits:
        return _edit(db, args)
    from metagui.core.history import HistoryReader

    # A history of an older schema is migrated first where it may be written (notes, tags).
    with HistoryReader(db, upgrade=True) as reader:
        if args.study is None:
            _list(reader, show_archived=args.all)
        else:
            _show(reader, args.study, args.trial, args.where)
    return 0


def _set_excluded(db: Path, name: str | None, number: int, excluded: bool) -> None:
    from metagui.core.history import HistoryReader, HistoryWriter
    from metagui.core.study_export import pick_study, pick_trial

    with HistoryReader(db, upgrade=True) as reader:
        study = pick_study(reader, name)
        trial = pick_trial(reader, study, number)
    with HistoryWriter(db) as writer:
        writer.set_excluded(trial.id, excluded)
    verb = "excluded from" if excluded else "counted again for"
    print(f"trial {number} of study {study.name!r} is {verb} the best value")


def _edit(db: Path, args: argparse.Namespace) -> int:
    """Write a note and change tags of a study, or of one of its trials."""
    from metagui.core.history import HistoryReader, HistoryWriter, check_tag
    from metagui.core.study_export import pick_study, pick_trial

    for tag in args.tag or []:
        check_tag(tag)  # all refused before anything is written
    with HistoryReader(db, upgrade=True) as reader:
        study = pick_study(reader, args.study)
        trial = None if args.trial is None else pick_trial(reader, study, args.trial)
    what = f"study {study.name!r}"
    if trial is not None:
        what = f"trial {trial.number} of {what}"
    trial_id = None if trial is None else trial.id
    # Notes and tags are not results: they are written while the study runs too.
    with HistoryWriter(db) as writer:
        if args.note is not None:
            writer.set_note(study.id, args.note, trial_id=trial_id)
            print(f"{what}: note {'set' if args.note.strip() else 'cleared'}")
        if args.tag or args.untag:
            tags = writer.change_tags(study.id, args.tag or [], args.untag or [], trial_id=trial_id)
            print(f"{what}: tags {', '.join(tags) if tags else 'none'}")
    return 0


def _study_action(db: Path, name: str, action: str, args: argparse.Namespace) -> int:
    """Rename, delete, archive or unarchive the study called ``name``."""
    from metagui.core.history import HistoryReader, HistoryWriter
    from metagui.core.study_export import pick_study

    with HistoryReader(db, upgrade=True) as reader:
        study = pick_study(reader, name)
    with HistoryWriter(db) as writer:
        if action == "rename":
            writer.rename_study(study.id, args.rename)
            print(f"study {study.name!r} is now {args.rename!r} (its artifacts moved with it)")
        elif action in ("archive", "unarchive"):
            writer.set_archived(study.id, action == "archive")
            if action == "archive":
                print(f"study {study.name!r} archived: metagui history --all lists it")
            else:
                print(f"study {study.name!r} listed again")
        else:
            return _delete(writer, study, args.yes)
    return 0


def _delete(writer: HistoryWriter, study: StudyRow, confirmed: bool) -> int:
    from metagui.core.errors import MetaguiError

    writer.check_not_running(study.id, "deleted")  # before asking, not after
    footprint = writer.study_footprint(study.id)
    what = (
        f"{_count(footprint.trials, 'trial')} and {_count(len(footprint.files), 'artifact file')}"
    )
    if not confirmed:
        if not sys.stdin.isatty():
            raise MetaguiError(
                f"deleting study {study.name!r} removes {what}; confirm with --yes "
                "(there is no terminal to ask on)"
            )
        answer = input(f"delete study {study.name!r} with {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    gone = writer.delete_study(study.id)
    print(
        f"deleted study {gone.name!r}: {_count(gone.trials, 'trial')} and "
        f"{_count(len(gone.files), 'artifact file')}"
    )
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _list(reader: HistoryReader, *, show_archived: bool) -> None:
    every = reader.studies()
    studies = every if show_archived else [s for s in every if not s.archived]
    hidden = len(every) - len(studies)
    more = f"{hidden} archived: --all lists {'it' if hidden == 1 else 'them'}"
    if not studies:
        print(f"no studies listed ({more})" if hidden else "no studies yet")
        return
    print(f"{'study':30s} {'strategy':9s} {'status':9s} {'best':>10s}  trials")
    for s in studies:
        print(_summary_line(s))
    if hidden:
        print(f"({more})")


def _summary_line(s: StudySummary) -> str:
    """One study of the list; a two-objective study's front size in the place of a best
    value (no one trial is best)."""
    counts = " ".join(f"{k.lower()}={v}" for k, v in s.counts.items() if v)
    status = "archived" if s.archived else s.status
    tags = f"  [{', '.join(s.tags)}]" if s.tags else ""
    best = format_value(s.best_value) if s.front_size is None else f"front {s.front_size}"
    return f"{s.name:30s} {s.strategy:9s} {status:9s} {best:>10s}  {counts or '-'}{tags}"


def _show(reader: HistoryReader, name: str, number: int | None, where: str | None) -> None:
    """One study's details (its notes, tags and provenance) and trials; with ``number``,
    that trial's only; with ``where``, the trials that match that filter."""
    from metagui.core.kept_checkpoints import kept_trial_ids
    from metagui.core.objectives import objective_label, objectives_named
    from metagui.core.provenance import describe_provenance
    from metagui.core.study_export import pick_study, pick_trial, study_front

    study = pick_study(reader, name)
    trials = reader.trials(study.id)
    front = {t.number for t in study_front(study, trials)}
    shown = trials if where is None else _where_filter(where, trials).select(trials, front)
    archived = " (archived)" if study.archived else ""
    scored: str = study.direction
    if study.multi_objective:
        scored = objectives_named(study.objectives)
    print(f"study {study.name!r}: {study.strategy}, {scored}, {study.status}{archived}")
    kept = kept_trial_ids(reader.artifacts(study.id))
    second = study.objectives[1].name if study.multi_objective else None
    if number is not None:
        trial = pick_trial(reader, study, number, trials)
        print(_trial_line(trial, front, _tags_text(trial), len(_tags_text(trial)), kept, second))
        _print_note(trial.notes, "       ")
        return
    if study.tags:
        print(f"  tags: {', '.join(study.tags)}")
    _print_note(study.notes, "  ")
    record = reader.provenance(study.id)
    if record is None:
        print("  provenance: not recorded (made before metagui recorded it)")
    else:
        for i, line in enumerate(describe_provenance(record)):
            print(f"  {'provenance:' if i == 0 else '':11s} {line}")
    width = max((len(_tags_text(t)) for t in shown), default=0)
    if second is not None:
        labels = ", then ".join(objective_label(o.name) for o in study.objectives)
        print(f"  trials (* on the Pareto front): {labels}")
    for t in shown:
        print(_trial_line(t, front, _tags_text(t), width, kept, second))
        _print_note(t.notes, "       ")
    outside = sum(t.outside_space for t in trials)
    if outside:
        print(
            f"({_count(outside, 'trial')} outside the current search space: still results, "
            "no longer steering the search)"
        )
    if where is not None:
        print(f"(--where: {len(shown)} of {_count(len(trials), 'trial')})")


def _where_filter(text: str, trials: Sequence[TrialRow]) -> TrialFilter:
    """The ``--where`` filter ``text`` over ``trials`` (their parameter names are the names
    it may use); a bad one is the one-line error ``--where: column N: ...``."""
    from metagui.core.errors import MetaguiError
    from metagui.core.trial_filter import FilterError, parameter_names, parse_filter

    try:
        return parse_filter(text, parameter_names(trials))
    except FilterError as exc:
        raise MetaguiError(f"--where: {exc}") from exc


def _tags_text(trial: TrialRow) -> str:
    return ",".join(trial.tags)


def _print_note(note: str | None, indent: str) -> None:
    if not note:
        return
    first, *rest = note.splitlines() or [""]
    print(f"{indent}note: {first}")
    for line in rest:
        print(f"{indent}      {line}")


def _trial_line(
    t: TrialRow,
    front: set[int],
    tags: str,
    width: int,
    kept: set[int],
    second: str | None = None,
) -> str:
    """One trial: ``*`` marks a trial on the study's front (``front``, trial numbers: the
    best and any that tie with it, or a two-objective study's Pareto front), ``ckpt``
    a trial whose checkpoint is kept (a column only in a study that keeps any); ``second``:
    a two-objective study's second objective, a value column after the first's. ``(outside
    the space)``: the trial's settings lie outside the study's search space since it was
    edited."""
    mark = "*" if t.number in front else " "
    value = f"{format_value(t.value):>10s}"
    if second is not None:
        other = None if t.values is None or len(t.values) < 2 else t.values[1]
        value += f" {format_objective(second, other):>12s}"
    ckpt = ("  ckpt" if t.id in kept else "      ") if kept else ""
    note = " (excluded)" if t.excluded else ""
    if t.outside_space:
        note += " (outside the space)"
    if t.retry_of is not None:
        note += f" (runs trial {t.retry_of} again)"
    params = ", ".join(f"{k}={v}" for k, v in t.params.items())
    detail = t.error or t.pruned_reason or ""
    on = ", ".join(x for x in (t.host, t.device) if x)
    where = f"  on {on}" if on else ""
    column = f"  {tags:{width}s}" if width else ""
    return f"{mark}{t.number:4d} {t.state:8s} {value}{ckpt}{column}{note}  {params}{where}" + (
        f"  [{detail}]" if detail else ""
    )


def add_history_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = sub.add_parser(
        "history",
        help="list studies, or one study's details and trials; keep notes and tags, "
        "rename, archive or delete a study",
        description="Without --study: the studies (archived ones with --all). With --study: "
        "its notes, tags, provenance and trials; with --note/--tag/--untag (and --trial N, "
        "on that trial), the notebook is written, also while the study runs.",
    )
    history.add_argument("--db", help="history database (default: in the user data directory)")
    history.add_argument("--study", default=None, help="show (or change) this study")
    history.add_argument(
        "--trial", type=int, default=None, metavar="N", help="with --study: trial N only"
    )
    history.add_argument("--all", action="store_true", help="list archived studies too")
    history.add_argument(
        "--where",
        metavar="EXPR",
        help='with --study: only the trials that match, e.g. \'value < 0.5 and "baseline" in '
        "tags' (and, or, not, ==, !=, <, <=, >, >=, in over value, state, tags, notes, "
        "parameters by their dotted names...)",
    )
    history.add_argument(
        "--exclude",
        type=int,
        action="append",
        metavar="N",
        help="leave trial N out of the best value (it stays recorded)",
    )
    history.add_argument(
        "--include", type=int, action="append", metavar="N", help="count an excluded trial N again"
    )
    notebook = history.add_argument_group("notes and tags (of --study, or of its --trial N)")
    notebook.add_argument("--note", metavar="TEXT", help='write the note ("" clears it)')
    notebook.add_argument(
        "--tag",
        action="append",
        metavar="WORD",
        help="add a tag: one word, no blanks or commas, at most 40 characters (repeatable)",
    )
    notebook.add_argument("--untag", action="append", metavar="WORD", help="remove a tag")
    studies = history.add_argument_group("the study itself (refused while it runs)")
    action = studies.add_mutually_exclusive_group()
    action.add_argument("--rename", metavar="NEW", help="rename it (its artifacts move along)")
    action.add_argument(
        "--delete",
        action="store_true",
        help="delete it: its trials, records and artifact files (asks first)",
    )
    action.add_argument("--archive", action="store_true", help="hide it from the list")
    action.add_argument("--unarchive", action="store_true", help="list it again")
    studies.add_argument("--yes", action="store_true", help="delete without asking")
    history.set_defaults(func=_history)
