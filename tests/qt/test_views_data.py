"""A realistic study history for the view tests, written with the real HistoryWriter: a
search over MAML-family learners on sinusoid regression with complete, pruned, failed and
running trials, per-step metrics and learned inner learning rates. The ``clock``, ``history`` and
``model`` fixtures over it are in ``conftest.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from metagui.core.experiment_io import load_experiment
from metagui.core.history import Direction, HistoryWriter
from metagui.qt._history_model import HistoryModel
from metagui.qt.views import LiveView

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "sinusoid-search.yaml"
T0 = 1_750_000_000.0

# number -> (state, value, params); values are validation MSE (lower is better)
TRIALS: list[tuple[str, float | None, dict[str, Any]]] = [
    ("COMPLETE", 0.42, {"algorithm.name": "maml", "algorithm.inner_lr": 0.01,
                        "algorithm.inner_steps": 1, "optimizer.lr": 0.001,
                        "model.activation": "relu"}),
    ("COMPLETE", 0.15, {"algorithm.name": "metasgd", "algorithm.inner_lr": 0.05,
                        "algorithm.inner_steps": 3, "optimizer.lr": 0.003,
                        "model.activation": "relu"}),
    ("PRUNED", None, {"algorithm.name": "reptile", "algorithm.inner_lr": 0.3,
                      "algorithm.inner_steps": 5, "optimizer.lr": 0.0002,
                      "model.activation": "tanh"}),
    ("COMPLETE", 0.31, {"algorithm.name": "cnp", "optimizer.lr": 0.0005,
                        "model.activation": "tanh"}),
    ("FAILED", None, {"algorithm.name": "maml", "algorithm.inner_lr": 0.45,
                      "algorithm.inner_steps": 4, "optimizer.lr": 0.009,
                      "model.activation": "relu"}),
    ("COMPLETE", 0.09, {"algorithm.name": "mamlpp", "algorithm.inner_lr": 0.02,
                        "algorithm.inner_steps": 2, "optimizer.lr": 0.002,
                        "model.activation": "relu"}),
    ("COMPLETE", 0.27, {"algorithm.name": "anil", "algorithm.inner_lr": 0.1,
                        "algorithm.inner_steps": 1, "optimizer.lr": 0.0001,
                        "model.activation": "tanh"}),
    ("RUNNING", None, {"algorithm.name": "fomaml", "algorithm.inner_lr": 0.005,
                       "algorithm.inner_steps": 2, "optimizer.lr": 0.004,
                       "model.activation": "relu"}),
]  # fmt: skip
ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB\nTraceback (most recent call last): ..."
PRUNED_REASON = "median pruner: validation MSE 1.93 above the median 0.61 at step 500"
STEPS = 1500  # meta-training iterations of a trial that runs to the end
LOG_EVERY = 50
EVAL_EVERY = 250


class Clock:
    """A fake wall clock for the writer, so trials take realistic minutes."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def train_loss(number: int, step: int) -> float:
    floor = 0.05 + 0.04 * number
    return floor + 4.0 * math.exp(-step / (250.0 + 40 * number)) * (1 + 0.08 * math.sin(step))


def val_mse(number: int, step: int, final: float | None) -> float:
    end = final if final is not None else 0.6
    return end + 3.0 * math.exp(-step / 300.0)


@dataclass
class History:
    path: Path
    writer: HistoryWriter
    clock: Clock
    study_id: int
    ids: dict[int, int] = field(default_factory=dict)  # trial number -> trial id
    steps_written: dict[int, int] = field(default_factory=dict)

    def write_steps(self, number: int, until: int, value: float | None = None) -> None:
        """Metrics of trial ``number`` from where it stopped to step ``until``."""
        trial_id = self.ids[number]
        start = self.steps_written.get(number, -LOG_EVERY) + LOG_EVERY
        for step in range(start, until + 1, LOG_EVERY):
            values = {"train/loss": train_loss(number, step)}
            if step % EVAL_EVERY == 0 and step > 0:
                values["val/mse"] = val_mse(number, step, value)
                values["val/mse_ci95"] = 0.1 * values["val/mse"]
            self.writer.add_metrics(trial_id, step, values, time=self.clock.advance(2.0))
            self.steps_written[number] = step
        self.writer.flush()

    def write_learned(self, number: int, until: int, per_step: bool = False) -> None:
        trial_id = self.ids[number]
        for step in range(0, until + 1, LOG_EVERY):
            values: dict[str, float] = {}
            for i, layer in enumerate(("body.0", "body.1", "head")):
                lr = 0.01 * (1 + i) * (1 + 0.5 * (1 - math.exp(-step / 400)))
                if per_step:
                    for k in range(2):
                        values[f"inner_lr/{layer}/step{k}"] = lr * (1 + 0.3 * k)
                else:
                    values[f"inner_lr/{layer}"] = lr
            self.writer.add_learned(trial_id, step, values, time=self.clock.now)
        self.writer.flush()

    def start(self, number: int, params: dict[str, Any]) -> int:
        self.clock.advance(5.0)
        self.ids[number] = self.writer.start_trial(self.study_id, number, params, seed=number)
        return self.ids[number]


def write_study(
    path: Path,
    clock: Clock,
    trials: list[tuple[str, float | None, dict[str, Any]]] = TRIALS,
    name: str = "sinusoid-search",
    direction: Direction = "minimize",
    writer: HistoryWriter | None = None,
) -> History:
    spec = load_experiment(EXAMPLE)
    writer = writer or HistoryWriter(path, flush_rows=100_000, flush_seconds=1e9)
    clock.now = max(clock.now, T0)
    study_id = writer.create_study(
        name, spec.model_dump_json(by_alias=True), direction, spec.strategy.name, 0
    )
    history = History(path, writer, clock, study_id)
    for number, (state, value, params) in enumerate(trials):
        trial_id = history.start(number, params)
        if state == "FAILED":
            history.write_steps(number, 100)
            clock.advance(3.0)
            writer.finish_trial(trial_id, "FAILED", error=ERROR)
            continue
        if state == "PRUNED":
            history.write_steps(number, 500)
            writer.finish_trial(trial_id, "PRUNED", pruned_at_step=500, pruned_reason=PRUNED_REASON)
            continue
        history.write_steps(number, STEPS if state == "COMPLETE" else 600, value)
        if params.get("algorithm.name") == "metasgd":
            history.write_learned(number, STEPS)
        if params.get("algorithm.name") == "mamlpp":
            history.write_learned(number, STEPS, per_step=True)
        if state == "COMPLETE":
            assert value is not None
            writer.finish_trial(trial_id, "COMPLETE", value=value, test_value=value * 1.1)
    return history


def shown(qtbot: QtBot, view: LiveView, study_id: int) -> None:
    """``view`` on screen (900 x 500), showing study ``study_id``, drawn."""
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_study(study_id)
    view.redraw()


def test_the_history_holds_what_the_views_are_tested_on(
    history: History, model: HistoryModel
) -> None:
    study = model.studies[history.study_id]
    assert [t.state for t in study.ordered_trials()] == [s for s, _, _ in TRIALS]
    assert study.best_trial() is not None and study.best_trial().number == 5  # type: ignore[union-attr]
    assert study.trials[history.ids[4]].error == ERROR
    assert "train/loss" in study.metrics[history.ids[7]]
    assert "inner_lr/body.0" in study.learned[history.ids[1]]
    assert study.is_log("optimizer.lr") and not study.maximize
    finished = [t.finished for t in study.ordered_trials() if t.finished is not None]
    assert finished == sorted(finished) and finished[-1] - finished[0] > 60


def test_the_model_reads_a_study_experiment_again_once_it_is_replaced(
    history: History, model: HistoryModel
) -> None:
    """A study resumed with an edited search space has a new stored experiment: the model's
    parameter names and log axes follow it (they were read once, at first sight)."""
    import json

    study = model.studies[history.study_id]
    before = study.search_params()
    assert before and study.param_names()
    spec = dict(study.spec)
    spec["search_space"] = {
        "params": [{"name": "model.width", "type": "int", "low": 1, "high": 9, "log": True}]
    }
    history.writer.set_study_experiment(history.study_id, json.dumps(spec), "random")
    history.writer.flush()
    assert model.poll()
    assert study.search_params() == spec["search_space"]["params"]
    assert study.param_names()[0] == "model.width" and study.is_log("model.width")
