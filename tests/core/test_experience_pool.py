"""The experience pool (``warm_start: auto``): past settings mapped into a new space, the
pool chosen by similarity (or not, and why), its trials normalised and weighted as a prior
for the sampler, the initial design run first and marked, the record a resume reads back,
and the export's ``_meta``. The runner trains nothing here: a synthetic executor scores each
trial's settings on a known objective."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from metagui.core.execution import Finished, Placed, Reported, TrialEvent, TrialJob
from metagui.core.experience import ExperiencePool, fingerprint_of, load_pool, map_params
from metagui.core.experiment import ExperimentSpec, PrunerSpec, StrategySpec
from metagui.core.history import HistoryReader, HistoryWriter
from metagui.core.reports import EvalResult, StepReport, TrainingFinished
from metagui.core.runner import StudyRunner, StudyStarted
from metagui.core.search_space import SearchSpace
from metagui.core.strategies import PriorTrial, Strategy
from metagui.core.strategies._common import quantiles
from metagui.core.strategies._prior import PRIOR_HALF_LIFE, prior_subset, prior_values
from metagui.core.study_export import export_from_history

# -- mapping ------------------------------------------------------------------------------------


def space(*params: dict[str, Any]) -> SearchSpace:
    return SearchSpace.model_validate({"params": list(params)})


def test_mapping_clips_rounds_and_keeps_only_what_the_new_space_searches() -> None:
    new = space(
        {"name": "a", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "b", "type": "int", "low": 2, "high": 10, "step": 2},
        {"name": "c", "type": "float", "low": 0.0, "high": 1.0, "step": 0.25},
        {"name": "d", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        {"name": "e", "type": "fixed", "value": 3},
        {"name": "new", "type": "int", "low": 1, "high": 3},
    )
    past = {"a": 1.7, "b": 5.2, "c": 0.3, "d": 0.5, "gone": "x", "e": 99}
    assert map_params(past, new, {}) == {"a": 1.0, "b": 6, "c": 0.25, "d": 1e-2, "e": 3}
    assert map_params({"a": -3, "b": 100}, new, {}) == {"a": 0.0, "b": 10, "e": 3}
    # text where a number belongs is left to the strategy; nothing searched left: no config
    assert map_params({"a": "0.5", "b": 4}, new, {}) == {"b": 4, "e": 3}
    assert map_params({"gone": 1}, new, {}) is None


def test_mapping_skips_a_choice_the_new_space_lacks_and_follows_conditions() -> None:
    new = space(
        {"name": "algo", "type": "categorical", "choices": ["maml", "protonet"]},
        {
            "name": "lr",
            "type": "float",
            "low": 0.01,
            "high": 0.1,
            "condition": {"param": "algo", "in": ["maml"]},
        },
        {"name": "flag", "type": "categorical", "choices": [True, False]},
    )
    assert map_params({"algo": "reptile", "lr": 0.05}, new, {}) is None
    assert map_params({"algo": "protonet", "lr": 0.05}, new, {}) == {"algo": "protonet"}
    assert map_params({"algo": "maml", "lr": 0.5}, new, {}) == {"algo": "maml", "lr": 0.1}
    assert map_params({"algo": "maml", "flag": 1}, new, {}) is None  # 1 is not True
    base_off = space(
        {
            "name": "lr",
            "type": "float",
            "low": 0.01,
            "high": 0.1,
            "condition": {"param": "algorithm.name", "in": ["maml"]},
        },
        {"name": "x", "type": "int", "low": 0, "high": 3},
    )
    assert map_params({"lr": 0.05, "x": 1}, base_off, {"algorithm": {"name": "anil"}}) == {"x": 1}


# -- normalisation and weight ---------------------------------------------------------------------


def test_quantiles_place_each_value_in_its_own_study_whatever_the_scale() -> None:
    values = [3.0, 1.0, 2.0, 2.0]
    assert quantiles(values, "minimize") == [0.875, 0.125, 0.5, 0.5]
    assert quantiles([1e6 * v for v in values], "minimize") == quantiles(values, "minimize")
    assert quantiles(values, "maximize") == [0.125, 0.875, 0.5, 0.5]
    assert quantiles([7.0], "minimize") == [0.5]


def test_pool_values_land_on_the_new_studys_own_scale() -> None:
    # Before two own values: the quantile scale, low is good when minimising.
    assert prior_values([0.1, 0.9], [], "minimize") == [0.1, 0.9]
    assert prior_values([0.1, 0.9], [5.0], "maximize") == pytest.approx([0.9, 0.1])
    # Then the own values at those quantiles: a pool of any scale stays inside the own range.
    own = [10.0, 20.0, 30.0, 40.0, 50.0]
    mapped = prior_values([0.0, 0.5, 1.0], own, "minimize")
    assert mapped == [10.0, 30.0, 50.0]
    assert prior_values([0.0, 1.0], own, "maximize") == [50.0, 10.0]


def _prior(n: int, similarity: float, study: str = "old") -> list[PriorTrial]:
    return [PriorTrial(study, i, {"x": i / n}, (i + 0.5) / n, similarity) for i in range(n)]


def test_the_pool_counts_less_as_own_trials_accumulate_and_with_less_similarity() -> None:
    pool = _prior(40, 0.9)
    counts = [len(prior_subset(pool, own, seed=3)) for own in (0, 10, 30, 90)]
    assert counts == [36, 18, 9, 4]  # round(40 * 0.9 * K / (K + own)), K = 10
    assert PRIOR_HALF_LIFE == 10
    assert len(prior_subset(_prior(40, 0.45), 0, seed=3)) == 18
    # Trials only ever leave as the subset shrinks, and the same seed keeps the same ones.
    kept = [{t.number for t in prior_subset(pool, own, seed=3)} for own in (0, 10, 30, 90)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(kept))
    assert prior_subset(pool, 10, seed=3) == prior_subset(pool, 10, seed=3)
    # a fair sample of the study, not its best trials only
    assert max(t.quantile for t in prior_subset(pool, 30, seed=3)) > 0.5


XY = space(
    {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "y", "type": "float", "low": 0.0, "high": 1.0},
)


def _bowl(params: dict[str, Any]) -> float:
    return math.hypot(params["x"] - 0.8, params["y"] - 0.8)


def _pool_on(scale: float, n: int = 40) -> list[PriorTrial]:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, size=(n, 2))
    values = [scale * _bowl({"x": a, "y": b}) for a, b in points]
    places = quantiles(values, "minimize")
    return [
        PriorTrial("old", i, {"x": float(a), "y": float(b)}, q, 0.9, v)
        for i, ((a, b), q, v) in enumerate(zip(points, places, values, strict=True))
    ]


def _distances(name: str, prior: list[PriorTrial], trials: int = 8, seed: int = 1) -> list[float]:
    strategy = Strategy(
        XY, StrategySpec(name=name, startup_trials=10), PrunerSpec(), "minimize", seed, prior=prior
    )
    out = []
    for _ in range(trials):
        proposal = strategy.ask()
        out.append(_bowl(proposal.params))
        strategy.tell(proposal, out[-1])
    return out


@pytest.mark.parametrize("name", ["tpe", "gp"])
def test_a_pool_draws_the_first_proposals_to_its_good_region(name: str) -> None:
    warm = _distances(name, _pool_on(1.0), trials=6)
    cold = _distances(name, [], trials=6)
    assert np.mean(warm) < 0.25 < np.mean(cold)


def test_a_pool_of_a_much_larger_scale_does_not_dominate() -> None:
    # Only places within their own study count: the same pool on a scale 10^6 times larger
    # proposes exactly the same trials, and after own trials its values sit in their range.
    assert _distances("tpe", _pool_on(1.0)) == _distances("tpe", _pool_on(1e6))
    strategy = Strategy(
        XY, StrategySpec(name="tpe"), PrunerSpec(), "minimize", 1, prior=_pool_on(1e6)
    )
    for _ in range(4):
        proposal = strategy.ask()
        strategy.tell(proposal, _bowl(proposal.params))
    strategy.ask()
    sampler: Any = strategy.study.sampler
    scratch = sampler._scratch
    own = [t.value for t in strategy.study.get_trials() if t.value is not None]
    shown = [t.value for t in scratch.get_trials()[5:]]
    assert shown and min(own) <= min(shown) and max(shown) <= max(own)


@pytest.mark.parametrize("name", ["pso", "de"])
def test_pso_and_de_start_from_the_pools_best_configurations(name: str) -> None:
    pool = _pool_on(1.0)
    best = sorted(pool, key=lambda t: t.quantile)[:3]
    strategy = Strategy(
        XY, StrategySpec(name=name, population_size=4), PrunerSpec(), "minimize", 0, prior=pool
    )
    first = [strategy.ask().params for _ in range(3)]
    assert first == [pytest.approx(t.params) for t in best]


# -- the runner ----------------------------------------------------------------------------------


def experiment(**overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "new",
        "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
        "model": {"hidden_sizes": [8]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {"iterations": 12, "meta_batch_size": 2, "eval_every": 4, "log_every": 4},
        "search_space": {
            "params": [
                {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.3},
                {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            ]
        },
        "strategy": {"name": "tpe", "startup_trials": 3},
        "budget": {"trials": 4},
        "warm_start": "auto",
        "device": "cpu",
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def score(params: dict[str, Any]) -> float:
    """A known objective (minimised): best at inner_lr 0.2, lr 1e-3."""
    lr = math.log10(params["optimizer.lr"])
    return (params["algorithm.inner_lr"] - 0.2) ** 2 + 0.01 * (lr + 3) ** 2


class ScoringExecutor:
    """Trains nothing: each trial finishes at once with :func:`score` of its settings."""

    where = "in process"
    capacity = 1

    def __init__(self) -> None:
        self._events: list[TrialEvent] = []

    def submit(self, job: TrialJob) -> None:
        spec = json.loads(job.spec_json)
        params = {
            "algorithm.inner_lr": spec["algorithm"]["inner_lr"],
            "optimizer.lr": spec["optimizer"]["lr"],
        }
        value = score(params)
        result = EvalResult("mse", (value, value), (0.0, 0.0), 8)
        done = TrainingFinished(
            steps=12, test=result, device="cpu", elapsed_s=0.0, validation=result
        )
        self._events += [
            Placed(job.number, "here", "cpu", 1, "cpu"),
            Finished(job.number, done, None),
        ]

    def events(self, timeout_s: float) -> list[TrialEvent]:
        out, self._events = self._events, []
        return out

    def cancel(self, number: int) -> None:
        pass

    def close(self) -> None:
        pass


def run(spec: ExperimentSpec, db: Path, **kwargs: Any) -> list[Any]:
    return list(StudyRunner(spec, db, **kwargs).run(executor=ScoringExecutor()))  # type: ignore[arg-type]


def past_study(db: Path, name: str, values: dict[float, float], **overrides: Any) -> None:
    """A finished study of the history, made by hand: trials at inner_lr ``x`` (optimizer.lr
    1e-3) with value ``values[x]``."""
    spec = experiment(name=name, warm_start=[], **overrides)
    with HistoryWriter(db) as writer:
        study = writer.create_study(
            name,
            spec.model_dump_json(),
            "minimize",
            "tpe",
            0,
            fingerprint_json=fingerprint_of(spec, "minimize").to_json(),
        )
        for number, (x, value) in enumerate(values.items()):
            trial = writer.start_trial(
                study, number, {"algorithm.inner_lr": x, "optimizer.lr": 1e-3}
            )
            writer.finish_trial(trial, "COMPLETE", value=value)
        writer.set_study_status(study, "finished")


def trials_of(db: Path, study: str) -> list[Any]:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        return reader.trials(found.id)


def notes_of(reports: list[Any]) -> tuple[str, ...]:
    (started,) = [r for r in reports if isinstance(r, StudyStarted)]
    return started.notes


def test_auto_on_an_empty_history_runs_as_a_cold_study(tmp_path: Path) -> None:
    auto = run(experiment(), tmp_path / "auto.sqlite")
    run(experiment(warm_start=[]), tmp_path / "cold.sqlite")
    assert [t.params for t in trials_of(tmp_path / "auto.sqlite", "new")] == [
        t.params for t in trials_of(tmp_path / "cold.sqlite", "new")
    ]
    assert any("starts cold" in n for n in notes_of(auto))


def test_a_pool_not_similar_enough_is_not_used_and_the_user_is_told_why(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    past_study(db, "other", {0.2: 0.1, 0.05: 0.5}, taskset={"family": "sinusoid", "k_shot": 20})
    reports = run(experiment(experience={"min_similarity": 0.999}), db)
    (note,) = [n for n in notes_of(reports) if "warm_start auto" in n]
    assert "min_similarity 1.00" in note and "'other'" in note and "starts cold" in note
    assert all(t.seeded_from is None for t in trials_of(db, "new"))
    with HistoryReader(db) as reader:
        record = reader.experience("new")
    assert record is not None and record["studies"] == [] and record["prior"] is False


def test_the_pool_seeds_the_first_trials_and_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    past_study(db, "a", {0.21: 0.3, 0.05: 0.9, 0.3: 0.6, 0.1: 0.7})
    past_study(db, "b", {0.19: 50.0, 0.25: 80.0, 0.01: 99.0})  # another scale
    reports = run(experiment(experience={"initial_configs": 3}), db)
    assert any("learning from 'a'" in n and "'b'" in n for n in notes_of(reports))
    trials = trials_of(db, "new")
    # best of each study in turn, most similar (then larger) first
    assert [t.seeded_from for t in trials[:3]] == ["a #0", "b #0", "a #2"]
    assert [t.params["algorithm.inner_lr"] for t in trials[:3]] == [0.21, 0.19, 0.3]
    assert trials[3].seeded_from is None
    with HistoryReader(db) as reader:
        record = reader.experience("new")
    assert record is not None
    assert [(s["name"], s["last_trial"], s["trials_used"]) for s in record["studies"]] == [
        ("a", 3, 4),
        ("b", 2, 3),
    ]
    assert record["initial_design"] and record["prior"] and record["pruning"]
    out = tmp_path / "best.yaml"
    export_from_history(db, "yaml", out, study="new")
    meta = yaml.safe_load(out.read_text())["_meta"]
    assert meta["learned_from"][0].startswith("a (similarity ")
    best = min((t for t in trials if t.value is not None), key=lambda t: t.value)
    assert meta.get("seeded_from") == best.seeded_from


def test_a_resumed_study_reads_the_same_pool_and_proposes_as_if_never_stopped(
    tmp_path: Path,
) -> None:
    pool = {0.21: 0.3, 0.05: 0.9, 0.3: 0.6, 0.1: 0.7, 0.15: 0.5}
    whole, split = tmp_path / "whole.sqlite", tmp_path / "split.sqlite"
    spec = experiment(budget={"trials": 7}, experience={"initial_configs": 2})
    for db in (whole, split):
        past_study(db, "a", pool)
    run(spec, whole)
    run(spec, split, trials=4)
    with HistoryWriter(split) as writer:  # the source study grows meanwhile
        source = writer.get_study("a")
        assert source is not None
        trial = writer.start_trial(source.id, 5, {"algorithm.inner_lr": 0.29, "optimizer.lr": 1e-2})
        writer.finish_trial(trial, "COMPLETE", value=0.0001)
    run(spec, split, study="new", resume=True)
    assert [t.params for t in trials_of(split, "new")] == [
        t.params for t in trials_of(whole, "new")
    ]


def test_load_pool_reads_a_source_only_up_to_its_recorded_trial(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    past_study(db, "a", {0.21: 0.3, 0.05: 0.9, 0.3: 0.6})
    spec = experiment()
    with HistoryReader(db) as reader:
        from metagui.core.experience import PoolStudy

        pool = load_pool(
            reader,
            [PoolStudy(1, "a", 0.9, "", 1)],
            spec.search_space,
            spec.base_settings().model_dump(mode="json"),
        )
    assert isinstance(pool, ExperiencePool)
    assert [(t.number, t.quantile) for t in pool.trials] == [(0, 0.25), (1, 0.75)]


def test_an_excluded_study_is_never_learned_from(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    past_study(db, "a", {0.21: 0.3, 0.05: 0.9})
    past_study(db, "b", {0.19: 0.2, 0.25: 0.8})
    reports = run(experiment(experience={"exclude": ["a"], "initial_configs": 2}), db)
    (note,) = [n for n in notes_of(reports) if "warm_start auto" in n]
    assert "'b'" in note and "'a'" not in note
    assert [t.seeded_from for t in trials_of(db, "new")[:2]] == ["b #0", "b #1"]


# -- pruning from experience -----------------------------------------------------------------


class CurveExecutor(ScoringExecutor):
    """Each trial reports a validation MSE of ``score + 1 / step`` at steps 4, 8 and 12, then
    finishes with its score: a worse configuration has a worse curve all along."""

    def submit(self, job: TrialJob) -> None:
        spec = json.loads(job.spec_json)
        params = {
            "algorithm.inner_lr": spec["algorithm"]["inner_lr"],
            "optimizer.lr": spec["optimizer"]["lr"],
        }
        value = score(params)
        self._events.append(Placed(job.number, "here", "cpu", 1, "cpu"))
        for step in (4, 8, 12):
            at = value + 1.0 / step
            result = EvalResult("mse", (at, at), (0.0, 0.0), 8)
            report = StepReport(step, 12, 1.0, None, validation=result)
            self._events.append(Reported(job.number, report))
        final = EvalResult("mse", (value, value), (0.0, 0.0), 8)
        done = TrainingFinished(steps=12, test=final, device="cpu", elapsed_s=0.0, validation=final)
        self._events.append(Finished(job.number, done, None))


def past_study_with_curves(db: Path, name: str, values: dict[float, float]) -> None:
    """A finished study whose trials reported validation curves as :class:`CurveExecutor`
    draws them."""
    past_study(db, name, values)
    with HistoryWriter(db) as writer, HistoryReader(db) as reader:
        study = reader.study(name)
        assert study is not None
        for trial in reader.trials(study.id):
            assert trial.value is not None
            for step in (4, 8, 12):
                at = trial.value + 1.0 / step
                result = EvalResult("mse", (at, at), (0.0, 0.0), 8)
                writer.add_step(trial.id, StepReport(step, 12, 1.0, None, validation=result))
        writer.flush()


def test_a_trial_worse_than_the_pools_good_curves_is_pruned_from_experience(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    good = {0.2: 0.001, 0.19: 0.002, 0.21: 0.003, 0.18: 0.004, 0.22: 0.005, 0.17: 0.006}
    past_study_with_curves(db, "a", good)
    settings = experiment(
        pruner={"name": "none"},
        budget={"trials": 4},
        experience={"initial_design": False, "prior": False, "pruning_quantile": 0.5},
    )
    reports = list(StudyRunner(settings, db).run(executor=CurveExecutor()))  # type: ignore[arg-type]
    assert reports
    trials = trials_of(db, "new")
    pruned = [t for t in trials if t.state == "PRUNED"]
    # Cold TPE start-up trials land far from inner_lr 0.2: worse than the pool's good curves.
    assert pruned, [(t.params, t.value) for t in trials]
    for t in pruned:
        assert t.pruned_reason is not None and t.pruned_reason.startswith("experience pruner")
        assert "pool trials that ended well" in t.pruned_reason
    with HistoryReader(db) as reader:
        record = reader.experience("new")
    assert record is not None and record["pruning"] is True


def test_without_pruning_from_experience_the_same_study_prunes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    past_study_with_curves(db, "a", {0.2: 0.001, 0.19: 0.002, 0.21: 0.003, 0.18: 0.004})
    settings = experiment(
        pruner={"name": "none"},
        budget={"trials": 4},
        experience={"initial_design": False, "prior": False, "pruning": False},
    )
    list(StudyRunner(settings, db).run(executor=CurveExecutor()))  # type: ignore[arg-type]
    assert all(t.state == "COMPLETE" for t in trials_of(db, "new"))


def test_a_resumed_pruned_trial_gives_the_strategy_its_values_not_their_intervals(
    tmp_path: Path,
) -> None:
    from metagui.core.runner import _past

    db = tmp_path / "h.sqlite"
    spec = experiment(name="s")
    with HistoryWriter(db) as writer:
        study = writer.create_study("s", spec.model_dump_json(), "minimize", "tpe", 0)
        trial = writer.start_trial(study, 0, {"algorithm.inner_lr": 0.1, "optimizer.lr": 1e-3})
        for step, value in ((4, 0.9), (8, 0.7)):
            result = EvalResult("mse", (value, value), (0.05, 0.01), 8)
            writer.add_step(trial, StepReport(step, 12, 1.0, None, validation=result))
        writer.finish_trial(trial, "PRUNED", pruned_at_step=8, pruned_reason="test")
    with HistoryReader(db) as reader:
        (row,) = reader.trials(study)
        past = _past(row, reader, "mse")
    assert past.state == "PRUNED" and past.intermediate == {4: 0.9, 8: 0.7}
