"""Exports: experiment files that reproduce a trial, Hydra results, argparse lines, trials CSV."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metagui
from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment, load_experiment_meta
from metagui.core.export import (
    CSV_COLUMNS,
    ExportMeta,
    export_args,
    export_experiment,
    export_hydra,
    export_trials_csv,
    parse_args_line,
)
from metagui.core.spec import TrainSpec

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPEC = ExperimentSpec.model_validate(
    {
        "name": "sine search",
        "taskset": {"family": "sinusoid", "k_shot": 5},
        "model": {"kind": "mlp"},
        "search_space": {
            "params": [
                {
                    "name": "algorithm.inner_lr",
                    "type": "float",
                    "low": 1e-4,
                    "high": 1.0,
                    "log": True,
                },
                {"name": "model.filters", "type": "int", "low": 8, "high": 64, "step": 8},
                {"name": "optimizer.name", "type": "categorical", "choices": ["adam", "sgd"]},
                {"name": "algorithm.first_order", "type": "categorical", "choices": [True, False]},
                {"name": "model.hidden_sizes", "type": "fixed", "value": [32, 32]},
                {
                    "name": "algorithm.inner_steps",
                    "type": "int",
                    "low": 1,
                    "high": 5,
                    "condition": {"param": "algorithm.first_order", "in": [False]},
                },
            ]
        },
        "budget": {"trials": 50, "timeout_s": 3600},
        "warm_start": ["older study"],
    }
)
trial_params = st.fixed_dictionaries(
    {
        "algorithm.inner_lr": st.floats(min_value=1e-4, max_value=1.0),
        "model.filters": st.integers(1, 8).map(lambda i: 8 * i),
        "optimizer.name": st.sampled_from(["adam", "sgd"]),
        "algorithm.first_order": st.booleans(),
        "model.hidden_sizes": st.just([32, 32]),
    },
    optional={"algorithm.inner_steps": st.integers(1, 5)},
)


def _meta(seed: int = 7, value: float | None = 0.125) -> ExportMeta:
    return ExportMeta(
        study="sine", trial=12, value=value, direction="minimize", strategy="tpe", seed=seed
    )


def _as_run(spec: ExperimentSpec, params: dict[str, Any], seed: int) -> TrainSpec:
    """The settings the runner trains a trial with: the trial's own seed, and the study's
    seed for the validation and test tasks unless the experiment fixes ``eval_seed``."""
    data = spec.trial_spec(params, seed).model_dump(mode="json")
    if data["training"]["eval_seed"] is None:
        data["training"]["eval_seed"] = spec.seed
    return TrainSpec.model_validate(data)


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@FAST
@given(params=trial_params, seed=st.integers(0, 2**63 - 1))
def test_exported_file_reproduces_the_trial(
    fmt: str, params: dict[str, Any], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("export") / f"best.{fmt}"
    written = export_experiment(SPEC, params, _meta(seed), path, fmt)
    loaded = load_experiment(path)
    assert loaded == written
    assert loaded.trial_spec({}) == _as_run(SPEC, params, seed)
    assert loaded.search_space.params == [] and loaded.budget.trials == 1
    assert loaded.warm_start == [] and loaded.name == SPEC.name


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_meta_block(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"best.{fmt}"
    before = datetime.now(UTC).replace(microsecond=0)
    export_experiment(SPEC, {"algorithm.inner_lr": 0.03}, _meta(seed=3), path)
    meta = load_experiment_meta(path)
    assert meta is not None
    date = datetime.fromisoformat(meta.pop("date"))
    assert date.tzinfo is not None and before <= date <= datetime.now(UTC)
    assert meta == {
        "study": "sine",
        "trial": 12,
        "value": 0.125,
        "direction": "minimize",
        "strategy": "tpe",
        "seed": 3,
        "metagui_version": metagui.__version__,
        "torch_version": str(torch.__version__),
    }
    text = path.read_text(encoding="utf-8")
    if fmt == "toml":  # TOML writes a table's plain values first, then its sub-tables
        assert text.index("\n[_meta]\n") < text.index("\n[taskset]\n")
    else:
        assert text.startswith({"yaml": "_meta:\n", "json": '{\n  "_meta": {'}[fmt])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_meta_without_value_and_explicit_format(tmp_path: Path) -> None:
    export_experiment(SPEC, {}, _meta(value=None), tmp_path / "best.toml")  # TOML: no null
    meta = load_experiment_meta(tmp_path / "best.toml")
    assert meta is not None and "value" not in meta
    export_experiment(SPEC, {}, _meta(), tmp_path / "best.txt", "json")
    assert (tmp_path / "best.txt").read_text(encoding="utf-8").startswith('{\n  "_meta": {')
    with pytest.raises(MetaguiError, match="unknown experiment format 'ini'"):
        export_experiment(SPEC, {}, _meta(), tmp_path / "best.ini", "ini")


def test_hydra_results(tmp_path: Path) -> None:
    path = tmp_path / "optimization_results.yaml"
    params = {
        "algorithm.inner_lr": np.float64(0.03),
        "model.filters": np.int64(32),
        "optimizer.name": "adam",
        "algorithm.first_order": np.bool_(True),
    }
    export_hydra(params, 0.25, path)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "name: optuna"
    data = yaml.safe_load(text)
    assert list(data) == ["name", "best_params", "best_value"]
    assert data["best_params"] == {
        "algorithm.inner_lr": 0.03,
        "model.filters": 32,
        "optimizer.name": "adam",
        "algorithm.first_order": True,
    }
    assert data["best_value"] == 0.25


def test_args_line() -> None:
    params = {
        "algorithm.inner_lr": 0.03,
        "model.filters": 32,
        "algorithm.first_order": True,
        "optimizer.lr": 1e-05,
        "model.hidden_sizes": [40, 40],
        "name": "two words",
        "note": "it's",
    }
    line = export_args(params)
    assert line == (
        "--algorithm.inner_lr=0.03 --model.filters=32 --algorithm.first_order=True "
        "--optimizer.lr=1e-05 --model.hidden_sizes='[40,40]' --name='two words' "
        "--note='it'\"'\"'s'"
    )
    assert parse_args_line(line) == params
    assert export_args({"x": np.float32(0.5), "n": np.int64(3)}) == "--x=0.5 --n=3"


def _reads_back_as_text(text: str) -> bool:
    if text in ("True", "False") or text.startswith("["):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


arg_names = st.from_regex(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){0,2}", fullmatch=True)
arg_scalars = st.one_of(
    st.floats(allow_nan=False),
    st.integers(),
    st.booleans(),
    st.text().filter(_reads_back_as_text),
)
arg_values = arg_scalars | st.lists(
    arg_scalars.filter(lambda v: not isinstance(v, float) or math.isfinite(v)), max_size=4
)


@FAST
@given(params=st.dictionaries(arg_names, arg_values, max_size=6))
def test_args_line_round_trip(params: dict[str, Any]) -> None:
    parsed = parse_args_line(export_args(params))
    assert parsed == params
    assert [type(v) for v in parsed.values()] == [type(v) for v in params.values()]


@pytest.mark.parametrize("line", ["--a", "a=1", "--=1", "--a='1"])
def test_bad_args_line(line: str) -> None:
    with pytest.raises(MetaguiError):
        parse_args_line(line)


def test_trials_csv(tmp_path: Path) -> None:
    started = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        {
            "number": 0,
            "state": "complete",
            "value": 0.5,
            "seed": 1,
            "started": started,
            "finished": started,
            "duration_s": 1.25,
            "pruned_at_step": None,
            "error": None,
            "excluded": False,
            "params": {"algorithm.inner_lr": 0.01, "optimizer.name": "adam"},
        },
        {
            "number": 1,
            "state": "fail",
            "value": None,
            "seed": 2,
            "started": "2025-01-02",
            "error": 'RuntimeError: "bad", very bad\nsecond line',
            "excluded": True,
            "params": {"algorithm.inner_lr": 1e-05},
        },
        {"number": 2, "state": "pruned", "pruned_at_step": 40},
    ]
    path = tmp_path / "trials.csv"
    export_trials_csv(rows, ["algorithm.inner_lr", "optimizer.name"], path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [dict(zip(header, r, strict=True)) for r in reader]
    assert header == [*CSV_COLUMNS, "param:algorithm.inner_lr", "param:optimizer.name"]
    assert len(records) == 3
    assert records[0]["started"] == "2025-01-02T03:04:05+00:00"
    assert records[0]["value"] == "0.5" and records[0]["pruned_at_step"] == ""
    assert records[0]["param:optimizer.name"] == "adam"
    assert records[1]["error"] == 'RuntimeError: "bad", very bad\nsecond line'
    assert records[1]["value"] == "" and records[1]["excluded"] == "True"
    assert float(records[1]["param:algorithm.inner_lr"]) == 1e-05
    assert records[1]["param:optimizer.name"] == ""
    assert records[2]["pruned_at_step"] == "40" and records[2]["state"] == "pruned"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.csv"]
