"""How similar two studies' problems are, from their fingerprints: a number in [0, 1] and the
reasons in words. Pure functions of two :class:`Fingerprint` objects (no I/O, standard library
only), symmetric in their arguments.

The number is a weighted sum of six parts, each in [0, 1], gated by the family::

    similarity = gate * (0.25 data + 0.20 shape + 0.20 learner + 0.20 space
                         + 0.10 network + 0.05 objective)
    gate = 1 for the same family, 0.1 for different ones

Why these weights. A different family (sinusoid regression against Omniglot) means different
losses, metrics and networks: what was learned hardly transfers, so the gate keeps such a pair
at 0.1 at most, only the learner and the search space still counting a little. Within a
family the data weighs most: it decides the task distribution, hence the good learning rates
and the number of adaptation steps. The episode shape (N-way, K-shot) changes how hard a task
is and how much the inner loop can adapt; the learner decides what the hyperparameters mean
(MAML's inner learning rate is not ProtoNet's); the search space decides how much of the
other study's trials map into this one's. The network changes the good values less, and the
objective least: the same metric on another split ranks configurations much the same.

The parts:

- ``shape``: 0.4 r(N) + 0.4 r(K) + 0.1 r(Q) + 0.1 [same input shape], with r(a, b) =
  min / max (1 when both are missing: regression has no N); 0 for regression against
  classification; 0.5 when a shape is unknown.
- ``data``: 1 for the same content hash; for different data 0.5 times how close the
  meta-features are (the mean, over the features both have, of r() of the classes, examples
  per class, image area and channels, vocabulary and text length, and of the overlap of the
  sinusoid ranges); 0.5 when either is unknown (not on disk when fingerprinted): no better
  than data that differs as little as it can.
- ``learner``: 1 for the same algorithm, 0.5 for two gradient-based ones, 0 otherwise.
- ``network``: 1 for the same kind and size, 0.5 for the same kind in another size, 0 for
  another kind; 0.5 when unknown.
- ``objective``: 1 for the same metric, split and direction; 0.5 for the same metric and
  direction on another split; 0 otherwise.
- ``space``: a Jaccard index over parameter names weighted by how much the ranges overlap:
  the sum over shared names of :func:`param_overlap`, divided by the number of names in
  either space (1 when neither searches anything). Conditions are not compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from metagui.core.experience._fingerprint import (
    DataFeatures,
    EpisodeShape,
    Fingerprint,
    NetworkSignature,
    ObjectiveSignature,
    ParamSignature,
)

__all__ = ["OTHER_FAMILY", "WEIGHTS", "Similarity", "param_overlap", "similarity"]

#: How much each part of two fingerprints counts (see the module's docstring); they sum to 1.
WEIGHTS: Mapping[str, float] = {
    "data": 0.25,
    "shape": 0.20,
    "learner": 0.20,
    "space": 0.20,
    "network": 0.10,
    "objective": 0.05,
}
#: The factor on the weighted parts for two different families.
OTHER_FAMILY = 0.1
#: The part given for something one of the fingerprints does not know.
UNKNOWN = 0.5


@dataclass(frozen=True)
class Similarity:
    """How similar two studies are: ``value`` in [0, 1], ``explanation`` in words
    ("same family and shape, same data, 50% of the search space shared (1 of 2 parameters)")
    and each part's own score in ``parts`` (``family`` is 1 or 0)."""

    value: float
    explanation: str
    parts: Mapping[str, float]


def similarity(a: Fingerprint, b: Fingerprint) -> Similarity:
    """How similar the problems of two studies are (see the module's docstring)."""
    same_family = a.family == b.family
    shape, shape_words = _shape(a.shape, b.shape)
    data, data_words = _data(a.data, b.data)
    learner, learner_words = _learner(a, b)
    network, network_words = _network(a.network, b.network)
    objective, objective_words = _objective(a.objective, b.objective)
    space, space_words = _space(a.space, b.space)
    parts = {
        "family": 1.0 if same_family else 0.0,
        "shape": shape,
        "data": data,
        "learner": learner,
        "space": space,
        "network": network,
        "objective": objective,
    }
    weighted = sum(weight * parts[name] for name, weight in WEIGHTS.items())
    value = min(1.0, max(0.0, weighted if same_family else OTHER_FAMILY * weighted))
    if not same_family:
        words = [f"different family ({a.family} vs {b.family})", learner_words, space_words]
    else:
        first = f"same family and {shape_words}" if shape == 1 else f"same family, {shape_words}"
        words = [first, data_words, learner_words, network_words, objective_words, space_words]
    return Similarity(value, ", ".join(w for w in words if w), parts)


def _ratio(a: float | None, b: float | None) -> float:
    """min / max of two non-negative numbers: 1 when equal or both missing, 0 when one is."""
    if a is None and b is None:
        return 1.0
    if a is None or b is None:
        return 0.0
    if a == b:
        return 1.0
    return min(a, b) / max(a, b) if max(a, b) > 0 else 0.0


def _episode(shape: EpisodeShape) -> str:
    if shape.n_way is None:
        return f"{shape.k_shot}-shot"
    return f"{shape.n_way}-way {shape.k_shot}-shot"


def _shape(a: EpisodeShape | None, b: EpisodeShape | None) -> tuple[float, str]:
    if a is None or b is None:
        return UNKNOWN, "shape unknown"
    if a.kind != b.kind:
        return 0.0, f"shape differs ({a.kind} vs {b.kind})"
    score = (
        0.4 * _ratio(a.n_way, b.n_way)
        + 0.4 * _ratio(a.k_shot, b.k_shot)
        + 0.1 * _ratio(a.q_query, b.q_query)
        + 0.1 * (a.input_shape == b.input_shape)
    )
    if score == 1:
        return 1.0, "shape"
    if (a.n_way, a.k_shot) != (b.n_way, b.k_shot):
        return score, f"shape differs ({_episode(a)} vs {_episode(b)})"
    if a.q_query != b.q_query:
        return score, f"shape differs ({a.q_query} vs {b.q_query} query examples)"
    sizes = ("x".join(map(str, s.input_shape)) for s in (a, b))
    return score, "shape differs (inputs {} vs {})".format(*sizes)


def _interval_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two closed intervals (1 for two equal points)."""
    union = max(a[1], b[1]) - min(a[0], b[0])
    if union <= 0:
        return 1.0 if a == b else 0.0
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / union


def _data(a: DataFeatures, b: DataFeatures) -> tuple[float, str]:
    if not (a.known and b.known and a.content_hash and b.content_hash):
        return UNKNOWN, "data unknown"
    if a.content_hash == b.content_hash:
        return 1.0, "same data"
    closeness: list[float] = []
    for name in ("examples_per_class", "channels", "vocab_size", "mean_length"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None:
            closeness.append(_ratio(x, y))
    if a.classes is not None and b.classes is not None:
        closeness.append(_ratio(sum(a.classes), sum(b.classes)))
    if a.image_size is not None and b.image_size is not None:
        closeness.append(_ratio(math.prod(a.image_size), math.prod(b.image_size)))
    for name in ("amplitude", "phase", "x_range"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None:
            closeness.append(_interval_overlap(x, y))
    score = 0.5 * sum(closeness) / len(closeness) if closeness else 0.0
    return score, "data differs" + _data_detail(a, b)


def _data_detail(a: DataFeatures, b: DataFeatures) -> str:
    """What differs first in the meta-features, in brackets, or nothing."""
    if a.classes is not None and b.classes is not None and sum(a.classes) != sum(b.classes):
        return f" ({sum(a.classes)} vs {sum(b.classes)} classes)"
    for name, label in (("amplitude", "amplitude"), ("phase", "phase"), ("x_range", "x")):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None and x != y:
            return f" ({label} {x[0]:g} to {x[1]:g} vs {y[0]:g} to {y[1]:g})"
    return ""


def _learner(a: Fingerprint, b: Fingerprint) -> tuple[float, str]:
    if a.learner is None or b.learner is None:
        return UNKNOWN, "learner unknown"
    if a.learner == b.learner:
        return 1.0, f"same learner ({a.learner})"
    score = 0.5 if a.gradient_based and b.gradient_based else 0.0
    return score, f"learner differs ({a.learner} vs {b.learner})"


def _network(a: NetworkSignature | None, b: NetworkSignature | None) -> tuple[float, str]:
    if a is None or b is None:
        return UNKNOWN, "network unknown"
    if a.kind != b.kind:
        return 0.0, f"network differs ({a.kind} vs {b.kind})"
    if a.details != b.details:
        return 0.5, f"network differs in size ({a.kind})"
    return 1.0, ""  # said only when it differs


def _objective(a: ObjectiveSignature | None, b: ObjectiveSignature | None) -> tuple[float, str]:
    if a is None or b is None:
        return UNKNOWN, "objective unknown"
    if (a.metric, a.direction) != (b.metric, b.direction):
        return 0.0, f"objective differs ({a.direction} {a.metric} vs {b.direction} {b.metric})"
    if a.split != b.split:
        return 0.5, f"objective on another split ({a.split} vs {b.split})"
    return 1.0, ""


def _space(a: tuple[ParamSignature, ...], b: tuple[ParamSignature, ...]) -> tuple[float, str]:
    by_name = {p.name: p for p in b}
    names = {p.name for p in a} | set(by_name)
    if not names:
        return 1.0, "neither searches any parameter"
    shared = [(p, by_name[p.name]) for p in a if p.name in by_name]
    overlaps = [param_overlap(p, q) for p, q in shared]
    score = sum(overlaps) / len(names)
    if score == 1:
        return 1.0, "same search space"
    if not shared:
        return 0.0, "no parameters shared"
    ranges = ", ranges differ" if any(o < 1 for o in overlaps) else ""
    return score, (
        f"{round(100 * score)}% of the search space shared "
        f"({len(shared)} of {len(names)} parameters{ranges})"
    )


def _choice_key(value: object) -> tuple[str, object]:
    """A choice as compared: ``True`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return (type(value).__name__, value)


def param_overlap(p: ParamSignature, q: ParamSignature) -> float:
    """How much two parameters of the same setting overlap, in [0, 1].

    Two numeric ranges (float or int): the intersection over the union of the ranges, on a
    log scale when either is log (and both are positive); an int range counts its whole numbers
    (``[1, 3]`` and ``[3, 5]`` share one of five). Two categoricals: the shared choices over
    all choices. Fixed against fixed: 1 if equal; fixed against categorical: 1 / choices when
    the value is among them. A numeric range against a categorical or fixed one: 0.
    """
    numeric = ("float", "int")
    if p.type in numeric and q.type in numeric:
        if None in (p.low, p.high, q.low, q.high):
            return 0.0
        whole = p.type == q.type == "int"
        a = (float(p.low), float(p.high) + whole)  # type: ignore[arg-type]
        b = (float(q.low), float(q.high) + whole)  # type: ignore[arg-type]
        if (p.log or q.log) and min(a[0], b[0]) > 0:
            a, b = (math.log(a[0]), math.log(a[1])), (math.log(b[0]), math.log(b[1]))
        return _interval_overlap(a, b)
    if p.type == q.type == "categorical":
        x = {_choice_key(c) for c in p.choices or ()}
        y = {_choice_key(c) for c in q.choices or ()}
        return len(x & y) / len(x | y) if x | y else 1.0
    if p.type == q.type == "fixed":
        return 1.0 if _choice_key(p.value) == _choice_key(q.value) else 0.0
    if {p.type, q.type} == {"fixed", "categorical"}:
        fixed, categorical = (p, q) if p.type == "fixed" else (q, p)
        choices = {_choice_key(c) for c in categorical.choices or ()}
        return 1 / len(choices) if _choice_key(fixed.value) in choices else 0.0
    return 0.0
