"""``metagui run`` and ``metagui export``: studies from the shell (``metagui history`` is in
:mod:`metagui.cli._history`)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from metagui.cli._history import add_history_command
from metagui.cli._progress import front_text, open_progress
from metagui.core.paths import default_history_path
from metagui.core.reports import format_value

__all__ = ["add_study_commands"]


def _db(args: argparse.Namespace) -> Path:
    path = Path(args.db) if args.db else default_history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _run(args: argparse.Namespace) -> int:
    from metagui.core.errors import MetaguiError
    from metagui.core.experiment_io import load_experiment
    from metagui.core.objectives import objectives_named
    from metagui.core.runner import StudyEnded, StudyRunner, StudyStarted, TrialEnded

    if args.parallel is not None and args.parallel < 1:
        raise MetaguiError(f"--parallel: {args.parallel} is not a number of trials (1 or more)")

    spec = load_experiment(args.experiment, overrides=args.set or [])
    db = _db(args)
    runner = StudyRunner(
        spec,
        db,
        study=args.study,
        resume=args.resume,
        device=args.device,
        trials=args.trials,
        timeout_s=args.timeout,
        parallel=args.parallel,
        address=args.ray,
        force=args.force,
        experiment_path=args.experiment,
    )
    progress = open_progress(sys.stdout)
    started = time.monotonic()
    ended: StudyEnded | None = None
    failures: Counter[str] = Counter()  # this run's trial errors, for the summary
    results = 0  # this run's trials that ended with a value (complete or pruned)
    gen = runner.run()
    # Ctrl-C and a scheduler's or terminal's end of the run (SIGTERM, SIGHUP) stop it
    # cleanly: the trials in flight are recorded as interrupted and --resume runs them again.
    stop, previous = _stop_on_signals()
    try:
        for report in gen:
            if stop:
                # At a report, not wherever the signal landed: the runner is between steps.
                raise KeyboardInterrupt(stop[0])
            if isinstance(report, StudyStarted):
                verb = "resuming" if report.resumed else "starting"
                scored = f"{report.direction} {spec.objective.split} metric"
                if report.multi_objective:
                    scored = objectives_named(report.objectives)
                print(
                    f"metagui: {verb} study {report.study!r} in {report.db_path} "
                    f"({spec.strategy.name} search, {scored})",
                    flush=True,
                )
                if report.on_ray:
                    print(f"  {report.parallel} trial(s) at once on {report.where}", flush=True)
                for note in report.notes:
                    print(f"  {note}", flush=True)
                if report.failed_on_resume:
                    print(
                        f"  {report.failed_on_resume} trial(s) left running by a crash "
                        "were marked failed",
                        flush=True,
                    )
            elif isinstance(report, TrialEnded):
                if report.state == "FAILED":
                    failures[report.error or "no reason recorded"] += 1
                else:
                    results += 1
            elif isinstance(report, StudyEnded):
                ended = report
            progress.handle(report)
    except KeyboardInterrupt:
        _restore_signals({number: signal.SIG_IGN for number in previous})  # let the clean-up finish
        gen.close()  # marks the running trial and closes the database cleanly
        progress.close()
        print(
            f"metagui: stopped; continue with: metagui run {args.experiment} --resume "
            f"--study {runner.study_name} --db {db}",
            flush=True,
        )
        return 130
    finally:
        progress.close()
        _restore_signals(previous)
    assert ended is not None
    if failures and not results:
        # Nothing of this run is a result: say why in one line each, and fail.
        why = "; ".join(f"{n} x {error}" for error, n in failures.most_common(5))
        print(f"metagui: error: every trial of this run failed: {why}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in ended.counts.items())
    outcome = f"best value {format_value(ended.best_value)} (trial {ended.best_number})"
    if runner.multi_objective:
        outcome = front_text(ended.front, shown=20)
    print(
        f"study {ended.study!r} ended ({ended.reason}) after {time.monotonic() - started:.1f} s: "
        f"{counts}; {outcome}"
    )
    if runner.multi_objective:
        pick = f" --trial {ended.front[0]}" if len(ended.front) > 1 else ""
        print(
            f"export a trial of the front: metagui export --db {db} --study {ended.study}{pick} "
            "--format yaml -o chosen.yaml (metagui history --study NAME lists the front)"
        )
        return 0
    print(
        f"export the best settings: metagui export --db {db} --study {ended.study} "
        "--format yaml -o best.yaml"
    )
    return 0


def _stop_on_signals() -> tuple[list[str], dict[int, Any]]:
    """Have Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the run cleanly; returns the list that
    receives the signal's name (the run loop stops at its next report, within a training
    step) and the handlers to restore. A second signal stops at once.

    The first signal is only recorded. Raising KeyboardInterrupt from the handler lands
    wherever the main thread happens to be: inside code that a library runs through
    ``exec`` (dataclasses, lazy imports), CPython then marks the interrupt as unhandled and
    the process dies by SIGINT after its clean stop, whatever it returns; elsewhere it can
    interrupt clean-up code. A test caught both under load."""
    stop: list[str] = []

    def interrupt(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop:
            raise KeyboardInterrupt(name)  # asked again: do not wait for the next report
        stop.append(name)

    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, interrupt)
    return stop, previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)


def _export(args: argparse.Namespace) -> int:
    from metagui.core.errors import MetaguiError
    from metagui.core.study_export import export_from_history
    from metagui.core.trial_filter import FilterError

    try:
        path = export_from_history(
            _db_existing(args),
            args.format,
            args.output,
            study=args.study,
            trial=args.trial,
            where=args.where,
        )
    except FilterError as exc:
        raise MetaguiError(f"--where: {exc}") from exc
    print(f"wrote {path}")
    if args.trial is not None and args.format != "csv":
        _note_off_front(_db_existing(args), args.study, args.trial)
    return 0


def _note_off_front(db: Path, study: str | None, number: int) -> None:
    """Say on stderr when the exported trial of a two-objective study is not on its Pareto
    front (others beat it on both objectives)."""
    from metagui.core.history import HistoryReader
    from metagui.core.study_export import describe_front, pick_study, study_front

    with HistoryReader(db) as reader:
        chosen = pick_study(reader, study)
        if not chosen.multi_objective:
            return
        front = study_front(chosen, reader.trials(chosen.id))
    if any(t.number == number for t in front):
        return
    listed = describe_front(chosen, front)
    print(
        f"metagui: note: trial {number} is not on the Pareto front of study {chosen.name!r} "
        "(another trial is at least as good on both objectives and better on one); the "
        f"front: {listed or 'none yet'}",
        file=sys.stderr,
    )


def _db_existing(args: argparse.Namespace) -> Path:
    from metagui.core.errors import MetaguiError

    path = Path(args.db) if args.db else default_history_path()
    if not path.is_file():
        raise MetaguiError(f"{path}: no such history database")
    return path


def add_study_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from metagui.core.study_export import EXPORT_FORMATS

    run = sub.add_parser("run", help="run (or resume) a hyperparameter search headless")
    run.add_argument("experiment", help="experiment file (YAML, JSON or TOML)")
    run.add_argument("--db", help="history database (default: in the user data directory)")
    run.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    run.add_argument("--trials", type=int, default=None, help="total trials (overrides budget)")
    run.add_argument("--timeout", type=float, default=None, help="wall-time budget in seconds")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the study of this name; the file's search space, strategy, pruner and "
        "budget may have changed since (trials outside an edited space are marked so)",
    )
    run.add_argument("--study", default=None, help="study name (default: the experiment's)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    run.add_argument(
        "--force",
        action="store_true",
        help="with --resume: take the study over even from a process that seems to run it "
        "(check that it is gone first)",
    )
    run.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help="run N trials at once on Ray (overrides execution.parallel)",
    )
    run.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run the trials on the Ray cluster at ADDRESS (host:port; overrides "
        "execution.address; default: a local cluster)",
    )
    run.set_defaults(func=_run)

    export = sub.add_parser("export", help="export a study's best settings or its trials")
    export.add_argument("--db", help="history database (default: in the user data directory)")
    export.add_argument("--study", default=None, help="study name (default: the latest)")
    export.add_argument(
        "--trial",
        type=int,
        default=None,
        help="trial number (default: the best; a two-objective study's only trial on its "
        "Pareto front, else give one)",
    )
    export.add_argument(
        "--format",
        required=True,
        choices=EXPORT_FORMATS,
        help="yaml, json or toml: an experiment file that reproduces the trial; hydra: "
        "optimization_results.yaml; args: one line of command-line flags; csv: every trial of "
        "the study; checkpoint: the trained model",
    )
    export.add_argument(
        "--where",
        metavar="EXPR",
        help="with --format csv: only the trials that match, as metagui history --where",
    )
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="write it here")
    export.set_defaults(func=_export)

    add_history_command(sub)
