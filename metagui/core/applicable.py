"""Which settings apply: the fields of the algorithm, network, optimizer, strategy and pruner
sections that the chosen learner, network, optimizer, strategy and pruner use (``inner_lr``
means nothing to ProtoNet, ``hidden_sizes`` nothing to a conv net).

One table for the whole app: the forms show these settings and hide the others, and a saved
experiment file states these (and any setting changed from its default), so that it reads
like a file a researcher would write by hand.
"""

from __future__ import annotations

from typing import Any

from metagui.core.experiment import ExperimentSpec
from metagui.core.search_space import CategoricalParam, FixedParam, lookup
from metagui.core.spec import GRADIENT_BASED

__all__ = [
    "TASKSET_FIELDS",
    "TRAINING_FIELDS",
    "TRAINING_FORM_FIELDS",
    "algorithm_fields",
    "model_fields",
    "optimizer_fields",
    "possible_values",
    "pruner_fields",
    "resolve_model_kind",
    "settings_in_use",
    "strategy_fields",
]

TASKSET_FIELDS = ("family", "root", "path", "n_way", "k_shot", "q_query")
"""The task-set settings a file always states: which data, and the episode's shape."""
TRAINING_FIELDS = (
    "iterations",
    "meta_batch_size",
    "eval_every",
    "eval_tasks",
    "test_tasks",
    "log_every",
)
"""The training schedule; ``eval_seed``, ``batched``, ``precision``, ``compile`` and the time
budget are stated only when changed."""
TRAINING_FORM_FIELDS = (*TRAINING_FIELDS, "precision")
"""The training settings the app's form shows: the schedule and the arithmetic."""


def algorithm_fields(name: str) -> list[str]:
    """The algorithm settings that apply to learner ``name``."""
    fields = ["name"]
    if name in GRADIENT_BASED:
        fields += ["inner_lr", "inner_steps", "eval_inner_steps"]
    if name in ("maml", "metasgd", "mamlpp", "anil"):
        fields.append("first_order")
    if name == "mamlpp":
        fields.append("msl_iterations")
    if name == "cnp":
        fields.append("cnp_hidden")
    return fields


def resolve_model_kind(kind: str, family: str) -> str:
    """Model ``kind`` with ``auto`` resolved as the engine does for task-set ``family``."""
    if kind != "auto":
        return kind
    return {"sinusoid": "mlp", "text_csv": "text"}.get(family, "conv4")


def model_fields(kind: str, norm: str) -> list[str]:
    """The network settings that apply to a network of ``kind`` (already resolved)."""
    if kind == "conv4":
        return ["kind", "filters", "norm", *(["groups"] if norm == "group" else [])]
    if kind == "text":
        return ["kind", "embed_dim", "hidden_sizes", "activation"]
    return ["kind", "hidden_sizes", "activation"]


def optimizer_fields(name: str) -> list[str]:
    """The outer-optimizer settings that apply to optimizer ``name``."""
    momentum = ["momentum"] if name in ("momentum", "nesterov") else []
    return ["name", "lr", *momentum, "weight_decay", "schedule"]


def strategy_fields(name: str) -> list[str]:
    """The strategy settings that apply to strategy ``name``."""
    fields = ["name"]
    if name in ("tpe", "gp", "cmaes"):
        fields.append("startup_trials")
    if name in ("cmaes", "nsga2", "pso", "de"):
        fields.append("population_size")
    return fields


def pruner_fields(name: str) -> list[str]:
    """The pruner settings that apply to pruner ``name``."""
    return {
        "none": ["name"],
        "median": ["name", "startup_trials", "warmup_steps"],
        "percentile": ["name", "percentile", "startup_trials", "warmup_steps"],
        "asha": ["name", "min_resource", "reduction_factor", "startup_trials"],
        "hyperband": ["name", "min_resource", "reduction_factor", "startup_trials"],
        "threshold": ["name", "lower", "upper", "warmup_steps"],
        "patient": ["name", "patience", "startup_trials", "warmup_steps"],
    }.get(name, ["name"])


def possible_values(spec: ExperimentSpec, dotted: str) -> list[Any]:
    """The values setting ``dotted`` can take in the trials of ``spec``: its fixed value, and
    the choices of a search parameter over it."""
    values: list[Any] = [lookup(spec.model_dump(mode="json"), dotted)]
    for param in spec.search_space.params:
        if param.name != dotted:
            continue
        if isinstance(param, CategoricalParam):
            values += param.choices
        elif isinstance(param, FixedParam):
            values.append(param.value)
    return list(dict.fromkeys(v for v in values if isinstance(v, str)))


def settings_in_use(spec: ExperimentSpec) -> dict[str, set[str]]:
    """Section -> the fields of that section that apply to some trial of ``spec`` (a learner
    the search may choose counts as much as the fixed one)."""

    def union(lists: Any) -> set[str]:
        return {field for fields in lists for field in fields}

    family = spec.taskset.family
    kinds = {resolve_model_kind(k, family) for k in possible_values(spec, "model.kind")}
    norms = possible_values(spec, "model.norm")
    return {
        "taskset": set(TASKSET_FIELDS),
        "algorithm": union(algorithm_fields(a) for a in possible_values(spec, "algorithm.name")),
        "model": union(model_fields(k, n) for k in kinds for n in norms),
        "optimizer": union(optimizer_fields(o) for o in possible_values(spec, "optimizer.name")),
        "training": set(TRAINING_FIELDS),
        "strategy": set(strategy_fields(spec.strategy.name)),
        "pruner": set(pruner_fields(spec.pruner.name)),
        "budget": {"trials", "timeout_s"},
        "objective": {"split", "direction"},
    }
