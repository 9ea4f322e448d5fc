"""Reading and writing experiment files (YAML, JSON or TOML, chosen by the file's extension).

Loading never runs code (``yaml.safe_load`` only) and every failure is one
:class:`~metagui.core.errors.MetaguiError` naming the file, the field path and the problem, e.g.
``exp.yaml: search_space.params.0.low: low (5.0) must not exceed high (1.0)``.

Two top-level keys are reserved for files and are not settings:

- ``_meta``: the record an export writes (study, trial, value, versions...). Loading ignores it.
- ``_null`` (TOML only): TOML has no null, so saving drops ``None`` values; where a dropped value
  would not come back as ``None`` (a field whose default is not ``None``, e.g.
  ``budget.trials``), its dotted path is listed here and loading sets it back to ``None``.

Saving writes a file as a researcher would (:func:`experiment_document`): ``name`` first, the
sections in reading order, and in each only the settings that apply to the chosen learner,
network, optimizer, strategy and pruner or that differ from their defaults.

So ``load_experiment(save_experiment(spec, path))`` equals ``spec`` in every format, provided
the task set's data paths are absolute (relative ones in a file are relative to its folder).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from metagui.core.atomic_write import write_text_atomic
from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.search_space import PathError, assign, lookup
from metagui.core.spec import CHECK_RESOURCES, apply_override

__all__ = [
    "FORMATS",
    "META_KEY",
    "NULL_KEY",
    "dumps_experiment",
    "experiment_document",
    "experiment_format",
    "experiment_json_schema",
    "load_experiment",
    "load_experiment_meta",
    "save_experiment",
    "validate_experiment",
    "write_json_schema",
]

# File extension -> format name.
FORMATS: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
META_KEY = "_meta"
NULL_KEY = "_null"
# Task-set fields that name files; relative values in a file are relative to that file.
_PATH_FIELDS = ("root", "path")
# Fields whose value selects a member of a discriminated union (pydantic puts it in ``loc``).
_DISCRIMINATORS = ("type", "family")
_LEADING_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:? )")


def experiment_format(path: str | os.PathLike[str]) -> str:
    """``"yaml"``, ``"json"`` or ``"toml"`` from the extension of ``path``."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        known = ", ".join(FORMATS)
        raise MetaguiError(f"{path}: unknown experiment file type (use one of {known})")
    return fmt


# ---------------------------------------------------------------------------------------------
# Loading


def load_experiment(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), *, check_resources: bool = True
) -> ExperimentSpec:
    """The experiment in ``path`` with ``key.path=value`` overrides applied (values parsed as
    YAML scalars or lists, as for :func:`metagui.core.spec.load_train_spec`).

    Relative task-set data paths in the file are taken relative to the file's folder; those
    given as overrides, relative to the current directory. With ``check_resources`` (the
    default, for running it) the task set's data files and the device must be there on this
    machine; without, the file is only checked for itself (to open it for editing)."""
    source = str(path)
    data = _read_document(Path(path))
    data.pop(META_KEY, None)
    if not data:
        raise MetaguiError(f"{source}: the file holds no settings")
    taskset = data.get("taskset")
    if isinstance(taskset, dict):
        for key in _PATH_FIELDS:
            value = taskset.get(key)
            if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                taskset[key] = str((Path(path).parent / value).resolve())
    for item in overrides:
        apply_override(data, item, source)
    return validate_experiment(data, source, check_resources=check_resources)


def load_experiment_meta(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``_meta`` block of an exported experiment file, or None when it has none."""
    meta = _read_document(Path(path)).get(META_KEY)
    return dict(meta) if isinstance(meta, dict) else None


def validate_experiment(
    data: object, source: str, *, check_resources: bool = False
) -> ExperimentSpec:
    """``data`` as an ``ExperimentSpec``; a :class:`MetaguiError` names ``source``, the field
    path and the problem of the first error (and how many more there are). With
    ``check_resources``, the data files and the device must also be there on this machine."""
    try:
        return ExperimentSpec.model_validate(data, context={CHECK_RESOURCES: check_resources})
    except ValidationError as exc:
        raise MetaguiError(f"{source}: {_describe(exc, data)}") from exc
    except RecursionError as exc:
        raise MetaguiError(f"{source}: the document is nested too deeply") from exc


def _read_document(path: Path) -> dict[str, Any]:
    """The top-level mapping of the file, with the TOML ``_null`` paths set back to None."""
    fmt = experiment_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MetaguiError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise MetaguiError(f"{path}: not a UTF-8 text file ({exc.reason})") from exc
    try:
        data = _parse(text, fmt, str(path))
    except RecursionError as exc:
        raise MetaguiError(f"{path}: the document is nested too deeply") from exc
    if data is None:
        raise MetaguiError(f"{path}: the file holds no settings")
    if not isinstance(data, dict):
        found = f"a {type(data).__name__}"
        raise MetaguiError(
            f"{path}: expected a mapping of settings at the top level, found {found}"
        )
    meta = data.get(META_KEY)
    if META_KEY in data and not isinstance(meta, dict):
        raise MetaguiError(f"{path}: {META_KEY}: expected a mapping (the export's record)")
    if fmt == "toml" and NULL_KEY in data:
        _restore_nulls(data, data.pop(NULL_KEY), str(path))
    return data


def _parse(text: str, fmt: str, source: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise MetaguiError(f"{source}: not valid JSON ({where}: {exc.msg})") from exc
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise MetaguiError(f"{source}: not valid JSON ({exc})") from exc
    if fmt == "toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer of 4300+ digits
            raise MetaguiError(f"{source}: not valid TOML ({exc})") from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise MetaguiError(f"{source}: not valid YAML ({where}{problem})") from exc
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # PyYAML's constructors let some conversion errors through (``2020-13-45``, ``!!int x``)
        detail = " ".join(str(exc).split())
        raise MetaguiError(f"{source}: not valid YAML ({detail})") from exc


def _restore_nulls(data: dict[str, Any], paths: object, source: str) -> None:
    """Set each dotted path of the TOML ``_null`` list to None (creating mappings as needed)."""
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise MetaguiError(f"{source}: {NULL_KEY}: expected a list of dotted field paths")
    for dotted in paths:
        try:
            assign(data, dotted, None, create=True)
        except PathError:
            raise MetaguiError(f"{source}: {NULL_KEY}: {dotted!r} is not a field path") from None


def _describe(exc: ValidationError, data: object) -> str:
    """``field.path: problem`` for the first error of ``exc`` (``data`` is the input)."""
    described: list[tuple[str, str]] = []
    for error in exc.errors():
        where, node = _field_path(error["loc"], error["type"], data)
        msg = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        ctx = error.get("ctx") or {}
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            discriminator = str(ctx.get("discriminator", "")).strip("'")
            where += [discriminator] if discriminator else []
        # A model validator's message often starts with the field it is about ("low (5.0)
        # must not exceed...", "ngram: need..."): name that field in the path, once.
        match = _LEADING_NAME.match(msg) if error["type"] == "value_error" else None
        if match and ((isinstance(node, dict) and match[1] in node) or where[-1:] == [match[1]]):
            if where[-1:] != [match[1]]:
                where.append(match[1])
            if match[2] == ": ":
                msg = msg[match.end() :]
        described.append((".".join(where), msg))
    first_path = described[0][0]
    messages = [m for p, m in described if p == first_path]
    msg = messages[0]
    if len(messages) > 1:  # one error per member of a union of scalars: join them
        rest = [m.removeprefix("Input should be ") for m in messages[1:]]
        msg = ", ".join([msg, *rest[:-1]]) + f" or {rest[-1]}"
    others = len({p for p, _ in described} - {first_path})
    more = f" (and {others} more)" if others else ""
    return f"{first_path}: {msg}{more}" if first_path else f"{msg}{more}"


def _field_path(loc: tuple[int | str, ...], kind: str, data: object) -> tuple[list[str], object]:
    """The components of ``loc`` that name fields and items, without the union tags pydantic
    inserts (``('params', 0, 'float', 'low')`` -> ``params.0.low``), and the input at that path
    (None where it does not exist)."""
    where: list[str] = []
    node: object = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict):
            if isinstance(part, str) and any(node.get(d) == part for d in _DISCRIMINATORS):
                continue  # the tag of a discriminated union member
            if part in node:
                node = node[part]
            elif isinstance(part, str) and not (last and kind == "missing"):
                continue  # a tag of a union member (a missing field is the last part)
            else:
                node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and node is not None:
            continue  # a union tag: a list or a scalar has no named fields
        else:
            node = None
        where.append(str(part))
    return where, node


# ---------------------------------------------------------------------------------------------
# Saving


def save_experiment(spec: ExperimentSpec, path: str | os.PathLike[str]) -> None:
    """Write ``spec`` to ``path`` (atomically) in the format its extension names."""
    write_text_atomic(path, dumps_experiment(spec, experiment_format(path)))


def dumps_experiment(
    spec: ExperimentSpec, fmt: str, *, meta: Mapping[str, Any] | None = None
) -> str:
    """``spec`` as the text of a ``fmt`` file (``yaml``, ``json`` or ``toml``): what
    :func:`experiment_document` states, with ``meta`` as a leading ``_meta`` block when
    given."""
    doc = experiment_document(spec)
    if fmt == "toml":
        dropped: list[str] = []
        doc = _without_none(doc, "", dropped)
        nulls = _nulls_needed(doc, dropped)
        if nulls:
            doc[NULL_KEY] = nulls
    if meta is not None:
        block = dict(meta)
        if fmt == "toml":
            block = _without_none(block, "", [])
        doc = {META_KEY: block, **doc}
    if fmt == "yaml":
        return _dump_yaml(doc)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(doc)
    raise MetaguiError(f"unknown experiment format {fmt!r} (use yaml, json or toml)")


# The order a researcher writes an experiment in: what it is, the data, the learner and its
# network, how it trains, then the search over it.
_SECTION_ORDER = (
    "name",
    "taskset",
    "algorithm",
    "model",
    "optimizer",
    "training",
    "search_space",
    "strategy",
    "pruner",
    "budget",
    "objective",
    "warm_start",
    "experience",
    "execution",
    "checkpoints",
    "seed",
    "device",
)
# Stated whatever their value; the other sections only when they differ from the default.
_ALWAYS_STATED = frozenset(_SECTION_ORDER) - {
    "search_space",
    "warm_start",
    "experience",
    "execution",
    "checkpoints",
}


def experiment_document(spec: ExperimentSpec) -> dict[str, Any]:
    """``spec`` as a file states it: ``name`` first, then the task set, the learner, the
    network, optimizer and training, the search space, strategy, pruner, budget, objective,
    warm start, experience, execution, checkpoints, seed and device. In each section, the
    settings that apply to the chosen task set, learner, network, optimizer, strategy and
    pruner (or to one the search may choose; :func:`metagui.core.applicable.settings_in_use`)
    and every setting changed from its default; what nothing uses and is at its default is
    left out (``inner_lr`` for ProtoNet). It loads back to ``spec``: what is left out reads
    back as its default."""
    from metagui.core.applicable import settings_in_use

    in_use = settings_in_use(spec)
    fields = type(spec).model_fields
    order = [*_SECTION_ORDER, *(name for name in fields if name not in _SECTION_ORDER)]
    doc: dict[str, Any] = {}
    for name in order:
        value = getattr(spec, name)
        if isinstance(value, BaseModel):
            stated = in_use.get(name, set(type(value).model_fields))
            if name in _ALWAYS_STATED or _dumped(value) != _default_of(fields[name]):
                doc[name] = _stated_fields(value, stated)
        elif name in _ALWAYS_STATED or _json(value) != _default_of(fields[name]):
            doc[fields[name].alias or name] = _json(value)
    return doc


def _stated_fields(model: BaseModel, stated: set[str]) -> dict[str, Any]:
    """``model`` as a mapping: its required fields, union tags and ``stated`` fields (unless
    None), and every field that differs from its default; ``name`` and the tag first,
    ``condition`` last, the rest in the model's order. Nested models (search parameters and
    their conditions) are stated the same way, with only their required fields stated."""
    fields = type(model).model_fields
    first = [n for n in ("name", *_DISCRIMINATORS) if n in fields]
    last = [n for n in ("condition",) if n in fields]
    order = [*first, *(n for n in fields if n not in first and n not in last), *last]
    out: dict[str, Any] = {}
    for name in order:
        info = fields[name]
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            dumped: Any = _stated_fields(value, set())
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            dumped = [_stated_fields(v, set()) for v in value]
        else:
            dumped = _json(value)
        keep = (
            info.is_required()
            or name in _DISCRIMINATORS
            or (name in stated and dumped is not None)
            or _json(value) != _default_of(info)
        )
        if keep:
            out[info.alias or name] = dumped
    return out


def _json(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, by_alias=True)


def _dumped(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def _default_of(info: FieldInfo) -> Any:
    """A field's default as JSON data (None for a required field)."""
    if info.is_required():
        return None
    return _json(info.get_default(call_default_factory=True))


def _dump_yaml(doc: dict[str, Any]) -> str:
    """``doc`` as block YAML in the given key order, lists of scalars on one line."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def list_of(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
        flow = all(not isinstance(item, dict | list) for item in items)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)

    def string_of(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        # PyYAML writes these line breaks raw inside quotes and reads them back as spaces or
        # newlines: double quotes escape them.
        style = '"' if any(c in value for c in "\r\x85\u2028\u2029") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(list, list_of)
    _Dumper.add_representer(str, string_of)
    text: str = yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text


def _without_none(value: Any, path: str, dropped: list[str]) -> Any:
    """``value`` with every None mapping entry removed (their dotted paths go to ``dropped``)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if item is None:
                dropped.append(where)
            else:
                out[key] = _without_none(item, where, dropped)
        return out
    if isinstance(value, list):
        if any(item is None for item in value):
            raise MetaguiError(f"{path}: TOML cannot hold a list containing null")
        return [_without_none(item, f"{path}.{i}", dropped) for i, item in enumerate(value)]
    return value


def _nulls_needed(doc: dict[str, Any], dropped: list[str]) -> list[str]:
    """The dropped paths that would not read back as None (their field's default is not)."""
    if not dropped:
        return []
    try:
        reread = ExperimentSpec.model_validate(doc).model_dump(mode="json", by_alias=True)
    except ValidationError:
        return dropped
    needed = []
    for dotted in dropped:
        try:
            if lookup(reread, dotted) is not None:
                needed.append(dotted)
        except KeyError:
            pass  # a level above is None
    return needed


# ---------------------------------------------------------------------------------------------
# JSON Schema


def experiment_json_schema() -> dict[str, Any]:
    """The JSON Schema of experiment files (for editors; ``resources/schema``)."""
    schema = ExperimentSpec.model_json_schema(by_alias=True)
    properties = dict(schema.get("properties", {}))
    properties[META_KEY] = {
        "type": "object",
        "description": "record written by an export (study, trial, value...); ignored on load",
    }
    properties[NULL_KEY] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "TOML only: dotted paths of fields whose value is null",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "metagui experiment",
        "properties": properties,
    }


def write_json_schema(path: str | os.PathLike[str]) -> None:
    """Write :func:`experiment_json_schema` to ``path`` (the committed copy lives in
    ``resources/schema/experiment.schema.json``)."""
    write_text_atomic(path, json.dumps(experiment_json_schema(), indent=2) + "\n")
