"""The fingerprint of an experiment: from an :class:`ExperimentSpec` when a study is created,
or from the experiment's JSON as a history stores it (old studies, back-filled when their file
is upgraded). A stored experiment that no longer validates as a whole is read part by part:
what can be read is kept, the rest is left unknown, and nothing fails."""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from metagui.core.experience._features import data_features
from metagui.core.experience._fingerprint import (
    DataFeatures,
    EpisodeShape,
    Fingerprint,
    NetworkSignature,
    ObjectiveSignature,
    ParamSignature,
)
from metagui.core.experiment import ExperimentSpec, ObjectiveSpec
from metagui.core.objectives import metric_of
from metagui.core.search_space import CategoricalParam, FixedParam, Param
from metagui.core.spec import GRADIENT_BASED, AlgorithmSpec, ModelSpec, TrainSpec
from metagui.core.tasksets import TaskSetConfig

if TYPE_CHECKING:
    from metagui.core.search_space import FloatParam, IntParam

__all__ = ["DataCache", "episode_shape", "fingerprint_of", "fingerprint_of_stored"]

DataCache = MutableMapping[str, DataFeatures]
"""Data features already read, by the task-set config's JSON without its episode shape:
fingerprinting many studies of one data set reads (and hashes) it once."""

# Settings of a task set that shape its episodes but not its data.
_EPISODE_FIELDS = frozenset({"n_way", "k_shot", "q_query"})

_TASKSET: TypeAdapter[Any] = TypeAdapter(TaskSetConfig)
_PARAM: TypeAdapter[Any] = TypeAdapter(Param)


def fingerprint_of(
    spec: ExperimentSpec, direction: str | None = None, *, cache: DataCache | None = None
) -> Fingerprint:
    """The fingerprint of an experiment. ``direction``: the study's, when already resolved
    (else the objective's, ``auto`` resolved as the runner does)."""
    return _fingerprint(
        spec.taskset,
        spec.model,
        spec.algorithm,
        spec.objective,
        list(spec.search_space.params),
        direction,
        cache,
    )


def fingerprint_of_stored(
    spec_json: str, direction: str | None = None, *, cache: DataCache | None = None
) -> Fingerprint:
    """The fingerprint of an experiment as a history stores it (``spec_json``, the study's
    ``direction``). Never raises for what the text holds: parts that do not validate (an
    experiment written by another metagui version) are left unknown."""
    try:
        data = json.loads(spec_json)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        unreadable = DataFeatures(known=False, note="the stored experiment is not a JSON object")
        return Fingerprint("unknown", None, unreadable, None, None, None, None)
    try:
        whole = ExperimentSpec.model_validate(data)
    except ValidationError:
        whole = None
    if whole is not None:
        return fingerprint_of(whole, direction, cache=cache)
    # An experiment without a task set has the default one, as ExperimentSpec gives it.
    taskset = (
        _part(_TASKSET, data["taskset"])
        if "taskset" in data
        else TrainSpec.model_fields["taskset"].get_default(call_default_factory=True)
    )
    params = _mapping(data, "search_space").get("params")
    fingerprint = _fingerprint(
        taskset,
        _part(TypeAdapter(ModelSpec), _mapping(data, "model")),
        _part(TypeAdapter(AlgorithmSpec), _mapping(data, "algorithm")),
        _part(TypeAdapter(ObjectiveSpec), _mapping(data, "objective")),
        [p for p in map(partial(_part, _PARAM), _list(params)) if p is not None],
        direction,
        cache,
    )
    if taskset is None:
        family = _mapping(data, "taskset").get("family")
        note = "the stored experiment's task set could not be read"
        return Fingerprint(
            str(family or "unknown"),
            None,
            DataFeatures(known=False, note=note),
            fingerprint.learner,
            fingerprint.gradient_based,
            fingerprint.network,
            fingerprint.objective,
            fingerprint.space,
        )
    return fingerprint


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _part(adapter: TypeAdapter[Any], data: Any) -> Any:
    """``data`` validated by ``adapter``, or None where it does not validate."""
    try:
        return adapter.validate_python(data)
    except ValidationError:
        return None


def _data_key(taskset: Any) -> str:
    if not isinstance(taskset, BaseModel):
        return repr(taskset)
    return json.dumps(taskset.model_dump(mode="json", exclude=set(_EPISODE_FIELDS)), sort_keys=True)


def episode_shape(taskset: Any) -> EpisodeShape:
    """The shape of an episode of a task-set config, without building it (the same as the
    built task set's ``info``)."""
    family = taskset.family
    if family == "sinusoid":
        return EpisodeShape("regression", None, taskset.k_shot, taskset.q_query, (1,))
    if family == "text_csv":
        input_shape: tuple[int, ...] = (taskset.max_tokens,)
    else:
        size = taskset.image_size
        input_shape = (getattr(taskset, "channels", 1), size, size)
    return EpisodeShape(
        "classification", taskset.n_way, taskset.k_shot, taskset.q_query, input_shape
    )


def _network(model: ModelSpec, taskset: Any) -> NetworkSignature:
    """The network's concrete kind (``auto`` resolved as ``metagui.core.models.resolve_kind``
    does, without importing torch) and the settings that size it."""
    kind: str = model.kind
    if kind == "auto" and taskset is not None:
        if taskset.family == "text_csv":
            kind = "text"
        else:
            kind = "conv4" if len(episode_shape(taskset).input_shape) == 3 else "mlp"
    details: dict[str, Any] = {}
    if kind == "mlp":
        details = {"hidden_sizes": tuple(model.hidden_sizes), "activation": model.activation}
    elif kind == "conv4":
        details = {"filters": model.filters, "norm": model.norm}
        if model.norm == "group":
            details["groups"] = model.groups
    elif kind == "text":
        details = {"embed_dim": model.embed_dim}
    return NetworkSignature(kind, tuple(sorted(details.items())))


def _param(p: FloatParam | IntParam | CategoricalParam | FixedParam) -> ParamSignature:
    condition = None
    if p.condition is not None:
        condition = (p.condition.param, tuple(p.condition.in_))
    if isinstance(p, CategoricalParam):
        return ParamSignature(p.name, p.type, choices=tuple(p.choices), condition=condition)
    if isinstance(p, FixedParam):
        value = tuple(p.value) if isinstance(p.value, list) else p.value
        return ParamSignature(p.name, p.type, value=value, condition=condition)
    return ParamSignature(
        p.name,
        p.type,
        low=p.low,
        high=p.high,
        log=p.log,
        step=p.step,
        condition=condition,
    )


def _fingerprint(
    taskset: Any,
    model: ModelSpec | None,
    algorithm: AlgorithmSpec | None,
    objective: ObjectiveSpec | None,
    params: Iterable[Any],
    direction: str | None,
    cache: DataCache | None,
) -> Fingerprint:
    shape = None if taskset is None else episode_shape(taskset)
    if taskset is None:
        data = DataFeatures(known=False, note="no task set")
    elif cache is None:
        data = data_features(taskset)
    else:
        key = _data_key(taskset)
        data = cache.get(key) or cache.setdefault(key, data_features(taskset))
    objective_signature = None
    if objective is not None and shape is not None:
        objective_signature = ObjectiveSignature(
            metric=metric_of(shape.kind),
            split=objective.split,
            direction=direction or objective.resolved_direction(shape.kind),
        )
    return Fingerprint(
        family=str(getattr(taskset, "family", "unknown")),
        shape=shape,
        data=data,
        learner=None if algorithm is None else algorithm.name,
        gradient_based=None if algorithm is None else algorithm.name in GRADIENT_BASED,
        network=None if model is None else _network(model, taskset),
        objective=objective_signature,
        space=tuple(_param(p) for p in params),
    )
