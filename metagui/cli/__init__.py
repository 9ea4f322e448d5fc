"""The ``metagui`` command line: the same core as the app, without a window; ``metagui``
without a command opens the desktop app."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from metagui import __version__

if TYPE_CHECKING:
    # The type of ``add_subparsers()``'s result: argparse names it only privately.
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """A short sinusoid MAML run with a progress bar: the quickest look at the engine."""
    sets = [f"seed={args.seed}", f"device={args.device}"]
    if args.iterations is not None:
        sets.append(f"training.iterations={args.iterations}")
    from metagui._resources import resource

    return _train_file(resource("examples/demo-sinusoid-maml.yaml"), sets, None)


def _train(args: argparse.Namespace) -> int:
    sets = list(args.set or [])
    if args.device is not None:
        sets.append(f"device={args.device}")
    if args.timeout is not None:
        if not (math.isfinite(args.timeout) and args.timeout > 0):
            raise _UsageError(f"train: --timeout {args.timeout} is not a time in seconds (> 0)")
        sets.append(f"training.time_budget_s={args.timeout!r}")
    if args.timeout_includes_eval:
        sets.append("training.time_budget_includes_eval=true")
    return _train_file(Path(args.spec), sets, args.output)


def _train_file(path: Path, sets: list[str], output: str | None) -> int:
    """Meta-train the spec in ``path`` (with ``key=value`` overrides), show progress, print
    the meta-test, and save a checkpoint to ``output`` if given."""
    from tqdm import tqdm

    from metagui.core.checkpoint import save_checkpoint
    from metagui.core.reports import StepReport, TrainingFinished, format_rate
    from metagui.core.spec import load_train_spec
    from metagui.core.training import MetaTraining

    spec = load_train_spec(path, overrides=sets)
    t = spec.training
    if t.time_budget_includes_eval and t.time_budget_s is None:
        raise _UsageError("train: --timeout-includes-eval needs a time budget (--timeout S)")
    run = MetaTraining(spec)
    print(
        f"metagui: {spec.algorithm.name} on {run.taskset.describe()}, device {run.device_name}",
        flush=True,
    )
    finished: TrainingFinished | None = None
    # With a time budget the bar runs over the budget's seconds, so that its ETA is the time
    # left, not the time the (often unreachable) iteration count would take.
    budget = t.time_budget_s
    total, unit = (t.iterations, "it") if budget is None else (round(budget), "s")
    bar_format = (
        None
        if budget is None
        else "{l_bar}{bar}| {n:.0f}/{total} s [{elapsed}<{remaining}{postfix}]"
    )
    with tqdm(total=total, unit=unit, desc="meta-training", bar_format=bar_format) as bar:
        for report in run.run():
            if isinstance(report, StepReport):
                done = report.step if budget is None else min(report.elapsed_s, budget)
                bar.update(done - bar.n)
                postfix = {
                    **({} if budget is None else {"it": str(report.step)}),
                    "loss": f"{report.train_loss:.3f}",
                    "tasks/s": format_rate(report.tasks_per_s),
                }
                if report.validation is not None:
                    postfix["val"] = f"{report.validation.final:.3f}"
                bar.set_postfix(postfix)
            elif isinstance(report, TrainingFinished):
                finished = report
    assert finished is not None
    final = finished.final
    shown = sorted({0, 1, 5, 10, len(final.means) - 1} & set(range(len(final.means))))
    results = ", ".join(f"{k}: {final.means[k]:.4f} ± {final.ci95[k]:.4f}" for k in shown)
    what = "after k steps" if len(final.means) > 1 else "(no gradient steps)"
    split = (
        "meta-test"
        if finished.test is not None
        else "meta-validation (the task set has no test split)"
    )
    print(f"{split} {final.metric} on {final.tasks} new tasks {what}: {results}")
    stop = " (stopped by the time budget)" if finished.stopped_by_time else ""
    print(
        f"done in {finished.elapsed_s:.1f} s on {finished.device}: {finished.steps} of "
        f"{t.iterations} iterations{stop}"
    )
    if output:
        extra = {
            "test" if finished.test is not None else "validation": final.means[-1],
            "iterations": finished.steps,
        }
        saved = save_checkpoint(output, run.learner, spec, extra)
        print(f"checkpoint written to {saved}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.transfer:
        return _bench_transfer(args)
    if args.seeds is not None or args.iterations is not None or args.keep is not None:
        raise _UsageError("bench: --seeds, --iterations and --keep are for --transfer")
    if args.gui and args.study:
        raise _UsageError("bench: --gui and --study are two benchmarks; give one")
    if args.history and (args.gui or args.study):
        raise _UsageError("bench: --history is a benchmark of its own; give it alone")
    if args.history:
        return _bench_history(args)
    if args.trials is not None or args.steps is not None or args.db is not None:
        raise _UsageError("bench: --trials, --steps and --db are for --history")
    if args.gui:
        return _bench_gui(args)
    if args.repeats != 1 or args.switch_tabs:
        raise _UsageError("bench: --repeats and --switch-tabs are for --gui")
    if args.study:
        return _bench_study(args)
    if args.parallel is not None or args.gpus_per_trial:
        raise _UsageError("bench: --parallel and --gpus-per-trial are for --study")
    from metagui.core.bench import BENCHMARKS, run_benchmark

    names = args.only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise _UsageError(f"bench: unknown benchmark {unknown[0]!r} (have {', '.join(BENCHMARKS)})")
    seconds = 6.0 if args.seconds is None else args.seconds
    for name in names:
        result = run_benchmark(name, device=args.device, min_seconds=seconds)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(
                f"{name:20s} {result['device']}: {result['meta_iters_per_s']:8.2f} meta-it/s "
                f"({result['tasks_per_s']:9.1f} tasks/s) batched, "
                f"{result['loop_meta_iters_per_s']:8.2f} meta-it/s per-task loop, "
                f"x{result['speedup_vs_loop']:.2f}",
                flush=True,
            )
    return 0


def _bench_study(args: argparse.Namespace) -> int:
    """Study throughput: serial against parallel trials on a local Ray cluster."""
    if args.only:
        raise _UsageError("bench: --only names the training benchmarks, not --study")
    if args.parallel is not None and args.parallel < 2:
        raise _UsageError("bench: --parallel must be at least 2 (it is compared with serial)")
    from metagui.core.bench_study import run_study_benchmark

    seconds = 30.0 if args.seconds is None else args.seconds
    device = "cpu" if args.device == "auto" and not args.gpus_per_trial else args.device
    result = run_study_benchmark(seconds, args.parallel, device, args.gpus_per_trial)
    if args.json:
        print(json.dumps(result), flush=True)
        return 0
    s, p = result["serial"], result["parallel_run"]
    print(
        f"study throughput ({result['device']}, {seconds:g} s each, trials of one thread):\n"
        f"  serial:              {s['warm_trials_per_min']:7.1f} trials/min "
        f"({s['trials']} trials; start {s['startup_s']:.1f} s)\n"
        f"  parallel {result['parallel']:<2d} on Ray:  {p['warm_trials_per_min']:7.1f} trials/min "
        f"({p['trials']} trials; cold start: {p['startup_s']:.1f} s to the workers, "
        f"{p['first_results_s']:.1f} s to every worker's first trial)\n"
        f"  parallel / serial:   x{result['speedup']}",
        flush=True,
    )
    return 0


def _bench_transfer(args: argparse.Namespace) -> int:
    """Transfer from the experience pool: warm-started TPE searches against cold ones on
    related sinusoid problems, and a pool of an unrelated problem."""
    if args.gui or args.study or args.history:
        raise _UsageError("bench: --transfer is a benchmark of its own; give it alone")
    if args.only or args.seconds is not None or args.steps is not None or args.db is not None:
        raise _UsageError("bench: --only, --seconds, --steps and --db are not for --transfer")
    if args.repeats != 1 or args.switch_tabs or args.parallel is not None or args.gpus_per_trial:
        raise _UsageError(
            "bench: --repeats, --switch-tabs, --parallel and --gpus-per-trial are not for "
            "--transfer"
        )
    seeds = 5 if args.seeds is None else args.seeds
    trials = 30 if args.trials is None else args.trials
    iterations = 60 if args.iterations is None else args.iterations
    if seeds < 1 or trials < 2 or iterations < 1:
        raise _UsageError("bench: --seeds and --iterations must be at least 1, --trials at least 2")
    from metagui.core.bench_transfer import run_transfer_benchmark
    from metagui.core.bench_transfer_figures import format_summary

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_transfer_benchmark(seeds, trials, iterations, folder=args.keep, log=log)
    print(json.dumps(result) if args.json else format_summary(result), flush=True)
    return 0


def _bench_gui(args: argparse.Namespace) -> int:
    """What the app costs training (the same study headless and in the window), and how long
    the window's event loop stalls meanwhile."""
    if args.only:
        raise _UsageError("bench: --only names the training benchmarks, not --gui")
    if args.seconds is not None and not args.seconds > 0:
        raise _UsageError("bench: --seconds must be positive")
    if args.repeats < 1:
        raise _UsageError("bench: --repeats must be at least 1")
    from metagui.qt.bench_gui import DEFAULT_SECONDS, format_summary, run_gui_benchmark

    seconds = DEFAULT_SECONDS if args.seconds is None else args.seconds
    result = run_gui_benchmark(
        seconds, device=args.device, repeats=args.repeats, switch_tabs=args.switch_tabs
    )
    print(json.dumps(result) if args.json else format_summary(result), flush=True)
    return 0


def _bench_history(args: argparse.Namespace) -> int:
    """A big generated history: opened in the app, followed live, listed by ``metagui
    history``, and the writer's rows per second."""
    if args.repeats != 1 or args.switch_tabs or args.parallel is not None or args.gpus_per_trial:
        raise _UsageError(
            "bench: --repeats, --switch-tabs, --parallel and --gpus-per-trial are not for --history"
        )
    if (args.trials is not None and args.trials < 1) or (args.steps is not None and args.steps < 1):
        raise _UsageError("bench: --trials and --steps must be at least 1")
    from metagui.qt.bench_history_gui import PARTS, format_summary, run_history_benchmark

    result = run_history_benchmark(
        10_000 if args.trials is None else args.trials,
        1_000 if args.steps is None else args.steps,
        db=args.db,
        parts=tuple(args.only) if args.only else PARTS,
        live_seconds=10.0 if args.seconds is None else args.seconds,
    )
    print(json.dumps(result) if args.json else format_summary(result), flush=True)
    return 0


def _predict(args: argparse.Namespace) -> int:
    """One task (``--support``, ``--query``): ``path<TAB>class`` per query file. Many tasks
    (``--episodes``): ``task<TAB>path<TAB>class<TAB>score`` per query file and, with labels,
    the accuracy with its 95% confidence interval over the tasks on stderr."""
    if args.episodes is not None and (args.support is not None or args.query is not None):
        raise _UsageError("predict: give either --episodes or --support and --query, not both")
    if args.episodes is None and (args.support is None or args.query is None):
        raise _UsageError("predict: give --support and --query (or --episodes)")
    import metagui

    model = metagui.load(args.checkpoint, device=args.device, bn=args.bn, steps=args.steps)
    if args.episodes is None:
        for prediction in model.adapt(args.support).predict(args.query):
            print(f"{prediction.path}\t{prediction.label}")
        return 0
    from metagui.core.predict_episodes import find_tasks, predict_tasks, summary

    accuracies = []
    for result in predict_tasks(model, find_tasks(Path(args.episodes), model)):
        for p in result.predictions:
            print(f"{result.task}\t{p.path}\t{p.label}\t{p.score:.4f}")
        if result.accuracy is not None:
            accuracies.append(result.accuracy)
    sys.stdout.flush()
    if accuracies:
        total = summary(accuracies)
        print(
            f"accuracy: {100 * total.final:.2f} ± {100 * total.final_ci95:.2f} % "
            f"(95% confidence interval) over {total.tasks} labelled "
            f"task{'' if total.tasks == 1 else 's'}",
            file=sys.stderr,
        )
    return 0


def _episodes(args: argparse.Namespace) -> int:
    """Write fixed episodes of a task set's split as folders ``metagui predict --episodes``
    reads."""
    from metagui.core.predict_episodes import write_episodes
    from metagui.core.spec import load_train_spec

    if args.count < 1:
        raise _UsageError("episodes: --count must be at least 1")
    spec = load_train_spec(args.spec, args.set)
    taskset = spec.taskset.build()
    out = Path(args.out)
    files = write_episodes(taskset, args.split, args.count, args.seed, out)
    print(
        f"wrote {args.count} episodes of the {args.split} split ({files} files) to {out}; "
        f"{taskset.describe()}"
    )
    return 0


def _app(args: argparse.Namespace) -> int:
    """The desktop app; with ``--screenshot``, rendered offscreen into a PNG."""
    if args.app_run_seconds is not None and args.app_run_seconds < 0:
        raise _UsageError("--run-seconds must not be negative")
    if args.app_experiment is not None and not Path(args.app_experiment).is_file():
        raise _UsageError(f"{args.app_experiment}: no such experiment file")
    if args.app_show == "history":
        if args.app_db is None:
            raise _UsageError("--show history: give the history to show with --db")
        if not Path(args.app_db).is_file():
            raise _UsageError(f"{args.app_db}: no such history database")
    if args.app_screenshot is None:
        # Asked before Qt is loaded: where Qt cannot open a window it aborts the process.
        from metagui.qt._display import window_problem

        problem = window_problem()
        if problem is not None:
            raise _UsageError(problem)
    from metagui.qt.app import run_app

    return run_app(
        experiment=args.app_experiment,
        database=args.app_db,
        demo=args.app_demo,
        screenshot=args.app_screenshot,
        run_seconds=args.app_run_seconds,
        plot=args.app_plot,
        show=args.app_show,
    )


class _UsageError(Exception):
    """A command-line mistake (e.g. an unknown benchmark name): one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    """The command line: the app's options, then one sub-command each (the study commands,
    run, history and export, come from :mod:`metagui.cli._study`)."""
    from metagui.cli._study import add_study_commands

    parser = argparse.ArgumentParser(
        prog="metagui", description="Desktop experiment manager for meta-learning."
    )
    parser.add_argument("--version", action="version", version=f"metagui {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of any error (also METAGUI_DEBUG=1); put it before the "
        "command: metagui --debug run ...",
    )
    _add_app_options(parser)
    sub = parser.add_subparsers(dest="command")
    _add_demo(sub)
    _add_train(sub)
    add_study_commands(sub)
    _add_bench(sub)
    _add_predict(sub)
    _add_episodes(sub)
    return parser


def _add_app_options(parser: argparse.ArgumentParser) -> None:
    app = parser.add_argument_group("the desktop app (metagui without a command)")
    app.add_argument(
        "--experiment", dest="app_experiment", metavar="FILE", help="open this experiment file"
    )
    app.add_argument(
        "--demo", dest="app_demo", action="store_true", help="open the demo study and run it"
    )
    app.add_argument(
        "--db", dest="app_db", metavar="PATH", help="record runs in this history database"
    )
    app.add_argument(
        "--screenshot",
        dest="app_screenshot",
        metavar="PATH",
        help="render the window offscreen into this PNG and exit (no display needed)",
    )
    app.add_argument(
        "--plot",
        dest="app_plot",
        choices=(
            "loss",
            "hyperparameters",
            "best_so_far",
            "pareto",
            "parallel_coordinates",
            "importance",
        ),
        help="the live plot to show (with --screenshot; pareto: a two-objective study's)",
    )
    app.add_argument(
        "--show",
        dest="app_show",
        choices=("live", "history"),
        help="the tab in front: the live run (default) or the History tab with the --db "
        "history open and its newest study selected (--plot: that study's plot)",
    )
    app.add_argument(
        "--run-seconds",
        dest="app_run_seconds",
        type=float,
        metavar="N",
        help="run the experiment for N seconds (before the screenshot)",
    )


def _add_demo(sub: _SubParsers) -> None:
    demo = sub.add_parser("demo", help="a short sinusoid MAML training with a progress bar")
    demo.add_argument("--iterations", type=int, default=None, help="default: 1500")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the run (default: 0)")
    demo.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    demo.set_defaults(func=_demo)


def _add_train(sub: _SubParsers) -> None:
    train = sub.add_parser("train", help="meta-train one spec file, optionally save a checkpoint")
    train.add_argument("spec", help="YAML or JSON file with the run's settings")
    train.add_argument("-o", "--output", help="write the trained model's checkpoint here")
    train.add_argument("--device", default=None, help="override the file's device")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a setting by its dotted path, e.g. --set training.iterations=100",
    )
    train.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop the training after S seconds (training.time_budget_s); the final "
        "evaluation and the checkpoint still happen",
    )
    train.add_argument(
        "--timeout-includes-eval",
        action="store_true",
        help="with a time budget: stop the training early enough that the final evaluation "
        "also ends within it (training.time_budget_includes_eval)",
    )
    train.set_defaults(func=_train)


def _add_bench(sub: _SubParsers) -> None:
    bench = sub.add_parser("bench", help="measure meta-training throughput")
    bench.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    bench.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    bench.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="time per measured path (default: 6, with --gui 20, with --study 30, with "
        "--history 10 of following a live run)",
    )
    bench.add_argument(
        "--gui",
        action="store_true",
        help="the app's cost instead: the demo study headless and in the window (offscreen "
        "without a display), and the window's event-loop stalls while it trains",
    )
    bench.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="N",
        help="with --gui: N headless/app pairs in alternating order; the median ratio counts",
    )
    bench.add_argument(
        "--switch-tabs",
        action="store_true",
        help="with --gui: the throughput runs also switch the plot tabs every second",
    )
    bench.add_argument(
        "--study",
        action="store_true",
        help="study throughput instead: the same study of short trials serial and --parallel "
        "N at once on a local Ray cluster (completed trials per minute, once warm)",
    )
    bench.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help="with --study: trials at once (default: one per CPU core)",
    )
    bench.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        metavar="F",
        help="with --study: the parallel trials share GPUs, F each (e.g. 0.25)",
    )
    bench.add_argument(
        "--history",
        action="store_true",
        help="big histories instead: a generated history of --trials x --steps (one metric) "
        "opened in the app, followed while a writer appends (--seconds), listed by metagui "
        "history, and the writer's rows per second; CPU times",
    )
    bench.add_argument(
        "--transfer",
        action="store_true",
        help="transfer from the experience pool instead: per seed, cold TPE searches of "
        "related sinusoid problems, then warm_start: auto searches of each learning from the "
        "others, and from an unrelated problem; trials to reach the cold search's best",
    )
    bench.add_argument(
        "--seeds", type=int, default=None, metavar="N", help="with --transfer: default 5"
    )
    bench.add_argument(
        "--iterations",
        type=int,
        default=None,
        metavar="N",
        help="with --transfer: meta-iterations per trial (default 60)",
    )
    bench.add_argument(
        "--keep",
        default=None,
        metavar="FOLDER",
        help="with --transfer: write each seed's history there (seed-N.sqlite) and keep it",
    )
    bench.add_argument(
        "--trials",
        type=int,
        default=None,
        metavar="N",
        help="with --history: default 10000; with --transfer: trials per search, default 30",
    )
    bench.add_argument(
        "--steps", type=int, default=None, metavar="N", help="with --history: default 1000"
    )
    bench.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="with --history: keep the generated history here and reuse it next time",
    )
    bench.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (with --history: startup, open, live, cli or writer)",
    )
    bench.set_defaults(func=_bench)


def _add_predict(sub: _SubParsers) -> None:
    from metagui.core.predict import BN_HELP, BN_MODES, DEFAULT_BN

    predict = sub.add_parser(
        "predict",
        help="classify query files with a meta-trained model",
        description="Adapt a meta-trained model to the labelled examples of a new task and "
        "classify its query files: one task (--support and --query) or a folder of tasks "
        "(--episodes).",
    )
    predict.add_argument(
        "--checkpoint",
        required=True,
        metavar="FILE",
        help="a model written by metagui train -o, metagui export --format checkpoint or the "
        "app's export",
    )
    predict.add_argument(
        "--support",
        metavar="DIR",
        help="folder with one subfolder per class holding its examples (nested class folders, "
        "e.g. Alphabet/character01, as in training)",
    )
    predict.add_argument(
        "--query", metavar="DIR", help="folder of files to classify; prints path<TAB>class"
    )
    predict.add_argument(
        "--episodes",
        metavar="DIR",
        help="instead of --support/--query: a folder of task folders, each with support/<class>/"
        "..., query/... and optionally query_labels.csv (path,class; paths relative to the "
        "task or its query folder); prints task<TAB>path<TAB>class<TAB>score and, with "
        "labels, the accuracy with a 95%% confidence interval over tasks on stderr",
    )
    predict.add_argument(
        "--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default: cpu)"
    )
    predict.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="adaptation steps on the support set (default: the checkpoint's settings)",
    )
    predict.add_argument(
        "--bn", choices=BN_MODES, default=DEFAULT_BN, help=BN_HELP.replace("%", "%%")
    )
    predict.set_defaults(func=_predict)


def _add_episodes(sub: _SubParsers) -> None:
    episodes = sub.add_parser(
        "episodes",
        help="write fixed episodes of a task set as folders for predict --episodes",
        description="Sample episodes of a split of an experiment's image task set (with its "
        "N-way, K-shot and query settings) and write each as a task folder: support/<class>/, "
        "query/ and query_labels.csv. The same seed writes the same episodes anywhere.",
    )
    episodes.add_argument("spec", metavar="FILE", help="experiment or spec file (YAML/TOML/JSON)")
    episodes.add_argument(
        "--split",
        choices=("train", "validation", "test"),
        default="test",
        help="the split whose classes the episodes use (default: test)",
    )
    episodes.add_argument(
        "--count", type=int, default=100, metavar="N", help="how many episodes (default: 100)"
    )
    episodes.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    episodes.add_argument(
        "--out", required=True, metavar="DIR", help="a new or empty folder to write them to"
    )
    episodes.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting by its dotted path, e.g. --set taskset.n_way=20",
    )
    episodes.set_defaults(func=_episodes)


def main(argv: Sequence[str] | None = None) -> int:
    from metagui.core.errors import MetaguiError

    parser = _parser()
    args = parser.parse_args(argv)
    app_options = (
        "app_experiment",
        "app_demo",
        "app_db",
        "app_screenshot",
        "app_run_seconds",
        "app_plot",
        "app_show",
    )
    if args.command is not None and any(getattr(args, name) for name in app_options):
        parser.error(
            "--experiment, --demo, --db, --screenshot and --run-seconds before a command "
            "are options of the app (metagui without a command)"
        )
    debug = args.debug or os.environ.get("METAGUI_DEBUG", "") not in ("", "0")
    try:
        if args.command is None:
            return _app(args)
        code: int = args.func(args)
        return code
    except (MetaguiError, _UsageError) as exc:
        # Errors a user can cause or meet (a bad value, a full disk, a damaged file): one line
        # that names the file or field and what to do.
        if debug:
            traceback.print_exc()
        print(f"metagui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metagui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Anything else is a bug of metagui: its traceback is for the report, not the screen.
        if debug:
            traceback.print_exc()
            return 1
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"metagui: internal error: {type(exc).__name__}: {exc} (at "
            f"{Path(where.filename).name}:{where.lineno}); run again with metagui --debug "
            "for the traceback, and please report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
