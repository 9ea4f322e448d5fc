"""The private and semi-private parts of Optuna and torch that the core relies on, checked
against the installed libraries: a release that changes one of them fails here, with the
name of the pin in ``pyproject.toml`` and of the code to revisit, before a study gives a
wrong pruning reason or a resumed search repeats itself. (pyqtgraph's:
``tests/qt/test_pyqtgraph_internals.py``.)"""

from __future__ import annotations

import inspect
import math
from importlib.metadata import version

import numpy as np
import optuna
import pytest
import torch
from optuna.samplers import QMCSampler
from optuna.trial import TrialState

from metagui.core.experiment import PrunerSpec
from metagui.core.strategies._optuna import _ContinuedQMCSampler, quiet_experimental
from metagui.core.strategies._pruners import make_pruner, prune_reason, rung_records

OPTUNA = f"optuna {version('optuna')}: revisit the optuna bound in pyproject.toml and "
TORCH = f"torch {version('torch')}: revisit the torch bound in pyproject.toml and "


def _asha_study(spec: PrunerSpec, trials: int, steps: int) -> tuple[optuna.Study, dict[int, str]]:
    """A real Optuna study under ``spec``'s successive halving pruner, checked after every
    report as metagui's strategy does, with the reason given for each pruned trial at the
    moment it was pruned; trials differ by an offset in a shuffled order, so that some go
    through several rungs and some are pruned."""
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0), pruner=make_pruner(spec)
    )
    rng = np.random.default_rng(0)
    reasons: dict[int, str] = {}
    for number in range(trials):
        trial = study.ask()
        offset = 0.1 * (number * 5 % trials)
        for step in range(steps):
            trial.report(1.0 / (step + 1) + offset + 0.01 * rng.random(), step)
            if trial.should_prune():
                frozen = study.get_trials(deepcopy=False)[trial.number]
                reasons[trial.number] = prune_reason(spec, study, frozen)
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, 1.0 / steps + offset)
    return study, reasons


def test_successive_halving_records_the_rungs_the_pruning_reasons_read() -> None:
    """``_pruners._rung_reason`` reads the ``completed_rung_N`` system attributes that
    ``SuccessiveHalvingPruner`` writes, and ``rung_records`` writes them again for a resumed
    study: both must match what Optuna itself records."""
    spec = PrunerSpec(name="asha", min_resource=1, reduction_factor=2)
    study, reasons = _asha_study(spec, trials=8, steps=9)
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        recorded = {k: v for k, v in trial.system_attrs.items() if k.startswith("completed_rung_")}
        assert "completed_rung_0" in recorded, (
            OPTUNA + "metagui/core/strategies/_pruners.py: SuccessiveHalvingPruner no longer "
            f"records completed_rung_N system attributes (trial {trial.number} has "
            f"{sorted(trial.system_attrs)})"
        )
        assert rung_records(spec, trial.intermediate_values) == pytest.approx(recorded), (
            OPTUNA + "rung_records in metagui/core/strategies/_pruners.py: what it rebuilds "
            f"for a resumed ASHA differs from what Optuna recorded on trial {trial.number}"
        )
    pruned = [t.number for t in trials if t.state == TrialState.PRUNED]
    assert pruned and sorted(reasons) == pruned, "the study is built to have trials pruned"
    for number, reason in reasons.items():
        attrs = trials[number].system_attrs
        rung = max(int(k.removeprefix("completed_rung_")) for k in attrs if "rung" in k)
        value = attrs[f"completed_rung_{rung}"]
        assert f"ASHA pruner: {value:.4g} at step" in reason and f"rung {rung} " in reason, (
            OPTUNA + "_rung_reason in metagui/core/strategies/_pruners.py does not read the "
            f"rung record Optuna left on pruned trial {number} ({attrs}): {reason!r}"
        )
    assert any("rung 1 " in r for r in reasons.values()), "some trial passed rung 0"


def test_a_sampler_can_note_system_attributes_through_the_study_storage() -> None:
    """``_prior.PriorSampler.sample_relative`` copies what its inner sampler noted on a
    trial of a scratch study to the real one through ``study._storage`` and
    ``trial._trial_id``."""
    study = optuna.create_study()
    study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    assert hasattr(study, "_storage") and hasattr(frozen, "_trial_id"), (
        OPTUNA + "metagui/core/strategies/_prior.py (sample_relative): Study._storage or "
        "FrozenTrial._trial_id is gone"
    )
    storage = study._storage
    assert storage.get_trial(frozen._trial_id).number == frozen.number
    storage.set_trial_system_attr(frozen._trial_id, "noted", [1, 2])
    assert study.get_trials(deepcopy=False)[0].system_attrs["noted"] == [1, 2], (
        OPTUNA + "metagui/core/strategies/_prior.py: set_trial_system_attr through the "
        "storage no longer reaches the study's trials"
    )


def test_a_continued_sobol_sampler_takes_up_the_sequence_where_it_was_left() -> None:
    """``_optuna._ContinuedQMCSampler`` overrides ``QMCSampler._find_sample_id`` (private) to
    skip the points a resumed study's first session drew."""
    params = list(inspect.signature(QMCSampler._find_sample_id).parameters)
    assert params == ["self", "study", "search_space"], (
        OPTUNA + "_ContinuedQMCSampler in metagui/core/strategies/_optuna.py: "
        f"QMCSampler._find_sample_id now takes {params}"
    )
    qmc = {"qmc_type": "sobol", "scramble": True, "seed": 3, "warn_independent_sampling": False}

    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1)

    with quiet_experimental():
        whole = optuna.create_study(sampler=QMCSampler(**qmc))
        whole.optimize(objective, n_trials=5)
        # The first trial is drawn independently; Sobol points 0, 1, ... go to trials 1, 2, ...
        resumed = optuna.create_study(sampler=_ContinuedQMCSampler(skip=2, **qmc))
        resumed.add_trial(whole.trials[0])
        resumed.optimize(objective, n_trials=2)
    assert [t.params for t in resumed.trials[1:]] == [t.params for t in whole.trials[3:5]], (
        OPTUNA + "_ContinuedQMCSampler in metagui/core/strategies/_optuna.py: overriding "
        "_find_sample_id no longer moves the Sobol sequence on"
    )


def test_every_batch_norm_layer_is_a_private_batch_norm_base() -> None:
    """``predict._support_batch_norm`` hooks the modules that are
    ``nn.modules.batchnorm._BatchNorm`` (private) and reads their weight, bias and eps."""
    base = getattr(torch.nn.modules.batchnorm, "_BatchNorm", None)
    assert base is not None, TORCH + "metagui/core/predict.py: _BatchNorm is gone"
    for layer in (torch.nn.BatchNorm1d(3), torch.nn.BatchNorm2d(3), torch.nn.BatchNorm3d(3)):
        assert isinstance(layer, base), TORCH + f"metagui/core/predict.py misses {layer}"
        assert layer.weight is not None and layer.bias is not None and math.isfinite(layer.eps)


def test_dynamo_has_a_recompile_limit_to_raise() -> None:
    """``MetaLearner.set_compile`` raises Dynamo's limit of recompilations per function
    (``recompile_limit``, ``cache_size_limit`` before torch 2.7): the per-task shapes of a
    meta-batch would otherwise fall back to eager after a few."""
    import torch._dynamo

    config = torch._dynamo.config
    names = [n for n in ("recompile_limit", "cache_size_limit") if hasattr(config, n)]
    assert names, TORCH + "metagui/core/learners/_base.py set_compile: Dynamo has no limit"
    assert isinstance(getattr(config, names[0]), int), TORCH + "set_compile: not a number"
