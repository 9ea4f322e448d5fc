"""The search-space table's rows as text, and back: one row per parameter, with the setting
it varies, its type, range or choices, and its condition written as ``param in a, b``.

Plain functions over plain data, so they are tested without widgets; the table only moves
text between these and its cells."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from metagui.core.applicable import resolve_model_kind
from metagui.core.experiment import ExperimentSpec, setting_field
from metagui.core.search_space import lookup
from metagui.core.spec import GRADIENT_BASED
from metagui.qt.panels._editors import FieldShape, format_number, parse_number, shape_of

__all__ = [
    "PARAM_TYPES",
    "ParamType",
    "RowTexts",
    "algorithm_defaults",
    "format_condition",
    "model_kind",
    "param_from_texts",
    "parse_condition",
    "parse_values",
    "resolve_model_kind",
    "row_for_setting",
    "setting_paths",
    "setting_shape",
    "texts_from_param",
    "with_type",
]

ParamType = Literal["float", "int", "categorical", "fixed"]
PARAM_TYPES: tuple[ParamType, ...] = ("float", "int", "categorical", "fixed")
_CONDITION = re.compile(r"^\s*(?P<param>[A-Za-z_][\w.]*)\s*(?:\bin\b|==|=)\s*(?P<values>.+)$")


@dataclass(frozen=True)
class RowTexts:
    """What a row's cells show (``choices`` holds a fixed parameter's value too)."""

    name: str = ""
    type: ParamType = "float"
    low: str = ""
    high: str = ""
    log: bool = False
    step: str = ""
    choices: str = ""
    condition: str = ""


# -- settings ----------------------------------------------------------------------------------
def setting_paths(spec: ExperimentSpec) -> list[str]:
    """The dotted path of every fixed setting a parameter can vary, in the spec's order."""
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            elif path != "taskset.family":
                out.append(path)

    walk(spec.base_settings().model_dump(mode="json"), "")
    return out


def setting_shape(spec: ExperimentSpec, dotted: str) -> FieldShape | None:
    """The input shape of setting ``dotted`` of ``spec`` (None if there is no such setting)."""
    found = setting_field(spec, dotted)
    return None if found is None else shape_of(found[0].model_fields[found[1]])


def _base_value(spec: ExperimentSpec, dotted: str) -> Any:
    try:
        return lookup(spec.base_settings().model_dump(mode="json"), dotted)
    except KeyError:
        return None


# -- values ------------------------------------------------------------------------------------
def _scalar(text: str, shape: FieldShape | None) -> Any:
    text = text.strip().strip("'\"")
    if shape is not None and shape.kind == "choice":
        for option in shape.choices:
            if str(option) == text or format_number(option) == text:
                return option
        raise ValueError(f"{text!r} is not one of {', '.join(map(str, shape.choices))}")
    if shape is not None and shape.kind in ("int", "float"):
        return parse_number(text, shape.kind == "int")
    if shape is not None and shape.kind == "text":
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if shape is not None and shape.kind == "bool":
        raise ValueError(f"enter true or false, not {text!r}")
    for integer in (True, False):
        try:
            return parse_number(text, integer)
        except ValueError:
            pass
    return text


def parse_values(text: str, shape: FieldShape | None) -> list[Any]:
    """Comma-separated values, typed like the setting they are values of."""
    parts = [p.strip() for p in text.strip().strip("[]").split(",")]
    if not any(parts):
        raise ValueError("enter the values, separated by commas")
    if not all(parts):
        raise ValueError("a value between commas is empty")
    return [_scalar(p, shape) for p in parts]


def _format_values(values: Any) -> str:
    items = values if isinstance(values, list | tuple) else [values]
    return ", ".join(format_number(v) for v in items)


def parse_condition(text: str, spec: ExperimentSpec) -> dict[str, Any] | None:
    """``"algorithm.name in maml, fomaml"`` as a condition (``""``: none)."""
    if not text.strip():
        return None
    match = _CONDITION.match(text)
    if match is None:
        raise ValueError("write the condition as: setting in value, value, ...")
    param = match["param"]
    return {"param": param, "in": parse_values(match["values"], setting_shape(spec, param))}


def format_condition(condition: dict[str, Any] | None) -> str:
    if not condition:
        return ""
    return f"{condition['param']} in {_format_values(condition['in'])}"


# -- rows <-> parameters -----------------------------------------------------------------------
def texts_from_param(param: dict[str, Any]) -> RowTexts:
    kind = param["type"]
    condition = format_condition(param.get("condition"))
    if kind in ("float", "int"):
        step = param.get("step")
        return RowTexts(
            param["name"], kind, format_number(param["low"]), format_number(param["high"]),
            bool(param.get("log")), "" if step is None else format_number(step), "", condition,
        )  # fmt: skip
    values = param["choices"] if kind == "categorical" else param["value"]
    return RowTexts(param["name"], kind, choices=_format_values(values), condition=condition)


def param_from_texts(texts: RowTexts, spec: ExperimentSpec) -> dict[str, Any]:
    """The parameter a row describes; ``ValueError`` says which cell is wrong and why."""
    name = texts.name.strip()
    if not name:
        raise ValueError("name: choose the setting to vary")
    out: dict[str, Any] = {"name": name, "type": texts.type}
    shape = setting_shape(spec, name)
    if texts.type in ("float", "int"):
        integer = texts.type == "int"
        out["low"] = _cell("low", lambda: parse_number(texts.low, integer))
        out["high"] = _cell("high", lambda: parse_number(texts.high, integer))
        out["log"] = texts.log
        if texts.step.strip():
            out["step"] = _cell("step", lambda: parse_number(texts.step, integer))
    elif texts.type == "categorical":
        out["choices"] = _cell("choices", lambda: parse_values(texts.choices, shape))
    else:
        out["value"] = _cell("value", lambda: _fixed_value(texts.choices, shape))
    condition = _cell("condition", lambda: parse_condition(texts.condition, spec))
    if condition is not None:
        out["condition"] = condition
    return out


def _cell(column: str, parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


def _fixed_value(text: str, shape: FieldShape | None) -> Any:
    if shape is not None and shape.kind == "sequence":
        return parse_values(text, FieldShape("int" if shape.item is int else "float"))
    values = parse_values(text, shape)
    if len(values) != 1:
        raise ValueError("a fixed parameter has one value")
    return values[0]


def row_for_setting(spec: ExperimentSpec, name: str, condition: str = "") -> RowTexts:
    """A sensible first row for varying setting ``name``, from its type and current value."""
    shape = setting_shape(spec, name)
    value = _base_value(spec, name)
    if shape is None:
        return RowTexts(name, "float", condition=condition)
    if shape.kind == "choice":
        return RowTexts(
            name, "categorical", choices=_format_values(shape.choices), condition=condition
        )
    if shape.kind == "bool":
        return RowTexts(name, "categorical", choices="false, true", condition=condition)
    if shape.kind == "int" and isinstance(value, int):
        low = max(value // 2, int(shape.low) if shape.low is not None else value // 2, 1)
        high = max(value * 2, low + 1)
        return RowTexts(name, "int", str(low), str(high), condition=condition)
    if shape.kind == "float" and isinstance(value, int | float):
        if value > 0:
            low_text, high_text = format_number(value / 10), format_number(value * 10.0)
            return RowTexts(name, "float", low_text, high_text, True, condition=condition)
        return RowTexts(name, "float", "0.0", "1.0", condition=condition)
    text = _format_values(value) if value is not None else ""
    return RowTexts(name, "fixed", choices=text, condition=condition)


def with_type(texts: RowTexts, kind: ParamType, spec: ExperimentSpec) -> RowTexts:
    """The row converted to parameter type ``kind``, keeping what still makes sense."""
    if kind == texts.type:
        return texts
    fresh = row_for_setting(spec, texts.name, texts.condition)
    if fresh.type == kind:
        return fresh
    if kind in ("float", "int"):
        low, high = texts.low or fresh.low or "0", texts.high or fresh.high or "1"
        if kind == "int":
            low, high = (str(round(float(v))) if _is_number(v) else v for v in (low, high))
        return replace(texts, type=kind, low=low, high=high, step="", choices="")
    if kind == "categorical":
        choices = (
            fresh.choices
            if fresh.type == "categorical"
            else _format_values(
                [v for v in (texts.low, texts.high) if v] or [_base_value(spec, texts.name)]
            )
        )
        return replace(texts, type=kind, low="", high="", log=False, step="", choices=choices)
    value = _base_value(spec, texts.name)
    return RowTexts(texts.name, "fixed", choices=_format_values(value), condition=texts.condition)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- defaults ----------------------------------------------------------------------------------
def model_kind(spec: ExperimentSpec) -> str:
    """The network ``spec`` trains."""
    return resolve_model_kind(spec.model.kind, spec.taskset.family)


def algorithm_defaults(spec: ExperimentSpec, algorithm: str) -> list[dict[str, Any]]:
    """A sensible search space for ``algorithm`` on ``spec``'s task set and network."""

    def log_range(name: str, low: float, high: float) -> dict[str, Any]:
        return {"name": name, "type": "float", "low": low, "high": high, "log": True}

    def ints(name: str, low: int, high: int) -> dict[str, Any]:
        return {"name": name, "type": "int", "low": low, "high": high}

    def choose(name: str, *choices: Any) -> dict[str, Any]:
        return {"name": name, "type": "categorical", "choices": list(choices)}

    params: list[dict[str, Any]] = []
    if algorithm in GRADIENT_BASED:
        params.append(log_range("algorithm.inner_lr", 1e-3, 1.0))
        params.append(ints("algorithm.inner_steps", 1, 10 if algorithm == "reptile" else 5))
    if algorithm == "mamlpp":
        params.append(ints("algorithm.msl_iterations", 0, max(1, spec.training.iterations // 2)))
    if algorithm == "cnp":
        params.append(choose("algorithm.cnp_hidden", 64, 128, 256))
    params.append(log_range("optimizer.lr", 1e-4, 1e-2))
    kind = model_kind(spec)
    if kind == "conv4":
        params.append(choose("model.filters", 32, 64))
        if algorithm in ("protonet", "cnp", "reptile", "fomaml"):
            params.append(choose("model.norm", "batch", "group", "layer", "none"))
    elif kind == "text":
        params.append(choose("model.embed_dim", 32, 64, 128))
    elif algorithm != "cnp":
        params.append(choose("model.activation", "relu", "tanh"))
    return params
