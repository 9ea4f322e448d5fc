"""The fingerprint of a study's problem: what a later study compares itself with to decide
whether what this one learned applies to it (the experience pool, see DESIGN.md).

A :class:`Fingerprint` is plain frozen data with a stable, versioned JSON form
(:meth:`Fingerprint.to_json`: sorted keys, no blanks, ``"v"`` first in meaning, not in order),
stored in the history next to the study's experiment. It is read back leniently
(:meth:`Fingerprint.from_json`): keys it does not know are ignored and missing ones read as
unknown, so that fingerprints written by another metagui version still compare. Only the
standard library is imported here: the app's GUI thread reads fingerprints.

What it holds (:mod:`metagui.core.experience._spec` computes it from an experiment):

- ``family`` and the ``shape`` of an episode (kind, N-way, K-shot, query size, input shape);
- ``data``: meta-features of the data (classes per split, examples per class, stored image
  size and channels, vocabulary size and mean text length, sinusoid ranges) and a content hash;
  ``data.known`` is False where the data was not there to be read;
- ``learner`` (the algorithm's name) and whether it adapts by gradient steps;
- ``network``: the concrete model kind (``auto`` resolved) and its size settings;
- ``objective``: the metric, the split it is measured on and the direction;
- ``space``: the search space's signature, one :class:`ParamSignature` per parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINGERPRINT_VERSION",
    "DataFeatures",
    "EpisodeShape",
    "Fingerprint",
    "NetworkSignature",
    "ObjectiveSignature",
    "ParamSignature",
]

#: The version of the JSON form written by this metagui (the ``"v"`` key).
FINGERPRINT_VERSION = 1

Scalar = str | int | float | bool


@dataclass(frozen=True)
class EpisodeShape:
    """What one episode looks like: ``n_way`` is None for regression."""

    kind: str
    """``regression`` or ``classification``."""
    n_way: int | None
    k_shot: int
    q_query: int
    input_shape: tuple[int, ...]


@dataclass(frozen=True)
class DataFeatures:
    """Meta-features of a task set's data, as far as they could be read.

    ``content_hash`` identifies the data itself (``hashed`` says what it covers, in words);
    ``known`` is False when the data was not there to be read (``note`` says why), and then
    only ``source`` is set. A family fills the features that mean something for it, the others
    stay None.
    """

    known: bool
    source: str = ""
    """Where the data is, as the experiment names it (a folder, a file, a range)."""
    content_hash: str | None = None
    hashed: str = ""
    classes: tuple[int, int, int] | None = None
    """Classes of the train, validation and test splits."""
    examples_per_class: float | None = None
    """Mean stored examples (images, rows) per class, over every class."""
    min_examples_per_class: int | None = None
    image_size: tuple[int, int] | None = None
    """Width and height of the stored images (of the first one), before any resizing."""
    channels: int | None = None
    """Bands of the stored images (of the first one): 1 gray, 3 RGB, 4 RGBA."""
    amplitude: tuple[float, float] | None = None
    phase: tuple[float, float] | None = None
    x_range: tuple[float, float] | None = None
    vocab_size: int | None = None
    """Distinct lower-cased words of all texts."""
    mean_length: float | None = None
    """Mean words per text."""
    note: str = ""


@dataclass(frozen=True)
class NetworkSignature:
    """The network: its concrete kind and the settings that size it (``details``, sorted)."""

    kind: str
    details: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ObjectiveSignature:
    """What the trials were scored by."""

    metric: str
    """``accuracy`` or ``mse``."""
    split: str
    direction: str


@dataclass(frozen=True)
class ParamSignature:
    """One search-space parameter as a comparison needs it: its setting, kind and range."""

    name: str
    type: str
    """``float``, ``int``, ``categorical`` or ``fixed``."""
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] | None = None
    value: Any = None
    """A fixed parameter's value (a scalar, or a tuple for a list)."""
    condition: tuple[str, tuple[Scalar, ...]] | None = None
    """Active only when setting ``condition[0]`` takes one of the values ``condition[1]``."""


@dataclass(frozen=True)
class Fingerprint:
    """A study's problem, in comparable form (see the module's docstring)."""

    family: str
    shape: EpisodeShape | None
    data: DataFeatures
    learner: str | None
    gradient_based: bool | None
    network: NetworkSignature | None
    objective: ObjectiveSignature | None
    space: tuple[ParamSignature, ...] = ()
    v: int = field(default=FINGERPRINT_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form as plain data."""
        shape = self.shape
        return {
            "v": self.v,
            "family": self.family,
            "shape": None
            if shape is None
            else {
                "kind": shape.kind,
                "n_way": shape.n_way,
                "k_shot": shape.k_shot,
                "q_query": shape.q_query,
                "input_shape": list(shape.input_shape),
            },
            "data": _data_dict(self.data),
            "learner": None
            if self.learner is None
            else {"name": self.learner, "gradient_based": self.gradient_based},
            "network": None
            if self.network is None
            else {"kind": self.network.kind, **dict(self.network.details)},
            "objective": None
            if self.objective is None
            else {
                "metric": self.objective.metric,
                "split": self.objective.split,
                "direction": self.objective.direction,
            },
            "space": [_param_dict(p) for p in self.space],
        }

    def to_json(self) -> str:
        """The stable JSON text: the same fingerprint always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """A fingerprint from its JSON form, of this version or another: unknown keys are
        ignored, missing parts read as unknown. ``ValueError`` if it is not a fingerprint."""
        if not isinstance(data, Mapping) or not isinstance(data.get("v"), int):
            raise ValueError("not a study fingerprint (no version 'v')")
        try:
            shape = data.get("shape")
            learner = data.get("learner")
            network = data.get("network")
            objective = data.get("objective")
            return cls(
                v=data["v"],
                family=str(data.get("family") or "unknown"),
                shape=None
                if not shape
                else EpisodeShape(
                    kind=shape["kind"],
                    n_way=shape.get("n_way"),
                    k_shot=shape["k_shot"],
                    q_query=shape["q_query"],
                    input_shape=tuple(shape.get("input_shape") or ()),
                ),
                data=_data_from(data.get("data") or {}),
                learner=None if not learner else learner["name"],
                gradient_based=None if not learner else learner.get("gradient_based"),
                network=None
                if not network
                else NetworkSignature(
                    network["kind"],
                    tuple(sorted((k, _frozen(v)) for k, v in network.items() if k != "kind")),
                ),
                objective=None
                if not objective
                else ObjectiveSignature(
                    objective["metric"], objective["split"], objective["direction"]
                ),
                space=tuple(_param_from(p) for p in data.get("space") or ()),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a study fingerprint ({error!r} is missing or wrong)") from error

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        """A fingerprint from :meth:`to_json`'s text (see :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as error:
            raise ValueError(f"not a study fingerprint (not JSON: {error})") from error
        return cls.from_dict(data)


_DATA_PAIRS = ("classes", "image_size", "amplitude", "phase", "x_range")


def _data_dict(data: DataFeatures) -> dict[str, Any]:
    out: dict[str, Any] = {
        "known": data.known,
        "source": data.source,
        "content_hash": data.content_hash,
        "hashed": data.hashed,
        "examples_per_class": data.examples_per_class,
        "min_examples_per_class": data.min_examples_per_class,
        "channels": data.channels,
        "vocab_size": data.vocab_size,
        "mean_length": data.mean_length,
        "note": data.note,
    }
    for name in _DATA_PAIRS:
        value = getattr(data, name)
        out[name] = None if value is None else list(value)
    return out


def _data_from(data: Mapping[str, Any]) -> DataFeatures:
    known = {f for f in DataFeatures.__dataclass_fields__ if f in data}
    values = {name: data[name] for name in known}
    for name in _DATA_PAIRS:
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    values["known"] = bool(data.get("known", False))
    return DataFeatures(**values)


def _param_dict(p: ParamSignature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "type": p.type}
    if p.type in ("float", "int"):
        out.update(low=p.low, high=p.high, log=p.log, step=p.step)
    elif p.type == "categorical":
        out["choices"] = list(p.choices or ())
    else:
        out["value"] = list(p.value) if isinstance(p.value, tuple) else p.value
    if p.condition is not None:
        out["condition"] = {"param": p.condition[0], "in": list(p.condition[1])}
    return out


def _param_from(data: Mapping[str, Any]) -> ParamSignature:
    condition = data.get("condition")
    choices = data.get("choices")
    return ParamSignature(
        name=data["name"],
        type=data["type"],
        low=data.get("low"),
        high=data.get("high"),
        log=bool(data.get("log", False)),
        step=data.get("step"),
        choices=None if choices is None else tuple(choices),
        value=_frozen(data.get("value")),
        condition=None if not condition else (condition["param"], tuple(condition["in"])),
    )


def _frozen(value: Any) -> Any:
    """A JSON value with its lists as tuples, so that a read fingerprint equals the written one."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
