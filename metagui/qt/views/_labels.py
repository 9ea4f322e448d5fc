"""What the views write: counts, metric and objective names, and shorter ways to say a label
that does not fit. No Qt."""

from __future__ import annotations

import re
from collections.abc import Callable

from metagui.core.objectives import metric_label
from metagui.qt._study_data import StudyData

__all__ = [
    "counted",
    "fit_label",
    "label_variants",
    "last_validation",
    "metric_label",
    "objective_label",
    "sentence",
    "validation_metric",
]

_BETTER = re.compile(r"\s*\((higher|lower) is better\)")


def label_variants(text: str) -> list[str]:
    """``text`` and shorter ways to say it, longest first: ``validation accuracy (higher is
    better)``, ``validation accuracy ↑``, ``accuracy ↑``."""
    variants = [text]
    arrowed = _BETTER.sub(lambda m: " ↑" if m[1] == "higher" else " ↓", text)
    if arrowed != text:
        variants.append(arrowed)
    words = arrowed.split(" ", 1)
    if len(words) == 2 and len(words[1]) > 2:
        variants.append(words[1])
    return variants


def fit_label(text: str, room: float, width_of: Callable[[str], float]) -> str:
    """The longest of :func:`label_variants` of ``text`` no wider than ``room`` (by
    ``width_of``), else the shortest, cut with an ellipsis to fit."""
    variants = label_variants(text)
    for variant in variants:
        if width_of(variant) <= room:
            return variant
    shortest = variants[-1]
    while len(shortest) > 1 and width_of(shortest + "…") > room:
        shortest = shortest[:-1]
    return shortest.rstrip() + "…"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 trial``, ``2 trials``, ``0 trials``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised (and ``MSE`` left alone)."""
    return text[:1].upper() + text[1:]


def validation_metric(study: StudyData) -> str | None:
    """The name of the validation series this study records (``val/mse``, ``val/accuracy``)."""
    names = study.metric_names()
    candidates = sorted(n for n in names if n.startswith("val/") and not n.endswith("_ci95"))
    return candidates[0] if candidates else None


def last_validation(study: StudyData, trial_id: int) -> float | None:
    """The last finite validation value of a trial (what a pruned trial was judged by)."""
    name = validation_metric(study)
    return study.last_value(trial_id, name) if name else None


def objective_label(study: StudyData) -> str:
    """What a trial's value is, e.g. ``validation MSE (lower is better)``."""
    family = study.spec.get("taskset", {}).get("family")
    metric = "MSE" if family == "sinusoid" else "accuracy" if family else "objective"
    split = study.spec.get("objective", {}).get("split", "validation")
    better = "higher" if study.maximize else "lower"
    return f"{split} {metric} ({better} is better)"
