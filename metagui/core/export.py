"""Exports of a study's results: the best trial as an experiment file that re-runs it, Hydra's
``optimization_results.yaml``, an argparse flags line, and a CSV of all trials.

These are pure functions over plain data (the history layer reads the database and calls
them); every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import metagui
from metagui.core.atomic_write import write_text_atomic
from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import dumps_experiment, experiment_format

__all__ = [
    "CSV_COLUMNS",
    "ExportMeta",
    "export_args",
    "export_experiment",
    "export_hydra",
    "export_trials_csv",
    "parse_args_line",
]

# The fixed columns of the trials CSV, before one ``param:<name>`` column per parameter.
CSV_COLUMNS: tuple[str, ...] = (
    "number",
    "state",
    "value",
    "seed",
    "started",
    "finished",
    "duration_s",
    "pruned_at_step",
    "error",
    "excluded",
    "tags",
    "notes",
)
_INT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class ExportMeta:
    """Where an exported trial comes from; written as the file's ``_meta`` block.

    ``direction`` is the resolved one (``minimize`` or ``maximize``); ``seed`` is the trial's
    seed, written into the exported settings so that the file reproduces the trial."""

    study: str
    trial: int
    value: float | None
    direction: str
    strategy: str
    seed: int | None = None
    learned_from: tuple[str, ...] = ()
    """The earlier studies the study learned from (its experience pool, or the studies named
    in ``warm_start``), in words: ``"sinusoid-a (similarity 0.92)"``."""
    seeded_from: str | None = None
    """For a trial whose settings came from an earlier study, that trial (``"study #12"``)."""
    notes: Mapping[str, str] | None = None
    """The researcher's notes, by what they are on: ``{"study": ..., "trial": ...}``."""
    tags: Mapping[str, Sequence[str]] | None = None
    """The tags of the study and of the trial: ``{"study": [...], "trial": [...]}``."""
    provenance: Mapping[str, Any] | None = None
    """Where the study was made (versions, devices, host, experiment file and its git
    commit), as recorded with it; see :mod:`metagui.core.provenance`."""
    objectives: Sequence[Mapping[str, Any]] = ()
    """A two-objective study's objectives, each with the trial's value (``name``, ``label``,
    ``direction``, ``value``); ``value`` is then the first's."""
    on_front: bool | None = None
    """A two-objective study's trial: whether it is on the study's Pareto front."""

    def block(self) -> dict[str, Any]:
        """The ``_meta`` mapping, with the versions of metagui and torch and the date (UTC),
        then the notes, tags and provenance the study and trial have."""
        import torch  # only here: exports are rare and torch is slow to import

        notes = {k: v for k, v in (self.notes or {}).items() if v}
        tags = {k: list(v) for k, v in (self.tags or {}).items() if v}
        return {
            "study": self.study,
            "trial": self.trial,
            "value": self.value,
            "direction": self.direction,
            "strategy": self.strategy,
            "seed": self.seed,
            "metagui_version": metagui.__version__,
            "torch_version": str(torch.__version__),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            **({"objectives": [dict(o) for o in self.objectives]} if self.objectives else {}),
            **({"on_front": self.on_front} if self.on_front is not None else {}),
            **({"learned_from": list(self.learned_from)} if self.learned_from else {}),
            **({"seeded_from": self.seeded_from} if self.seeded_from else {}),
            **({"notes": notes} if notes else {}),
            **({"tags": tags} if tags else {}),
            **({"provenance": dict(self.provenance)} if self.provenance else {}),
        }


def export_experiment(
    spec: ExperimentSpec,
    params: Mapping[str, Any],
    meta: ExportMeta,
    path: str | os.PathLike[str],
    fmt: str | None = None,
) -> ExperimentSpec:
    """Write the experiment that re-runs one trial: ``spec`` with the trial's ``params`` (dotted
    name -> value) and ``meta.seed`` filled in and no search left, plus a ``_meta`` block.

    ``fmt`` is ``yaml``, ``json`` or ``toml`` (default: from the extension of ``path``; only
    files with a matching extension load back). Returns the experiment written."""
    fmt = fmt or experiment_format(path)
    if fmt not in ("yaml", "json", "toml"):
        raise MetaguiError(f"{path}: unknown experiment format {fmt!r} (use yaml, json or toml)")
    single = spec.with_params(dict(params), meta.seed)
    write_text_atomic(path, dumps_experiment(single, fmt, meta=meta.block()))
    return single


def export_hydra(
    params: Mapping[str, Any],
    value: float,
    path: str | os.PathLike[str],
    values: Sequence[float] | None = None,
) -> None:
    """Write Hydra's Optuna-sweeper ``optimization_results.yaml``: ``name: optuna``,
    ``best_params`` (dotted name -> value) and ``best_value``; with ``values`` (a trial of a
    multi-objective study), ``solutions`` with its ``params`` and ``values``, as the sweeper
    writes a multi-objective study's."""
    import yaml

    plain_params = {name: _plain(v) for name, v in params.items()}
    doc: dict[str, Any] = {"name": "optuna"}
    if values is not None:
        doc["solutions"] = [{"params": plain_params, "values": [_plain(v) for v in values]}]
    else:
        doc["best_params"] = plain_params
        doc["best_value"] = _plain(value)
    write_text_atomic(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def export_args(params: Mapping[str, Any]) -> str:
    """The parameters as one line of argparse flags: ``--algorithm.inner_lr=0.03
    --model.filters=32``.

    Floats are written with ``repr`` (``0.03``, ``1e-05``, ``inf``, always parse back exactly
    with ``float``), booleans as ``True``/``False`` (what Python users write), lists as compact
    JSON (``[40,40]``); a value that needs it is quoted with ``shlex.quote``.
    :func:`parse_args_line` reads the line back."""
    return " ".join(f"--{name}={shlex.quote(_arg_text(v))}" for name, v in params.items())


def parse_args_line(line: str) -> dict[str, Any]:
    """The parameters of an :func:`export_args` line (dotted name -> value).

    A value reads as a bool for ``True``/``False``, an int for digits, a float where ``float``
    accepts it, a list for JSON ``[...]``, and a string otherwise, so a string parameter that
    looks like a number or a bool comes back as one."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise MetaguiError(f"cannot split the flags line ({exc})") from exc
    params: dict[str, Any] = {}
    for token in tokens:
        name, sep, text = token.partition("=")
        if not (name.startswith("--") and len(name) > 2 and sep):
            raise MetaguiError(f"flag {token!r} is not --NAME=VALUE")
        params[name[2:]] = _arg_value(text)
    return params


def export_trials_csv(
    rows: Iterable[Mapping[str, Any]],
    param_names: Sequence[str],
    path: str | os.PathLike[str],
    objectives: Sequence[str] = (),
) -> None:
    """Write one CSV row per trial: the :data:`CSV_COLUMNS`, then ``param:<name>`` for each of
    ``param_names`` (taken from each row's ``params`` mapping). Missing values and None are
    empty cells; times may be ``datetime`` (written ISO 8601) or plain values; ``tags`` may
    be a list of words (written space-separated). ``objectives``: a multi-objective study's
    objective names, a column ``objective:<name>`` each (from each row's ``values``) before
    the parameters."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(
        [
            *CSV_COLUMNS,
            *(f"objective:{name}" for name in objectives),
            *(f"param:{name}" for name in param_names),
        ]
    )
    for row in rows:
        params = row.get("params") or {}
        cells = [row.get(column) for column in CSV_COLUMNS]
        tags = row.get("tags")
        if isinstance(tags, list | tuple):  # words without blanks: one cell, split on blanks
            cells[CSV_COLUMNS.index("tags")] = " ".join(tags) or None
        values = row.get("values") or ()
        cells += [
            values[i] if i < len(values) and values[i] == values[i] else None
            for i in range(len(objectives))
        ]
        cells += [params.get(name) for name in param_names]
        writer.writerow([_cell(c) for c in cells])
    write_text_atomic(Path(path), buffer.getvalue())


def _plain(value: Any) -> Any:
    """``value`` as a plain Python scalar or list (numpy scalars included) for the dumpers."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy bool_ and other 0-d arrays
        return _plain(value.item())
    return value


def _arg_text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _arg_value(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    if _INT.fullmatch(text):
        return int(text)
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    try:
        return float(text)
    except ValueError:
        return text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    value = _plain(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value
