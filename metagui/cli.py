"""The ``metagui`` command line: the same core as the app, without a window."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from metagui import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """A short sinusoid MAML run with a progress bar: the quickest look at the engine."""
    from tqdm import tqdm

    from metagui.core.reports import StepReport, TrainingFinished
    from metagui.core.spec import load_train_spec, validate_train_spec
    from metagui.core.training import MetaTraining

    spec = load_train_spec(_resource("examples/demo-sinusoid-maml.yaml"))
    overrides = {"seed": args.seed, "device": args.device}
    if args.iterations is not None:
        overrides["training"] = {**spec.training.model_dump(), "iterations": args.iterations}
    spec = validate_train_spec({**spec.model_dump(), **overrides}, "metagui demo")
    run = MetaTraining(spec)
    print(f"metagui demo: MAML on sinusoid regression (10-shot), device {run.device_name}")
    with tqdm(total=spec.training.iterations, unit="it", desc="meta-training") as bar:
        for report in run.run():
            if isinstance(report, StepReport):
                bar.update(report.step - bar.n)
                bar.set_postfix(
                    loss=f"{report.train_loss:.3f}", tasks_s=f"{report.tasks_per_s:.0f}"
                )
            elif isinstance(report, TrainingFinished):
                test = report.test
                steps = ", ".join(
                    f"{k}: {m:.3f}±{c:.3f}"
                    for k, (m, c) in enumerate(zip(test.means, test.ci95, strict=True))
                    if k in (0, 1, 5, 10)
                )
                bar.close()
                print(f"meta-test MSE on {test.tasks} new tasks after k steps: {steps}")
                print(f"done in {report.elapsed_s:.1f} s")
    return 0


def _resource(relative: str) -> Path:
    """A file under ``resources/`` (next to the package in a source checkout)."""
    return Path(__file__).resolve().parent.parent / "resources" / relative


def _bench(args: argparse.Namespace) -> int:
    from metagui.core.bench import BENCHMARKS, run_benchmark

    names = args.only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise _UsageError(f"bench: unknown benchmark {unknown[0]!r} (have {', '.join(BENCHMARKS)})")
    for name in names:
        result = run_benchmark(name, device=args.device, min_seconds=args.seconds)
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


def _predict(args: argparse.Namespace) -> int:
    from metagui.core.predict import predict_folders

    for path, label in predict_folders(
        args.checkpoint, args.support, args.query, device=args.device, steps=args.steps
    ):
        print(f"{path}\t{label}")
    return 0


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metagui", description="Desktop experiment manager for meta-learning."
    )
    parser.add_argument("--version", action="version", version=f"metagui {__version__}")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="a short sinusoid MAML training with a progress bar")
    demo.add_argument("--iterations", type=int, default=None, help="default: 1500")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=_demo)

    bench = sub.add_parser("bench", help="measure meta-training throughput")
    bench.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--seconds", type=float, default=6.0, help="time per measured path")
    bench.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark")
    bench.set_defaults(func=_bench)

    predict = sub.add_parser("predict", help="classify query files with a meta-trained model")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("--support", required=True, help="folder with one subfolder per class")
    predict.add_argument("--query", required=True, help="folder of files to classify")
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--steps", type=int, default=None, help="adaptation steps (default: spec)")
    predict.set_defaults(func=_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from metagui.core.errors import MetaguiError

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code: int = args.func(args)
        return code
    except (MetaguiError, _UsageError) as exc:
        print(f"metagui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metagui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
