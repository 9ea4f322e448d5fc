"""Experiment files: exact round trips in YAML, JSON and TOML, one clear error per bad file,
no code execution from YAML, robustness against any document, and a current JSON Schema."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from metagui.core.errors import MetaguiError
from metagui.core.experiment import PRUNERS, STRATEGIES, ExperimentSpec
from metagui.core.experiment_io import (
    dumps_experiment,
    experiment_json_schema,
    load_experiment,
    load_experiment_meta,
    save_experiment,
    validate_experiment,
)
from metagui.core.spec import ALGORITHMS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.yaml"))
SCHEMA_FILE = ROOT / "resources" / "schema" / "experiment.schema.json"
FORMATS = ("yaml", "json", "toml")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# Strategies: valid experiments over every parameter type, with awkward values.

texts = st.text(max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(texts, st.integers(-(2**63), 2**63 - 1), finite, st.booleans())
scalar_lists = st.lists(scalars, min_size=1, max_size=4, unique_by=lambda c: (type(c), c))
absolute_paths = texts.map(lambda s: "/data/" + s)
positive = st.floats(min_value=1e-9, max_value=1e3)
# Each setting a search may range over, with the values that setting accepts: a search
# parameter's choices and range ends must be values of its setting.
SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "algorithm.inner_lr": positive,
    "algorithm.inner_steps": st.integers(1, 100),
    "algorithm.name": st.sampled_from(ALGORITHMS),
    "algorithm.first_order": st.booleans(),
    "optimizer.lr": positive,
    "optimizer.name": st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"]),
    "optimizer.momentum": st.floats(min_value=0, max_value=1, exclude_max=True),
    "model.filters": st.integers(1, 1024),
    "model.activation": st.sampled_from(["relu", "tanh", "gelu"]),
    "model.hidden_sizes": st.lists(st.integers(1, 512), min_size=1, max_size=4),
    "training.meta_batch_size": st.integers(1, 4096),
    "seed": st.integers(0, 2**63 - 1),
    "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1", "mps"]),
}
RANGED = {"algorithm.inner_lr", "optimizer.lr", "optimizer.momentum"}  # float settings


def _ordered(pair: list[float]) -> tuple[float, float]:
    return min(pair), max(pair)


@st.composite
def float_params(draw: st.DrawFn, values: st.SearchStrategy[float]) -> dict[str, Any]:
    low, high = _ordered(draw(st.lists(values, min_size=2, max_size=2)))
    log = low > 0 and draw(st.booleans())
    step = None if log else draw(st.none() | st.floats(min_value=1e-9, max_value=1e9))
    return {"type": "float", "low": low, "high": high, "log": log, "step": step}


@st.composite
def int_params(draw: st.DrawFn, values: st.SearchStrategy[int]) -> dict[str, Any]:
    low, high = sorted(draw(st.lists(values, min_size=2, max_size=2)))
    log = low > 0 and draw(st.booleans())
    return {
        "type": "int",
        "low": low,
        "high": high,
        "log": log,
        "step": 1 if log else draw(st.integers(1, 100)),
    }


def param_bodies(name: str) -> st.SearchStrategy[dict[str, Any]]:
    values = SETTINGS[name]
    if name == "model.hidden_sizes":  # a list: only a fixed value can set it
        return values.map(lambda v: {"type": "fixed", "value": v})
    bodies = [
        st.lists(values, min_size=1, max_size=4, unique_by=lambda c: (type(c), c)).map(
            lambda c: {"type": "categorical", "choices": c}
        ),
        values.map(lambda v: {"type": "fixed", "value": v}),
    ]
    if name in RANGED:
        bodies.append(float_params(values))
    elif name in ("algorithm.inner_steps", "model.filters", "training.meta_batch_size", "seed"):
        bodies.append(int_params(values))
    return st.one_of(bodies)


@st.composite
def search_spaces(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(list(SETTINGS)), unique=True, max_size=5))
    params = []
    for i, name in enumerate(names):
        body = {"name": name, **draw(param_bodies(name))}
        if draw(st.booleans()):
            on = draw(st.sampled_from([n for n in names[:i] + list(SETTINGS) if n != name]))
            body["condition"] = {"param": on, "in": draw(scalar_lists)}
        params.append(body)
    return {"params": params}


@st.composite
def tasksets(draw: st.DrawFn) -> dict[str, Any]:
    family = draw(st.sampled_from(["sinusoid", "omniglot", "image_folder", "text_csv"]))
    if family == "sinusoid":
        pair = st.lists(finite, min_size=2, max_size=2).map(_ordered)
        return {"family": family, "k_shot": draw(st.integers(1, 50)), "amplitude": draw(pair)}
    if family == "text_csv":
        ngram = sorted(draw(st.lists(st.integers(1, 8), min_size=2, max_size=2)))
        return {"family": family, "path": draw(absolute_paths), "ngram": ngram}
    return {"family": family, "root": draw(absolute_paths), "n_way": draw(st.integers(2, 20))}


@st.composite
def models(draw: st.DrawFn) -> dict[str, Any]:
    filters = draw(st.integers(1, 256))
    norm = draw(st.sampled_from(["none", "batch", "group", "layer"]))
    divisors = [g for g in range(1, filters + 1) if filters % g == 0]
    groups = draw(st.sampled_from(divisors) if norm == "group" else st.integers(1, 64))
    return {
        "kind": draw(st.sampled_from(["auto", "mlp", "conv4", "text"])),
        "hidden_sizes": draw(st.lists(st.integers(1, 512), min_size=1, max_size=4)),
        "filters": filters,
        "norm": norm,
        "groups": groups,
    }


timeouts = st.floats(min_value=1e-3, max_value=1e9)
budgets = st.one_of(  # trials, timeout_s or both
    st.fixed_dictionaries({"trials": st.integers(1, 10_000), "timeout_s": st.none() | timeouts}),
    st.fixed_dictionaries({"trials": st.none(), "timeout_s": timeouts}),
)
experiment_dicts = st.fixed_dictionaries(
    {
        "taskset": tasksets(),
        "model": models(),
        "algorithm": st.fixed_dictionaries(
            {
                "name": st.sampled_from(ALGORITHMS),
                "inner_lr": st.floats(min_value=1e-9, max_value=1e3),
                "eval_inner_steps": st.none() | st.integers(0, 200),
                "first_order": st.booleans(),
            }
        ),
        "optimizer": st.fixed_dictionaries(
            {"momentum": st.floats(min_value=0, max_value=1, exclude_max=True)}
        ),
        "seed": st.integers(0, 2**63 - 1),
        "device": SETTINGS["device"],
        # any name that can name the study's folder (check_study_name): awkward but valid
        "name": st.text(
            st.characters(exclude_categories=["Cc", "Cs"], exclude_characters='/\\:*?"<>|'),
            min_size=1,
            max_size=40,
        ).filter(lambda name: name.strip() == name and name not in (".", "..")),
        "objective": st.fixed_dictionaries(
            {"direction": st.sampled_from(["auto", "minimize", "maximize"])}
        ),
        "search_space": search_spaces(),
        "strategy": st.fixed_dictionaries(
            {"name": st.sampled_from(STRATEGIES), "population_size": st.none() | st.integers(2, 99)}
        ),
        "pruner": st.fixed_dictionaries(
            {
                "name": st.sampled_from(PRUNERS),
                "lower": st.none() | finite,
                "upper": st.none() | finite,
            }
        ),
        "budget": budgets,
        "warm_start": st.lists(texts, max_size=3),
    }
)
experiments = experiment_dicts.map(ExperimentSpec.model_validate)


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("fmt", FORMATS)
@FAST
@given(spec=experiments)
def test_round_trip_is_exact(
    fmt: str, spec: ExperimentSpec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("rt") / f"exp.{fmt}"
    save_experiment(spec, path)
    assert load_experiment(path, check_resources=False) == spec


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_round_trip(example: Path, fmt: str, tmp_path: Path) -> None:
    spec = load_experiment(example, check_resources=False)
    save_experiment(spec, tmp_path / f"copy.{fmt}")
    assert load_experiment(tmp_path / f"copy.{fmt}", check_resources=False) == spec


AWKWARD_TEXTS = ["null", "~", "true", "1.5", "0x1F", "1e5", "- a", "a: b", "#c", " pad ", "",
                 "x\r\ny", "nel\x85", "ls\u2028", "é ü 漢字", "tab\t", "'\"",
                 "\ufeffbom"]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_awkward_strings_round_trip(fmt: str, tmp_path: Path) -> None:
    texts = [t for t in AWKWARD_TEXTS if t]  # a column name is never empty
    choices = {"name": "taskset.text_column", "type": "categorical", "choices": texts}
    numbers = {"name": "algorithm.inner_lr", "type": "categorical", "choices": [1, 1.0]}
    spec = ExperimentSpec.model_validate(
        {
            # line separators YAML treats as breaks; a study name holds no control character
            "name": "n\u2029\u2028é 漢字",
            "taskset": {"family": "text_csv", "path": "/data/t.csv"},
            "warm_start": AWKWARD_TEXTS,
            "search_space": {"params": [choices, numbers]},
        }
    )
    save_experiment(spec, tmp_path / f"e.{fmt}")
    assert load_experiment(tmp_path / f"e.{fmt}", check_resources=False) == spec


def test_yaml_is_in_the_order_a_researcher_writes(tmp_path: Path) -> None:
    spec = ExperimentSpec(name="order")
    save_experiment(spec, tmp_path / "e.yaml")
    text = (tmp_path / "e.yaml").read_text(encoding="utf-8")
    assert text.startswith("name: order\n")
    data = yaml.safe_load(text)
    # No search space, warm start or execution section: none is written.
    assert list(data) == [
        "name", "taskset", "algorithm", "model", "optimizer", "training", "strategy", "pruner",
        "budget", "objective", "seed", "device",
    ]  # fmt: skip
    assert list(data["algorithm"]) == ["name", "inner_lr", "inner_steps", "first_order"]
    assert next(iter(data["taskset"])) == "family"


# Learner -> (settings its file states, settings it ignores that stay out at their defaults).
LEARNER_SETTINGS = {
    "maml": ({"inner_lr", "inner_steps", "first_order"}, {"msl_iterations", "cnp_hidden"}),
    "fomaml": ({"inner_lr", "inner_steps"}, {"first_order", "msl_iterations", "cnp_hidden"}),
    "reptile": ({"inner_lr", "inner_steps"}, {"first_order", "msl_iterations", "cnp_hidden"}),
    "metasgd": ({"inner_lr", "inner_steps", "first_order"}, {"msl_iterations", "cnp_hidden"}),
    "anil": ({"inner_lr", "inner_steps", "first_order"}, {"msl_iterations", "cnp_hidden"}),
    "mamlpp": ({"inner_lr", "msl_iterations", "first_order"}, {"cnp_hidden"}),
    "protonet": (set(), {"inner_lr", "inner_steps", "first_order", "cnp_hidden"}),
    "cnp": ({"cnp_hidden"}, {"inner_lr", "inner_steps", "first_order", "msl_iterations"}),
}


def test_every_learner_is_covered() -> None:
    assert set(LEARNER_SETTINGS) == set(ALGORITHMS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("learner", ALGORITHMS)
def test_a_saved_file_states_what_the_learner_uses(learner: str, fmt: str, tmp_path: Path) -> None:
    spec = ExperimentSpec.model_validate(
        {"name": f"{learner} run", "algorithm": {"name": learner}, "optimizer": {"lr": 0.003}}
    )
    path = tmp_path / f"e.{fmt}"
    save_experiment(spec, path)
    assert load_experiment(path, check_resources=False) == spec
    data = _read(path, fmt)
    uses, ignores = LEARNER_SETTINGS[learner]
    assert uses <= set(data["algorithm"]) and not ignores & set(data["algorithm"])
    assert data["name"] == f"{learner} run" and data["optimizer"]["lr"] == 0.003
    assert "eval_inner_steps" not in data["algorithm"]  # None: "same as inner steps"
    if fmt != "toml":  # TOML writes the top-level scalars before the tables
        assert next(iter(data)) == "name"


def _read(path: Path, fmt: str) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if fmt == "toml":
        import tomllib

        return tomllib.loads(text)
    loaded: dict[str, Any] = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    return loaded


def test_protonet_on_conv4_leaves_out_what_it_ignores(tmp_path: Path) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "name": "proto",
            "taskset": {"family": "image_folder", "root": "/data/classes"},
            "model": {"kind": "conv4", "filters": 32},
            "algorithm": {"name": "protonet"},
        }
    )
    save_experiment(spec, tmp_path / "e.yaml")
    data = yaml.safe_load((tmp_path / "e.yaml").read_text(encoding="utf-8"))
    assert data["algorithm"] == {"name": "protonet"}
    assert data["model"] == {"kind": "conv4", "filters": 32, "norm": "batch"}
    assert data["taskset"] == {
        "family": "image_folder", "root": "/data/classes", "n_way": 5, "k_shot": 1, "q_query": 15,
    }  # fmt: skip
    assert load_experiment(tmp_path / "e.yaml", check_resources=False) == spec


def test_a_changed_setting_is_kept_even_where_the_learner_ignores_it(tmp_path: Path) -> None:
    # Switching the learner back must find the value the user set: the file keeps it.
    spec = ExperimentSpec.model_validate({"algorithm": {"name": "protonet", "inner_lr": 0.5}})
    save_experiment(spec, tmp_path / "e.yaml")
    data = yaml.safe_load((tmp_path / "e.yaml").read_text(encoding="utf-8"))
    assert data["algorithm"] == {"name": "protonet", "inner_lr": 0.5}
    assert load_experiment(tmp_path / "e.yaml", check_resources=False) == spec


def test_settings_of_a_searched_learner_are_stated(tmp_path: Path) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "algorithm": {"name": "protonet"},
            "search_space": {
                "params": [{"name": "algorithm.name", "type": "categorical",
                            "choices": ["protonet", "mamlpp"]}]
            },
        }
    )  # fmt: skip
    save_experiment(spec, tmp_path / "e.yaml")
    data = yaml.safe_load((tmp_path / "e.yaml").read_text(encoding="utf-8"))
    assert {"inner_lr", "msl_iterations"} <= set(data["algorithm"])
    assert data["search_space"]["params"] == [
        {"name": "algorithm.name", "type": "categorical", "choices": ["protonet", "mamlpp"]}
    ]


def test_an_execution_section_is_written_and_read_back(tmp_path: Path) -> None:
    spec = ExperimentSpec(name="wide", execution={"parallel": 4, "gpus_per_trial": 0.25})
    for fmt in ("yaml", "json", "toml"):
        save_experiment(spec, tmp_path / f"e.{fmt}")
        back = load_experiment(tmp_path / f"e.{fmt}")
        assert back == spec and back.execution is not None and back.execution.parallel == 4
    # A trial's exported settings do not say how the study ran.
    assert spec.with_params({}).execution is None


def test_condition_is_written_with_its_alias(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "search_space:\n  params:\n  - {name: algorithm.inner_steps, type: int, low: 1, high: 5,"
        " condition: {param: algorithm.name, in: [maml]}}\n",
        encoding="utf-8",
    )
    spec = load_experiment(tmp_path / "e.yaml")
    save_experiment(spec, tmp_path / "e.json")
    data = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert data["search_space"]["params"][0]["condition"] == {
        "param": "algorithm.name",
        "in": ["maml"],
    }


def _optional_fields_with_other_default(model: type[BaseModel], seen: set[type]) -> set[str]:
    """``Model.field`` for every field reachable from ``model`` that accepts None but whose
    default is not None."""
    found: set[str] = set()
    if model in seen:
        return found
    seen.add(model)
    for name, field in model.model_fields.items():
        stack = [field.annotation]
        while stack:
            ann = stack.pop()
            args = typing.get_args(ann)
            if ann is type(None) and not (field.default is None and field.default_factory is None):
                found.add(f"{model.__name__}.{name}")
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                found |= _optional_fields_with_other_default(ann, seen)
            if typing.get_origin(ann) in (typing.Union, types.UnionType, typing.Annotated, list):
                stack.extend(args)
    return found


def test_toml_keeps_a_null_whose_default_is_not_null(tmp_path: Path) -> None:
    # TOML has no null: a dropped None reads back as the field's default. Every field where
    # that default is not None must come back through ``_null``; these are the known ones.
    assert _optional_fields_with_other_default(ExperimentSpec, set()) == {"BudgetSpec.trials"}
    spec = ExperimentSpec.model_validate({"budget": {"trials": None, "timeout_s": 60.0}})
    text = dumps_experiment(spec, "toml")
    assert '_null = [\n    "budget.trials",\n]' in text
    (tmp_path / "e.toml").write_text(text, encoding="utf-8")
    assert load_experiment(tmp_path / "e.toml").budget.trials is None
    assert "_null" not in dumps_experiment(ExperimentSpec(), "toml")  # None defaults: dropped


# ---------------------------------------------------------------------------------------------
# Paths, overrides and the _meta block


def test_relative_data_paths_follow_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exp"
    for images in (folder / "data" / "images", tmp_path / "other"):  # data must exist at load
        (images / "class").mkdir(parents=True)
    (folder / "e.toml").write_text(
        '[taskset]\nfamily = "image_folder"\nroot = "data/images"\n', encoding="utf-8"
    )
    spec = load_experiment(folder / "e.toml")
    assert spec.taskset.root == str((folder / "data" / "images").resolve())  # type: ignore[union-attr]
    monkeypatch.chdir(tmp_path)
    spec = load_experiment(folder / "e.toml", ["taskset.root=other", "budget.trials=3"])
    assert spec.taskset.root == str((tmp_path / "other").resolve())  # type: ignore[union-attr]
    assert spec.budget.trials == 3


def test_overrides_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("name: base\n", encoding="utf-8")
    spec = load_experiment(tmp_path / "e.yaml", ["algorithm.inner_lr=0.5", "name=tuned"])
    assert (spec.algorithm.inner_lr, spec.name) == (0.5, "tuned")
    with pytest.raises(MetaguiError, match=r"e\.yaml: algorithm\.inner_lr: .*greater than 0"):
        load_experiment(tmp_path / "e.yaml", ["algorithm.inner_lr=0"])


def test_meta_block_is_ignored_and_readable(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("_meta: {study: s, trial: 3}\nname: again\n", encoding="utf-8")
    assert load_experiment(tmp_path / "e.yaml").name == "again"
    assert load_experiment_meta(tmp_path / "e.yaml") == {"study": "s", "trial": 3}
    (tmp_path / "plain.yaml").write_text("name: plain\n", encoding="utf-8")
    assert load_experiment_meta(tmp_path / "plain.yaml") is None


# ---------------------------------------------------------------------------------------------
# Errors: one line naming the file, the field path and the problem

FLOAT_PARAM = "search_space:\n  params:\n  - {name: algorithm.inner_lr, type: float, %s}\n"
BAD_FILES = [
    ("low-high.yaml", FLOAT_PARAM % "low: 5.0, high: 1.0",
     "search_space.params.0.low: low (5.0) must not exceed high (1.0)"),
    ("log.yaml", FLOAT_PARAM % "low: 0, high: 1, log: true",
     "search_space.params.0: a log range needs low > 0"),
    ("type.yaml", "training:\n  iterations: many\n",
     "training.iterations: Input should be a valid integer"),
    ("algo.json", '{"algorithm": {"name": "mammal"}}',
     "algorithm.name: Input should be 'maml', 'fomaml'"),
    ("cond.yaml", FLOAT_PARAM % "low: 0.1, high: 1, condition: {param: nope, in: [1]}",
     "search_space.params.0.condition.param: 'algorithm.inner_lr' is conditional on 'nope'"),
    ("unknown.yaml", "search_space:\n  params:\n  - {name: model.nope, type: int, low: 1, high: 2}",
     "search_space.params.0.name: 'model.nope' is not a setting"),
    ("empty.toml", '[[search_space.params]]\nname = "optimizer.name"\ntype = "categorical"\n'
     "choices = []\n", "search_space.params.0.choices: List should have at least 1 item"),
    ("tag.yaml", FLOAT_PARAM.replace("float", "floaty") % "low: 1, high: 2",
     "search_space.params.0.type: Input tag 'floaty'"),
    ("choice.yaml", "search_space:\n  params:\n  - {name: model.norm, type: categorical, "
     "choices: [{a: 1}]}\n", "search_space.params.0.choices.0: Input should be a valid "
     "string, a valid integer, a valid number or a valid boolean"),
    ("tagkey.yaml", FLOAT_PARAM % "low: x, high: 2, float: {}",  # a key named like the tag
     "search_space.params.0.low: Input should be a valid number, unable to parse string as a "
     "number (and 1 more)"),
    ("extra.yaml", FLOAT_PARAM % "low: 1, high: 2, hgih: 3",
     "search_space.params.0.hgih: Extra inputs are not permitted"),
    ("top.yaml", "colour: blue\n", "colour: Extra inputs are not permitted"),
    ("missing.yaml", "taskset: {family: omniglot}\n", "taskset.root: Field required"),
    ("amp.yaml", "taskset: {family: sinusoid, amplitude: [5, 1]}\n",
     "taskset.amplitude: low (5.0) must not exceed high (1.0)"),
    ("budget.yaml", "budget: {trials: null}\n", "budget: give trials, timeout_s or both"),
    ("list.yaml", "- a\n- b\n", "expected a mapping of settings at the top level, found a list"),
    ("blank.yaml", "", "the file holds no settings"),
    ("syntax.yaml", "name: x\nmodel: [1, 2\nseed: 3\n", "not valid YAML (line 3, column 5"),
    ("syntax.json", '{\n  "name": "x",\n  "seed": }\n', "not valid JSON (line 3, column 11"),
    ("syntax.toml", 'name = "x"\nseed = \n', "not valid TOML (Invalid value (at line 2"),
    ("date.yaml", "name: 2020-13-45\n", "not valid YAML (month must be in 1..12)"),
    ("meta.yaml", "_meta: [1]\n", "_meta: expected a mapping"),
    ("null.yaml", "_null: [budget.trials]\n", "_null: Extra inputs are not permitted"),
    ("null.toml", "_null = 3\n", "_null: expected a list of dotted field paths"),
    ("deep.json", "[" * 100_000, "nested too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_gives_one_clear_message(
    name: str, text: str, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MetaguiError) as info:
        load_experiment(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "\n" not in message and "Value error" not in message, message
    assert message.count("search_space.params.0") <= 1, message


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(MetaguiError, match=r"nope\.yaml: cannot read \(No such file"):
        load_experiment(tmp_path / "nope.yaml")
    (tmp_path / "e.ini").write_text("[x]\n", encoding="utf-8")
    with pytest.raises(MetaguiError, match=r"e\.ini: unknown experiment file type"):
        load_experiment(tmp_path / "e.ini")
    with pytest.raises(MetaguiError, match=r"e\.txt: unknown experiment file type"):
        save_experiment(ExperimentSpec(), tmp_path / "e.txt")


@pytest.mark.parametrize(
    "template",
    [
        '!!python/object/apply:os.system ["touch {marker}"]\n',
        'name: !!python/object/apply:os.system ["touch {marker}"]\n',
        "seed: !!python/object/new:subprocess.check_call [[touch, {marker}]]\n",
    ],
)
def test_yaml_python_tags_are_rejected_and_run_nothing(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(template.format(marker=marker), encoding="utf-8")
    with pytest.raises(MetaguiError, match=r"evil\.yaml: not valid YAML .*python/object"):
        load_experiment(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Any document: a valid experiment or a MetaguiError, never another exception

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*SETTINGS, "type", "family", "params"]) | texts, children, max_size=4
        )
    ),
    max_leaves=12,
)


@st.composite
def damaged_documents(draw: st.DrawFn) -> Any:
    """A valid experiment's document with one value somewhere replaced by random data."""
    doc = draw(experiment_dicts.map(ExperimentSpec.model_validate)).model_dump(
        mode="json", by_alias=True
    )
    node: Any = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return doc
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        node[key] = draw(json_values)
        return doc


def _load_any(path: Path) -> None:
    try:
        spec = load_experiment(path)
    except MetaguiError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert isinstance(spec, ExperimentSpec)


@FAST
@given(doc=json_values | damaged_documents(), as_yaml=st.booleans())
def test_any_document_loads_or_fails_cleanly(
    doc: Any, as_yaml: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("doc")
    path = folder / ("e.yaml" if as_yaml else "e.json")
    path.write_text(yaml.safe_dump(doc) if as_yaml else json.dumps(doc), encoding="utf-8")
    _load_any(path)


YAML_TOKENS = ["a", "name", "taskset", "search_space", "params", ":", "-", "[", "]", "{", "}",
               ",", "!!", "!!python/name:os.system", "&x", "*x", "'", '"', "#", "?", "|", ">",
               "1", "1.5", "-3", "null", "true", "2020-13-45", "type:", "low:", "<<:", "=",
               "[[x]]", "\\", " ", "  ", "\n", "\t", "- ", "? ", "&x "]  # fmt: skip


@FAST
@given(
    text=st.text() | st.lists(st.sampled_from(YAML_TOKENS), max_size=30).map("".join),
    ext=st.sampled_from(["yaml", "json", "toml"]),
)
def test_any_text_loads_or_fails_cleanly(
    text: str, ext: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("text") / f"e.{ext}"
    path.write_text(text, encoding="utf-8", newline="")
    _load_any(path)


def test_validate_experiment_names_its_source() -> None:
    with pytest.raises(MetaguiError, match=r"^form: seed: Input should be greater than"):
        validate_experiment({"seed": -1}, "form")


# ---------------------------------------------------------------------------------------------
# Saving and the JSON Schema


def test_saving_to_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MetaguiError, match=r"e\.yaml: cannot write"):
        save_experiment(ExperimentSpec(), tmp_path / "missing" / "e.yaml")


def test_committed_json_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == experiment_json_schema(), (
        "resources/schema/experiment.schema.json is stale: regenerate it with\n"
        '  python -c "from metagui.core.experiment_io import write_json_schema; '
        "write_json_schema('resources/schema/experiment.schema.json')\""
    )
    assert committed["additionalProperties"] is False
    assert {"_meta", "search_space", "taskset"} <= set(committed["properties"])
