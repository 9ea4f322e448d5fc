"""Changing a study while it is alive: what may change on resume (and what is refused, with
the history left as it was), trials outside an edited search space, the strategy rebuilt
from the trials inside it, and the edit recorded once in the study's notes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, HistoryWriter, TrialRow
from metagui.core.runner import StudyRunner, StudyStarted, TrialStarted
from metagui.core.space_edit import (
    compare_spaces,
    outside_numbers,
    strategy_trials,
    trial_settings,
)
from metagui.core.strategies import Strategy

LR = "algorithm.inner_lr"
ACT = "model.activation"


def experiment(params: list[dict[str, Any]], **overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "edit",
        "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
        "model": {"hidden_sizes": [8]},
        "training": {
            "iterations": 3,
            "meta_batch_size": 2,
            "eval_every": 3,
            "eval_tasks": 2,
            "test_tasks": 2,
            "log_every": 3,
        },
        "search_space": {"params": params},
        "strategy": {"name": "random"},
        "budget": {"trials": 4},
        "device": "cpu",
        "seed": 7,
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def lr(low: float, high: float, **more: Any) -> dict[str, Any]:
    return {"name": LR, "type": "float", "low": low, "high": high, "log": True, **more}


def act(*choices: str) -> dict[str, Any]:
    return {"name": ACT, "type": "categorical", "choices": list(choices)}


def run(spec: ExperimentSpec, db: Path, **kwargs: Any) -> list[Any]:
    return list(StudyRunner(spec, db, **kwargs).run())


def trials_of(db: Path) -> list[TrialRow]:
    with HistoryReader(db) as reader:
        study = reader.study("edit")
        assert study is not None
        return reader.trials(study.id)


def notes_of(db: Path) -> str:
    with HistoryReader(db) as reader:
        study = reader.study("edit")
        assert study is not None
        return study.notes or ""


def history_bytes(db: Path) -> bytes:
    """The history file's bytes; a reader's WAL beside it must hold nothing."""
    wal = db.with_name(f"{db.name}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return db.read_bytes()


# -- comparing experiments --------------------------------------------------------------------


def test_each_kind_of_search_space_change_is_one_line() -> None:
    before = experiment(
        [
            lr(1e-3, 0.3),
            act("relu", "tanh"),
            {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2},
        ]
    )
    after = experiment(
        [
            lr(1e-4, 0.5),
            act("relu", "gelu"),
            {"name": "optimizer.lr", "type": "fixed", "value": 1e-3},
            {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 3},
        ]
    )
    edit = compare_spaces(before, after)
    assert edit.space == (
        f"{LR} range 0.001..0.3 log -> 1e-4..0.5 log",
        f"{ACT} choices: added gelu; removed tanh",
        "optimizer.lr fixed at 0.001 (was float 1e-4..0.01)",
        "algorithm.inner_steps added: int 1..3",
    )
    assert edit.other == () and edit.refused == ()
    # A parameter removed from the space runs at its base value from now on.
    removed = compare_spaces(before, experiment([lr(1e-3, 0.3), act("relu", "tanh")]))
    assert removed.space == (
        "optimizer.lr no longer searched (was float 1e-4..0.01); new trials use 0.001",
    )
    # A bound changed past the digits a change is written with is still a change.
    finer = compare_spaces(experiment([lr(1e-3, 0.3)]), experiment([lr(1e-3, 0.30000001)]))
    assert finer.changed and finer.space == ("search space changed",)


def test_the_search_may_go_on_differently_but_what_a_trial_means_may_not_change() -> None:
    stored = experiment([lr(1e-3, 0.3)])
    allowed = experiment(
        [lr(1e-3, 0.3)],
        strategy={"name": "tpe"},
        budget={"trials": 9},
        pruner={"name": "median"},
        device="auto",
    )
    edit = compare_spaces(stored.model_dump(mode="json", by_alias=True), allowed)
    assert edit.space == () and edit.refused == ()
    assert set(edit.other) >= {"strategy.name random -> tpe", "budget.trials 4 -> 9"}
    refused = experiment(
        [lr(1e-3, 0.3)],
        training={**stored.training.model_dump(), "iterations": 5},
        objective={"split": "test"},
        seed=8,
    )
    assert set(compare_spaces(stored, refused).refused) == {
        "training.iterations",
        "objective.split",
        "seed",
        "training.eval_seed",  # unset: the study's seed
    }
    # Before the study has a result, its base settings may still change; never its
    # objective or seed.
    early = compare_spaces(stored, refused, results=False)
    assert set(early.refused) == {"objective.split", "seed"}
    assert "training.iterations 3 -> 5" in early.other
    # A validation seed left unset is the study's seed: the same experiment.
    explicit = experiment(
        [lr(1e-3, 0.3)], training={**stored.training.model_dump(), "eval_seed": 7}
    )
    assert not compare_spaces(stored, explicit).changed
    assert not compare_spaces(stored, explicit).refused


def test_a_setting_every_trial_set_itself_may_take_a_new_base_value() -> None:
    stored = experiment([lr(1e-3, 0.3)])
    fixed_by_base = experiment([], algorithm={"inner_lr": 0.05})
    edit = compare_spaces(stored, fixed_by_base)
    assert edit.refused == ()
    assert edit.space == (
        f"{LR} no longer searched (was float 0.001..0.3 log); new trials use 0.05",
    )
    # A setting that a conditional parameter set for some trials only is a base setting.
    conditional = experiment(
        [{**lr(1e-3, 0.3), "condition": {"param": "algorithm.name", "in": ["maml"]}}]
    )
    assert compare_spaces(conditional, fixed_by_base).refused == (LR,)


# -- trials and the new space ------------------------------------------------------------------


def test_a_trial_is_inside_exactly_when_the_new_space_could_have_proposed_it() -> None:
    spec = experiment(
        [
            lr(1e-3, 0.1),
            act("relu", "gelu"),
            {"name": "optimizer.lr", "type": "fixed", "value": 1e-3},
        ]
    )
    base = spec.base_settings().model_dump(mode="json")
    space = spec.search_space
    inside = {LR: 0.01, ACT: "relu", "optimizer.lr": 1e-3}
    assert trial_settings(space, base, inside) == inside
    assert trial_settings(space, base, {**inside, LR: 0.2}) is None  # out of range
    assert trial_settings(space, base, {**inside, ACT: "tanh"}) is None  # choice removed
    assert trial_settings(space, base, {**inside, "optimizer.lr": 1e-2}) is None  # fixed
    # A setting not searched any more: inside only at the value new trials run it with.
    assert trial_settings(space, base, {**inside, "algorithm.inner_steps": 1}) == inside
    assert trial_settings(space, base, {**inside, "algorithm.inner_steps": 2}) is None
    # A newly searched setting: earlier trials ran it at the base value.
    steps = experiment([{"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 3}])
    steps_base = steps.base_settings().model_dump(mode="json")
    assert trial_settings(steps.search_space, steps_base, {}) == {"algorithm.inner_steps": 1}
    higher = experiment([{"name": "algorithm.inner_steps", "type": "int", "low": 2, "high": 3}])
    assert trial_settings(higher.search_space, steps_base, {}) is None


# -- resuming with an edited space ----------------------------------------------------------------


def test_a_widened_range_keeps_every_trial_and_samples_the_new_range(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run(experiment([lr(0.01, 0.02)]), db)
    before = trials_of(db)
    wide = experiment([lr(1e-3, 0.5)])
    reports = run(wide, db, resume=True, trials=10)
    started = reports[0]
    assert isinstance(started, StudyStarted) and started.resumed
    assert f"search space: {LR} range 0.01..0.02 log -> 0.001..0.5 log" in started.notes
    assert any(n.startswith("0 of 4 trials now lie outside") for n in started.notes)
    after = trials_of(db)
    assert [(t.number, t.params) for t in after[:4]] == [(t.number, t.params) for t in before]
    assert not any(t.outside_space for t in after)
    new = [t.params[LR] for t in after[4:]]
    assert len(new) == 6
    assert all(1e-3 <= v <= 0.5 for v in new)
    assert any(not 0.01 <= v <= 0.02 for v in new)  # the widened part is searched
    with HistoryReader(db) as reader:
        study = reader.study("edit")
        assert study is not None
        assert ExperimentSpec.model_validate(study.spec).search_space == wide.search_space
    (line,) = notes_of(db).splitlines()
    assert line.endswith(
        f"search space edited: {LR} range 0.01..0.02 log -> 0.001..0.5 log; "
        "0 of 4 trials now outside it"
    )


def test_a_narrowed_range_marks_trials_outside_and_the_strategy_learns_only_from_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.sqlite"
    run(experiment([lr(1e-3, 0.5)], budget={"trials": 6}), db)
    values = {t.number: t.params[LR] for t in trials_of(db)}
    narrow = experiment([lr(0.01, 0.1)], strategy={"name": "tpe"})
    expected = sorted(n for n, v in values.items() if not 0.01 <= v <= 0.1)
    assert 0 < len(expected) < 6  # the seed gives both kinds
    loaded: list[list[int]] = []
    original = Strategy.load

    def spy(self: Strategy, trials: Any) -> None:
        trials = list(trials)
        loaded.append([t.number for t in trials])
        original(self, trials)

    monkeypatch.setattr(Strategy, "load", spy)
    reports = run(narrow, db, resume=True, trials=7)
    after = trials_of(db)
    assert sorted(t.number for t in after if t.outside_space) == expected
    assert loaded == [sorted(set(values) - set(expected))]
    assert all(0.01 <= t.params[LR] <= 0.1 for t in after[6:])
    assert any(
        n.startswith(f"{len(expected)} of 6 trials now lie outside") for n in reports[0].notes
    )
    # Outside trials are still results: the best value counts them all.
    complete = [t.value for t in after if t.state == "COMPLETE" and t.value is not None]
    assert reports[-1].best_value == min(complete)

    # Resuming again with the same experiment changes nothing: no second note.
    note = notes_of(db)
    again = run(narrow, db, resume=True, trials=7)
    assert not any("search space" in n for n in again[0].notes)
    assert notes_of(db) == note and note.count("search space edited") == 1
    # Back to the wider space: every trial is inside again.
    run(experiment([lr(1e-3, 0.5)]), db, resume=True, trials=7)
    assert not any(t.outside_space for t in trials_of(db))
    assert notes_of(db).count("search space edited") == 2


def test_an_added_choice_is_sampled_and_a_fixed_parameter_puts_other_values_outside(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    grid = {"name": "grid"}
    run(experiment([act("relu")], strategy=grid, budget={"trials": 1}), db)
    reports = run(experiment([act("relu", "tanh")], strategy=grid), db, resume=True, trials=2)
    started = [r for r in reports if isinstance(r, TrialStarted)]
    assert [s.params[ACT] for s in started] == ["tanh"]  # the grid's one new combination
    assert f"search space: {ACT} choices: added tanh" in reports[0].notes

    fixed = experiment([{"name": ACT, "type": "fixed", "value": "relu"}, lr(1e-3, 0.5)])
    reports = run(fixed, db, resume=True, trials=3)
    after = trials_of(db)
    assert [(t.params[ACT], t.outside_space) for t in after[:2]] == [
        ("relu", False),
        ("tanh", True),
    ]
    assert [t.params[ACT] for t in after[2:]] == ["relu"]
    assert f"search space: {ACT} fixed at relu (was categorical relu, tanh)" in reports[0].notes


def test_a_refused_change_leaves_the_history_byte_for_byte_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment([lr(1e-3, 0.5)], budget={"trials": 2})
    run(spec, db)
    before = history_bytes(db)
    longer = experiment([lr(1e-4, 0.5)], training={**spec.training.model_dump(), "iterations": 30})
    with pytest.raises(MetaguiError, match=r"cannot resume study 'edit'.*training\.iterations"):
        run(longer, db, resume=True, trials=3)
    assert history_bytes(db) == before
    with pytest.raises(MetaguiError, match=r"objective\.split"):
        run(experiment([lr(1e-3, 0.5)], objective={"split": "test"}), db, resume=True)
    assert history_bytes(db) == before


def test_a_study_without_a_result_may_still_change_its_base_settings(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment([lr(1e-3, 0.5)], budget={"trials": 1})
    with HistoryWriter(db) as writer:  # a run stopped during its first trial
        study_id = writer.create_study(
            "edit", spec.model_dump_json(by_alias=True), "minimize", "random", spec.seed
        )
        trial = writer.start_trial(study_id, 0, {LR: 0.01}, 7)
        writer.finish_trial(trial, "FAILED", error="interrupted: the run stopped")
    quicker = experiment(
        [lr(1e-3, 0.5)],
        training={**spec.training.model_dump(), "iterations": 2},
        budget={"trials": 1},
    )
    reports = run(quicker, db, resume=True)
    assert "changed: training.iterations 3 -> 2" in reports[0].notes
    after = trials_of(db)
    assert [(t.state, t.retry_of) for t in after] == [("FAILED", None), ("COMPLETE", 0)]
    assert notes_of(db).endswith("experiment edited: training.iterations 3 -> 2")


def test_the_strategy_sees_earlier_trials_at_the_base_value_of_a_newly_searched_setting() -> None:
    spec = experiment(
        [lr(1e-3, 0.5), {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 3}]
    )
    earlier = TrialRow(
        1, 1, 0, "COMPLETE", {LR: 0.01}, 0.5, None, 7, None, None, None, None, None, False, None, 1
    )
    outside = TrialRow(
        2,
        1,
        1,
        "COMPLETE",
        {LR: 0.9},
        0.4,
        None,
        8,
        None,
        None,
        None,
        None,
        None,
        False,
        None,
        2,
        outside_space=True,
    )
    assert outside_numbers(spec, [earlier, outside]) == [1]
    (seen,) = strategy_trials(spec, [earlier, outside])
    assert seen.params == {LR: 0.01, "algorithm.inner_steps": 1}
    assert math.isclose(seen.value or 0, 0.5)
