"""Two-objective studies (``objective.second``): what the experiment file refuses, what a trial
is measured by, the strategy's front, a real study's stored front against a direct
computation of the non-dominated set, resume, and the checkpoints kept by non-dominated
sorting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from metagui.core.errors import MetaguiError
from metagui.core.execution import Finished, Placed, TrialEvent, TrialJob, train_trial
from metagui.core.experiment import ExperimentSpec, PrunerSpec, StrategySpec
from metagui.core.history import HistoryReader, TrialRow, artifact_folder
from metagui.core.models import build_model
from metagui.core.pareto import front_trials, pareto_front
from metagui.core.reports import EvalResult, TrainingFinished
from metagui.core.runner import StudyEnded, StudyRunner, StudyStarted, TrialEnded
from metagui.core.search_space import SearchSpace
from metagui.core.strategies import PastTrial, Strategy
from metagui.core.tasksets import build_taskset

HIDDEN = "model.hidden_sizes.0"


def experiment(**overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "two",
        "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
        "model": {"hidden_sizes": [8, 6]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {
            "iterations": 3,
            "meta_batch_size": 2,
            "eval_every": 0,
            "eval_tasks": 4,
            "test_tasks": 4,
            "log_every": 3,
        },
        "search_space": {
            "params": [
                {"name": HIDDEN, "type": "int", "low": 2, "high": 40},
                {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.3},
            ]
        },
        "objective": {"second": {"metric": "parameters"}},
        "strategy": {"name": "nsga2", "population_size": 3},
        "budget": {"trials": 6},
        "device": "cpu",
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def mlp_parameters(h0: int, h1: int = 6) -> int:
    """The oracle: weights and biases of a 1 -> h0 -> h1 -> 1 MLP (sinusoid regression)."""
    return (1 * h0 + h0) + (h0 * h1 + h1) + (h1 * 1 + 1)


def non_dominated(points: dict[int, tuple[float, ...]], signs: tuple[float, ...]) -> list[int]:
    """The second oracle, by brute force: the keys whose point no other point dominates."""

    def beats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        costs = [(s * x, s * y) for s, x, y in zip(signs, a, b, strict=True)]
        return all(x <= y for x, y in costs) and any(x < y for x, y in costs)

    return sorted(n for n, p in points.items() if not any(beats(q, p) for q in points.values()))


def stored(db: Path, name: str = "two") -> tuple[Any, list[TrialRow]]:
    with HistoryReader(db) as reader:
        study = reader.study(name)
        assert study is not None
        return study, reader.trials(study.id)


# -- load-time checks ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nsga2", "tpe", "gp", "random", "sobol", "grid"])
def test_the_strategies_that_search_two_objectives_load(name: str) -> None:
    spec = experiment(strategy={"name": name})
    assert spec.objective.objectives("regression")[1].name == "parameters"


@pytest.mark.parametrize("name", ["cmaes", "pso", "de"])
def test_a_strategy_of_one_objective_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError, match=rf"strategy\.name: {name} searches one objective"):
        experiment(strategy={"name": name})
    experiment(strategy={"name": name}, objective={})  # one objective: fine


def test_pruners_and_the_pools_one_value_ranking_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"pruner\.name: the median pruner ranks"):
        experiment(pruner={"name": "median"})
    with pytest.raises(ValidationError, match=r"experience\.prior: ranks the pool's trials"):
        experiment(warm_start="auto")
    with pytest.raises(ValidationError, match=r"experience\.pruning: ranks the pool's trials"):
        experiment(warm_start="auto", experience={"prior": False})
    # The pool's initial design alone, and named warm-start studies, are allowed.
    experiment(warm_start="auto", experience={"prior": False, "pruning": False})
    experiment(warm_start=["earlier"])


def test_the_strategy_refuses_what_ranks_by_one_value() -> None:
    space = experiment().search_space
    for strategy, pruner in (("cmaes", "none"), ("nsga2", "median")):
        with pytest.raises(ValueError):
            Strategy(
                space,
                StrategySpec(name=strategy),  # type: ignore[arg-type]
                PrunerSpec(name=pruner),  # type: ignore[arg-type]
                "minimize",
                0,
                directions=("minimize", "minimize"),
            )


# -- the strategy ----------------------------------------------------------------------------


def search(name: str = "nsga2") -> Strategy:
    space = SearchSpace.model_validate(
        {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}
    )
    return Strategy(
        space,
        StrategySpec(name=name, population_size=4, startup_trials=2),  # type: ignore[arg-type]
        PrunerSpec(),
        "minimize",
        0,
        directions=("minimize", "maximize"),
    )


@pytest.mark.parametrize("name", ["nsga2", "tpe", "gp"])
def test_the_strategy_learns_both_values_and_keeps_the_front(name: str) -> None:
    strategy = search(name)
    told: dict[int, tuple[float, float]] = {}
    for _ in range(8):
        proposal = strategy.ask()
        strategy.report(proposal, 1, 0.5)  # intermediate values are kept, not given Optuna
        x = proposal.params["x"]
        told[proposal.number] = (x, (x - 0.3) ** 2)
        strategy.tell(proposal, told[proposal.number])
    pruned = strategy.ask()  # by hand: a pruned trial has no values, and the search goes on
    strategy.report(pruned, 1, 0.7)
    strategy.tell_pruned(pruned, None, None)
    strategy.tell(strategy.ask(), (0.9, 0.0))
    told[pruned.number + 1] = (0.9, 0.0)
    assert strategy.best is None
    front = strategy.front
    assert [p.number for p, _ in front] == non_dominated(told, (1.0, -1.0))
    assert all(values == told[p.number] for p, values in front)
    complete = [t for t in strategy.study.trials if t.state.name == "COMPLETE"]
    assert [t.values for t in complete] == [list(told[n]) for n in sorted(told)]


def test_a_value_that_cannot_be_ranked_fails_the_trial_and_a_missing_one_is_refused() -> None:
    strategy = search()
    proposal = strategy.ask()
    with pytest.raises(ValueError, match="2 objectives, 1 value"):
        strategy.tell(proposal, 0.5)
    strategy.tell(proposal, (0.5, math.nan))
    assert strategy.study.trials[0].state.name == "FAIL"
    assert strategy.front == []


def test_load_rebuilds_the_front_from_past_values() -> None:
    strategy = search("tpe")
    strategy.load(
        [
            PastTrial(0, {"x": 0.1}, "COMPLETE", 0.1, values=(0.1, 0.2)),
            PastTrial(1, {"x": 0.2}, "COMPLETE", 0.2, values=(0.2, 0.5)),
            PastTrial(2, {"x": 0.3}, "COMPLETE", 0.3, values=(0.3, 0.4)),  # beaten by 1
            PastTrial(3, {"x": 0.4}, "PRUNED", None, {2: 0.4}),
            PastTrial(4, {"x": 0.5}, "COMPLETE", 0.5),  # one value in a study of two
        ]
    )
    assert [p.number for p, _ in strategy.front] == [0, 1]
    states = [t.state.name for t in strategy.study.trials]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    assert strategy.study.trials[2].values == [0.3, 0.4]
    assert strategy.ask().number == 5


# -- measures --------------------------------------------------------------------------------


def test_a_trial_measures_its_parameters_training_and_adaptation_time() -> None:
    spec = experiment().trial_spec({HIDDEN: 11}, seed=3)
    job = TrialJob(0, spec.model_dump_json(), "cpu", "two", "validation")
    events = list(train_trial(job))
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    model = build_model(spec.model, build_taskset(spec.taskset).info)
    built = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert finished.measures["parameters"] == built == mlp_parameters(11)
    assert finished.measures["training_time"] > 0
    assert finished.measures["adaptation_time"] > 0


@pytest.mark.parametrize("metric", ["training_time", "adaptation_time"])
def test_a_study_scored_by_time_records_positive_times(tmp_path: Path, metric: str) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(objective={"second": {"metric": metric}}, budget={"trials": 2})
    list(StudyRunner(spec, db).run())
    study, trials = stored(db)
    assert [o.name for o in study.objectives] == ["val/mse", metric]
    for t in trials:
        assert t.state == "COMPLETE" and t.values is not None
        assert t.values[0] == t.value and t.values[1] > 0
        assert t.duration is not None
        if metric == "training_time":  # measured inside the trial's own span
            assert t.values[1] < t.duration


# -- a real study ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [{"name": "nsga2", "population_size": 3}, {"name": "tpe", "startup_trials": 3}],
    ids=["nsga2", "tpe"],
)
def test_a_studys_front_is_the_non_dominated_set_of_its_stored_values(
    tmp_path: Path, strategy: dict[str, Any]
) -> None:
    db = tmp_path / "h.sqlite"
    reports = list(StudyRunner(experiment(strategy=strategy), db).run())
    study, trials = stored(db)
    assert study.multi_objective and study.directions == ("minimize", "minimize")
    assert all(t.state == "COMPLETE" for t in trials) and len(trials) == 6
    points = {t.number: t.values for t in trials if t.values is not None}
    assert len(points) == 6
    for t in trials:  # the second value is the trial's model size
        assert t.values is not None and t.values[0] == t.value
        assert t.values[1] == mlp_parameters(t.params[HIDDEN])
    numbers = sorted(points)
    direct = [numbers[i] for i in pareto_front([points[n] for n in numbers], study.directions)]
    assert direct == non_dominated(points, (1.0, 1.0))
    assert [t.number for t in front_trials(trials, study.directions)] == direct
    ended = reports[-1]
    assert isinstance(ended, StudyEnded) and list(ended.front) == direct
    assert ended.best_number is None and ended.best_value is None
    # Every trial's report carried its values and the front after it.
    by_number = {r.number: r for r in reports if isinstance(r, TrialEnded)}
    for n, report in by_number.items():
        assert report.values == points[n]
        before = {m: p for m, p in points.items() if m <= n}
        assert list(report.front) == non_dominated(before, (1.0, 1.0))


def test_resume_continues_with_the_values_and_refuses_other_objectives(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    list(StudyRunner(experiment(budget={"trials": 3}), db).run())
    _, first = stored(db)
    reports = list(StudyRunner(experiment(), db, resume=True, trials=5).run())
    (started,) = [r for r in reports if isinstance(r, StudyStarted)]
    first_points = {t.number: t.values for t in first if t.values is not None}
    assert started.multi_objective and list(started.front) == non_dominated(
        first_points, (1.0, 1.0)
    )
    _, trials = stored(db)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.values is not None and len(t.values) == 2 for t in trials)
    points = {t.number: t.values for t in trials if t.values is not None}
    ended = reports[-1]
    assert isinstance(ended, StudyEnded)
    assert list(ended.front) == non_dominated(points, (1.0, 1.0))
    one = experiment(objective={}, strategy={"name": "random"})
    before = db.read_bytes()
    with pytest.raises(MetaguiError, match=r"was made with .* and .*; resume it with the obj"):
        list(StudyRunner(one, db, resume=True, trials=6).run())
    assert db.read_bytes() == before


# -- kept checkpoints ------------------------------------------------------------------------


class ScriptedExecutor:
    """Trains nothing: trial ``n`` finishes with metric ``points[n][0]``, measures
    ``parameters = points[n][1]`` and checkpoint bytes naming it."""

    where = "in process"
    capacity = 1

    def __init__(self, points: list[tuple[float, float]]) -> None:
        self.points = points
        self._started: list[int] = []

    def submit(self, job: TrialJob) -> None:
        self._started.append(job.number)

    def events(self, timeout_s: float) -> list[TrialEvent]:
        out: list[TrialEvent] = []
        for number in self._started:
            metric, size = self.points[number]
            result = EvalResult("mse", (metric, metric), (0.0, 0.0), 4)
            done = TrainingFinished(4, result, "cpu", 0.0, result)
            out.append(Placed(number, "here", "", 1, "cpu"))
            out.append(Finished(number, done, f"model {number}".encode(), {"parameters": size}))
        self._started = []
        return out

    def cancel(self, number: int) -> None:
        pass

    def close(self) -> None:
        pass


def sorted_fronts(points: dict[int, tuple[float, ...]]) -> list[int]:
    """The oracle's ranking: brute-force fronts one after another, each by its first value
    then number."""
    order: list[int] = []
    left = dict(points)
    while left:
        front = non_dominated(left, (1.0, 1.0))
        order += sorted(front, key=lambda n: (left[n][0], n))
        left = {n: p for n, p in left.items() if n not in front}
    return order


def test_checkpoints_kept_follow_the_fronts_as_they_change(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    points = [
        (3.0, 300.0),  # 0: the first front alone
        (2.0, 400.0),  # 1: joins the front
        (4.0, 500.0),  # 2: beaten by both: not kept
        (1.0, 100.0),  # 3: beats every other: the front is 3 alone, then 0 and 1
        (2.5, 90.0),  # 4: joins 3 on the front
        (0.5, 600.0),  # 5: joins too: the front has 3 trials, more than are kept
    ]
    spec = experiment(budget={"trials": len(points)}, checkpoints={"keep": 2})
    runner = StudyRunner(spec, db)
    kept_after: list[list[int]] = []
    for report in runner.run(executor=ScriptedExecutor(points)):  # type: ignore[arg-type]
        if not isinstance(report, TrialEnded):
            continue
        done = {n: points[n] for n in range(report.number + 1)}
        expected = sorted_fronts(done)[:2]
        on_disk = sorted(p.name for p in artifact_folder(db, "two").iterdir())
        assert on_disk == sorted(f"trial-{n:04d}.pt" for n in expected), report.number
        assert list(report.front) == non_dominated(done, (1.0, 1.0))
        kept_after.append(sorted(expected))
    assert kept_after == [[0], [0, 1], [0, 1], [1, 3], [3, 4], [3, 5]]
    with HistoryReader(db) as reader:
        study = reader.study("two")
        assert study is not None
        notes = sorted(a.note or "" for a in reader.artifacts(study.id))
    assert notes == [f"rank {r} of the study (the top 2 are kept)" for r in (1, 2)]


def test_warm_start_auto_runs_the_pools_initial_design_only(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    earlier = experiment(
        name="earlier", objective={}, strategy={"name": "random"}, budget={"trials": 3}
    )
    list(StudyRunner(earlier, db).run())
    spec = experiment(
        warm_start="auto",
        experience={"prior": False, "pruning": False, "initial_configs": 2},
        budget={"trials": 3},
    )
    list(StudyRunner(spec, db).run())
    _, trials = stored(db)
    assert [t.seeded_from is not None for t in trials] == [True, True, False]
    assert all(t.seeded_from.startswith("earlier #") for t in trials[:2])  # type: ignore[union-attr]
    assert all(t.state == "COMPLETE" and t.values is not None for t in trials)
    with HistoryReader(db) as reader:
        record = reader.experience("two")
    assert record is not None and record["prior"] is False and record["pruning"] is False
