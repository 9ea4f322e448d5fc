"""The study runner: trials recorded in the history, failures, pruning, stop and resume, warm
start, budgets, and exported settings that reproduce a trial."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from metagui.core.checkpoint import load_checkpoint
from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment
from metagui.core.history import HistoryReader, HistoryWriter
from metagui.core.runner import StudyEnded, StudyRunner, TrialEnded, TrialStep
from metagui.core.study_export import export_from_history


def experiment(**overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "tiny",
        "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
        "model": {"hidden_sizes": [16, 16]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {
            "iterations": 12,
            "meta_batch_size": 3,
            "eval_every": 4,
            "eval_tasks": 8,
            "test_tasks": 8,
            "log_every": 4,
        },
        "search_space": {
            "params": [
                {
                    "name": "algorithm.inner_lr",
                    "type": "float",
                    "low": 0.001,
                    "high": 0.3,
                    "log": True,
                },
                {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            ]
        },
        "strategy": {"name": "random"},
        "budget": {"trials": 3},
        "device": "cpu",
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def run_all(runner: StudyRunner) -> list[Any]:
    return list(runner.run())


def trials_of(db: Path, study: str) -> list[Any]:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        return reader.trials(found.id)


def test_a_study_records_every_trial_metrics_and_the_best_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    reports = run_all(StudyRunner(experiment(), db))
    ended = [r for r in reports if isinstance(r, TrialEnded)]
    assert [e.state for e in ended] == ["COMPLETE"] * 3
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"
    assert any(isinstance(r, TrialStep) for r in reports)
    trials = trials_of(db, "tiny")
    assert [t.number for t in trials] == [0, 1, 2]
    assert len({t.seed for t in trials}) == 3
    values = [t.value for t in trials]
    best = min(values)
    assert reports[-1].best_value == pytest.approx(best)
    with HistoryReader(db) as reader:
        assert {m.name for m in reader.metrics(trials[0].id)} >= {"train/loss", "val/mse"}
        study = reader.study("tiny")
        assert study is not None and study.status == "finished"
        checkpoints = [a for a in reader.artifacts(study.id) if a.kind == "checkpoint"]
        best_trial = reader.best_trial(study.id)
        assert best_trial is not None and best_trial.value == pytest.approx(best)
    assert checkpoints and checkpoints[-1].trial_id == best_trial.id
    _learner, spec = load_checkpoint(checkpoints[-1].path)
    assert spec.algorithm.inner_lr == pytest.approx(best_trial.params["algorithm.inner_lr"])


def test_same_name_makes_a_new_study_and_resume_adds_budget(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run_all(StudyRunner(experiment(budget={"trials": 2}), db))
    second = StudyRunner(experiment(budget={"trials": 1}), db)
    run_all(second)
    assert second.study_name == "tiny-2"
    run_all(StudyRunner(experiment(), db, resume=True, trials=4))
    assert [t.number for t in trials_of(db, "tiny")] == [0, 1, 2, 3]


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(
        search_space={
            "params": [
                # A learning rate of 1e6 diverges; hidden size 0 is refused by the model settings.
                {"name": "optimizer.lr", "type": "categorical", "choices": [1e6, 1e-3]},
                {"name": "optimizer.name", "type": "fixed", "value": "sgd"},
            ]
        },
        strategy={"name": "grid"},
        budget={"trials": 4},
    )
    reports = run_all(StudyRunner(spec, db))
    ended = {e.number: e for e in reports if isinstance(e, TrialEnded)}
    assert len(ended) == 2  # the grid has two points and then is exhausted
    states = {e.state for e in ended.values()}
    assert states == {"COMPLETE", "FAILED"}
    failed = next(e for e in ended.values() if e.state == "FAILED")
    assert failed.error is not None and ("nan" in failed.error.lower() or "inf" in failed.error)
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "exhausted"


def test_an_invalid_combination_fails_its_trial_with_the_reason(tmp_path: Path) -> None:
    spec = experiment(
        search_space={
            "params": [
                {"name": "model.kind", "type": "categorical", "choices": ["conv4"]},
            ]
        },
        budget={"trials": 1},
    )
    reports = run_all(StudyRunner(spec, tmp_path / "h.sqlite"))
    ended = [e for e in reports if isinstance(e, TrialEnded)]
    assert ended[0].state == "FAILED"
    assert ended[0].error is not None and "conv4" in ended[0].error


def test_prune_by_hand_and_stop_then_resume(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 3})
    runner = StudyRunner(spec, db)
    gen = runner.run()
    pruned_once = False
    for report in gen:
        if isinstance(report, TrialStep) and report.number == 0 and not pruned_once:
            runner.request_prune()
            pruned_once = True
        if isinstance(report, TrialStep) and report.number == 1:
            gen.close()  # stop in the middle of trial 1
            break
    trials = trials_of(db, "tiny")
    assert trials[0].state == "PRUNED" and trials[0].pruned_reason == "pruned by hand"
    assert trials[1].state == "FAILED" and "interrupted" in (trials[1].error or "")
    with HistoryReader(db) as reader:
        study = reader.study("tiny")
        assert study is not None and study.status == "stopped"
    reports = run_all(StudyRunner(spec, db, resume=True))
    trials = trials_of(db, "tiny")
    # Budget 3 counts results: the pruned trial and two more; the interrupted trial is not a
    # result, and its settings run again first.
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[2].retry_of == 1 and trials[2].params == trials[1].params
    assert [t.state for t in trials[2:]] == ["COMPLETE", "COMPLETE"]
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"


def test_timeout_budget_ends_the_study(tmp_path: Path) -> None:
    spec = experiment(budget={"trials": None, "timeout_s": 0.01})
    reports = run_all(StudyRunner(spec, tmp_path / "h.sqlite"))
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "timeout"
    assert sum(isinstance(r, TrialEnded) for r in reports) == 1


def test_warm_start_enqueues_the_best_settings_of_earlier_studies(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run_all(StudyRunner(experiment(name="first"), db))
    with HistoryReader(db) as reader:
        study = reader.study("first")
        assert study is not None
        best = reader.best_trial(study.id)
    assert best is not None
    spec = experiment(
        name="second", warm_start=["first"], budget={"trials": 1}, strategy={"name": "tpe"}
    )
    run_all(StudyRunner(spec, db))
    first_trial = trials_of(db, "second")[0]
    assert first_trial.params == pytest.approx(best.params)
    with pytest.raises(MetaguiError, match=r"^warm_start: no study named 'missing'"):
        run_all(StudyRunner(experiment(name="third", warm_start=["missing"]), db))
    with HistoryReader(db) as reader:  # refused before a study that could never run is made
        assert reader.study("third") is None


def test_excluded_trial_is_not_best_and_export_follows(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run_all(StudyRunner(experiment(), db))
    trials = sorted(trials_of(db, "tiny"), key=lambda t: t.value)
    with HistoryWriter(db) as writer:
        writer.set_excluded(trials[0].id, True)
    out = export_from_history(db, "hydra", tmp_path / "best.yaml", study="tiny")
    exported = yaml.safe_load(out.read_text())
    assert exported["best_value"] == pytest.approx(trials[1].value)


def test_exported_yaml_reproduces_the_trial(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run_all(StudyRunner(experiment(), db))
    with HistoryReader(db) as reader:
        study = reader.study("tiny")
        assert study is not None
        best = reader.best_trial(study.id)
    assert (best is not None and best.number != 0) or best is not None
    path = export_from_history(db, "yaml", tmp_path / "best.yaml", study="tiny")
    again = load_experiment(path)
    assert again.search_space.params == []
    rerun_db = tmp_path / "again.sqlite"
    reports = run_all(StudyRunner(again, rerun_db))
    ended = next(r for r in reports if isinstance(r, TrialEnded))
    assert ended.value == pytest.approx(best.value, abs=1e-6, rel=0)


@pytest.mark.slow
def test_sigkill_mid_trial_leaves_a_consistent_database_that_resumes(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 4})
    spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"iterations": 300})}
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True)))
    command = [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", str(db)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if not db.exists():
                continue
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                states = [r[0] for r in conn.execute("SELECT state FROM trials ORDER BY number")]
                steps = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            finally:
                conn.close()
            if states.count("COMPLETE") >= 1 and states[-1:] == ["RUNNING"] and steps:
                break
        else:
            pytest.fail(
                "the run never reached a second trial: " + (tmp_path / "run.log").read_text()
            )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    before = {t.number: t for t in trials_of(db, "tiny") if t.state == "COMPLETE"}
    assert before
    result = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    after = trials_of(db, "tiny")
    crashed = [t for t in after if t.error and "process ended" in t.error]
    assert len(crashed) == 1
    # The budget of 4 counts results: the killed trial is not one, and its settings ran again.
    assert len([t for t in after if t.state != "RUNNING"]) == 5
    (again_for_crashed,) = [t for t in after if t.retry_of == crashed[0].number]
    assert again_for_crashed.params == crashed[0].params and again_for_crashed.state == "COMPLETE"
    for number, trial in before.items():
        again = next(t for t in after if t.number == number)
        assert (again.state, again.value, again.params) == (trial.state, trial.value, trial.params)


@pytest.mark.parametrize("error", ["cuda", "cpu"])
def test_out_of_memory_fails_the_trial_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    import torch

    import metagui.core.training as training

    original = training.MetaTraining.run
    calls = {"n": 0}

    def run_or_oom(self: training.MetaTraining) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            if error == "cuda":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            raise MemoryError("cannot allocate 2 GiB")
        return original(self)

    monkeypatch.setattr(training.MetaTraining, "run", run_or_oom)
    reports = run_all(StudyRunner(experiment(budget={"trials": 2}), tmp_path / "h.sqlite"))
    ended = [r for r in reports if isinstance(r, TrialEnded)]
    assert [e.state for e in ended] == ["FAILED", "COMPLETE"]
    assert ended[0].error is not None and "memory" in ended[0].error.lower()


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_trial_whose_final_evaluation_diverges_fails_and_is_never_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: str
) -> None:
    # Adaptation that blows up on one split at the end (as a Meta-SGD trial with runaway
    # learned inner rates does) fails the trial, even when the objective's split is finite.
    import dataclasses

    import metagui.core.training as training

    original = training.MetaTraining._evaluated
    calls = {"n": 0}

    def evaluated(self: training.MetaTraining, name: str, step: int) -> Any:
        result = yield from original(self, name, step)
        if name == split and step == self.spec.training.iterations:
            calls["n"] += 1
            if calls["n"] == 1:  # only the first trial's final evaluation
                means = (*result.means[:-1], float("inf"))
                return dataclasses.replace(result, means=means)
        return result

    monkeypatch.setattr(training.MetaTraining, "_evaluated", evaluated)
    db = tmp_path / "h.sqlite"
    reports = run_all(StudyRunner(experiment(budget={"trials": 2}), db))
    ended = [r for r in reports if isinstance(r, TrialEnded)]
    assert [e.state for e in ended] == ["FAILED", "COMPLETE"]
    assert ended[0].error == f"DivergedError: the final {split} mse is inf"
    assert ended[0].value is None and ended[0].test_value is None
    first, second = trials_of(db, "tiny")
    assert (first.state, first.value, first.test_value) == ("FAILED", None, None)
    with HistoryReader(db) as reader:
        study = reader.study("tiny")
        assert study is not None
        best = reader.best_trial(study.id)
    assert best is not None and best.id == second.id


def test_finished_trials_free_their_model_without_a_garbage_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runner collects garbage only after failed trials: a completed or pruned trial's
    # model and optimizer state must go with their last reference, not wait in a cycle.
    import gc
    import weakref

    import metagui.core.training as training

    learners: list[weakref.ref[Any]] = []
    original = training.MetaTraining.__init__

    def init(self: training.MetaTraining, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        learners.append(weakref.ref(self.learner))

    # Torch's first optimizer leaves one-time lazy set-up in a cycle: train once before.
    run_all(StudyRunner(experiment(budget={"trials": 1}), tmp_path / "warm.sqlite"))
    monkeypatch.setattr(training.MetaTraining, "__init__", init)
    runner = StudyRunner(experiment(budget={"trials": 3}), tmp_path / "h.sqlite")
    gc.collect()
    gc.disable()
    try:
        reports = run_all(runner)
        del runner  # it held the best trial's model until the study ended
        assert [r.state for r in reports if isinstance(r, TrialEnded)] == ["COMPLETE"] * 3
        assert len(learners) == 3
        assert [ref() for ref in learners] == [None, None, None]
    finally:
        gc.enable()
