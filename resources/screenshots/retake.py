"""Retake the README's pictures of a study's trials offscreen (no display needed), at the size
the README shows them (``metagui --screenshot``'s 1600x1000):

    .venv/bin/python resources/screenshots/retake.py                # all four
    .venv/bin/python resources/screenshots/retake.py parallel-run   # one of them

- ``main-window.png``: the sinusoid search (``resources/examples/sinusoid-search.yaml``), one
  trial at a time, 90 s in, the loss curves in front;
- ``parallel.png``: the demo study (``metagui --demo``) run to its end, the parallel
  coordinates in front;
- ``parallel-run.png``: the sinusoid search (``resources/examples/sinusoid-search.yaml``,
  1500 meta-iterations a trial) with two trials at once on a Ray cluster started on this
  machine for the study (and shut down with it), 60 s in, the Strategy & budget tab with the
  Execution settings in front;
- ``pareto.png``: the two-objective example (``resources/examples/sinusoid-two-objectives.yaml``:
  validation MSE against the network's size, NSGA-II) run to its end, its Pareto front in front.

Each picture is taken in a process of its own, as ``metagui --screenshot`` takes it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
PARALLEL_RUN = [
    "name=sinusoid-parallel",
    "training.iterations=1500",
    "training.eval_every=250",
    "execution.parallel=2",
]


def take(name: str) -> int:
    """Take picture ``name`` in this process; the exit code of ``metagui --screenshot``."""
    from metagui.core.experiment_io import load_experiment, save_experiment
    from metagui.qt.app import run_app

    target = str(HERE / f"{name}.png")
    if name == "main-window":
        return run_app(
            screenshot=target, experiment=str(EXAMPLES / "sinusoid-search.yaml"), run_seconds=90
        )
    if name == "pareto":
        return run_app(
            screenshot=target,
            experiment=str(EXAMPLES / "sinusoid-two-objectives.yaml"),
            run_seconds=600,
            plot="pareto",
        )
    if name == "parallel":
        return run_app(screenshot=target, demo=True, run_seconds=600, plot="parallel_coordinates")
    with tempfile.TemporaryDirectory(prefix="metagui-shots-") as scratch:
        experiment = Path(scratch) / "sinusoid-parallel.yaml"
        spec = load_experiment(EXAMPLES / "sinusoid-search.yaml", PARALLEL_RUN)
        save_experiment(spec, experiment)
        return run_app(
            screenshot=target, experiment=str(experiment), run_seconds=60, setup="strategy"
        )


def main(names: list[str]) -> int:
    known = ("main-window", "parallel", "parallel-run", "pareto")
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"retake.py: no picture {unknown[0]!r} (known: {', '.join(known)})", file=sys.stderr)
        return 2
    if len(names) == 1:
        return take(names[0])
    codes = [subprocess.call([sys.executable, __file__, n]) for n in names or known]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
