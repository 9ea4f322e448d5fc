"""Every example experiment in resources/examples runs headless, shortened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from metagui.core.experiment_io import load_experiment
from metagui.core.runner import StudyEnded, StudyRunner, TrialEnded

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.yaml"))
OMNIGLOT = ROOT.parent / "shared" / "data" / "omniglot"

# Shrink the inputs, never the assertions: two tiny trials of two meta-iterations each.
SHORT = [
    "training.iterations=2",
    "training.meta_batch_size=2",
    "training.eval_every=1",
    "training.eval_tasks=2",
    "training.test_tasks=2",
    "training.log_every=1",
    "budget.trials=2",
    "budget.timeout_s=null",
]


def test_there_is_an_example_per_task_set_family() -> None:
    from metagui.core.tasksets import FAMILY_NAMES

    # The examples' data paths are the user's to fill in: not checked here.
    families = {load_experiment(p, check_resources=False).taskset.family for p in EXAMPLES}
    assert families == set(FAMILY_NAMES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_headless(
    path: Path, tmp_path: Path, write_gray_classes: Callable[..., Path]
) -> None:
    overrides = list(SHORT)
    family = load_experiment(path, check_resources=False).taskset.family
    if family in ("omniglot", "image_folder"):
        overrides.append("model.filters=8")
    if family == "omniglot":
        if not OMNIGLOT.is_dir():
            pytest.skip(f"the Omniglot subsets are not at {OMNIGLOT} (a clone without ../shared)")
        overrides += [
            f"taskset.root={OMNIGLOT}",
            "taskset.background=images_background_small1",
            "taskset.evaluation=images_background_small2",
            "taskset.download=false",
        ]
    if family == "image_folder":
        levels = {f"class{i:02d}": 5 + 6 * i for i in range(40)}
        root = write_gray_classes(tmp_path / "images", levels, per_class=16, size=28)
        overrides.append(f"taskset.root={root}")
    spec = load_experiment(path, overrides=overrides)
    reports = list(StudyRunner(spec, tmp_path / "history.sqlite", device="cpu").run())
    ended = [r for r in reports if isinstance(r, TrialEnded)]
    assert ended, "no trial ran"
    assert all(e.state in ("COMPLETE", "PRUNED") for e in ended), [e.error for e in ended]
    assert any(e.state == "COMPLETE" for e in ended)
    final = reports[-1]
    assert isinstance(final, StudyEnded)
    # A two-objective study has a Pareto front, not one best value.
    assert final.best_value is not None if spec.objective.second is None else final.front
    if not spec.search_space.params:
        assert len(ended) == 1 and final.reason == "exhausted"
