"""Changing a study while it is alive: what may differ between the experiment a study was
run with and the one it is resumed with, and what resuming with an edited search space does.

The search space may change (ranges widened or narrowed, the log scale, a step, categorical
choices added or removed, a parameter fixed, searched again, added or removed, a condition),
and so may how the search goes on (strategy, pruner, budget, warm start, experience, where
the trials run, the checkpoints kept, the device). Whatever changes what a finished trial
means is refused: the objective and the study's seed always, and the base settings (task
set, network, algorithm, outer optimizer, training) once the study has a result, except a
setting that every earlier trial set itself (an unconditional parameter of the old space:
fixing it, or removing it at a new base value, is a search-space edit).

The strategy's name may change too: every strategy is rebuilt from the history on resume
(:meth:`Strategy.load`), so random search followed by TPE is a study like any other.

A resumed study with an edited space keeps every trial. Those whose settings the new space
cannot produce (a value out of the new range, a removed choice, another value of a now fixed
parameter) are marked ``outside_space``: they still count for the best value, the top-k
checkpoints and exports (they are real results), but no longer steer the sampler. Earlier
trials are handed to the strategy with the new space's view of their settings (a newly
searched parameter at the base value those trials ran with). The edit is recorded in the
study's notes with its local time, and the study's stored experiment becomes the new one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from metagui.core.errors import MetaguiError
from metagui.core.search_space import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
    lookup,
)

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import HistoryWriter, StudyRow, TrialRow

__all__ = [
    "ALLOWED_SECTIONS",
    "SpaceEdit",
    "apply_edit",
    "check_resume",
    "compare_spaces",
    "counted_trials",
    "describe_param",
    "outside_numbers",
    "strategy_trials",
    "trial_settings",
    "was_interrupted",
]

ALLOWED_SECTIONS: tuple[str, ...] = (
    "search_space",
    "strategy",
    "pruner",
    "budget",
    "warm_start",
    "experience",
    "execution",
    "checkpoints",
    "device",
)
"""The sections of an experiment that may change when a study is resumed."""
_BASE_SECTIONS = ("taskset", "model", "algorithm", "optimizer", "training")
"""Base settings: they may change only while the study has no result."""
_IGNORED = ("name",)  # the study keeps its own name
_SHOWN_PATHS = 6  # differing settings named in a refusal before "and N more"


@dataclass(frozen=True)
class SpaceEdit:
    """How a new experiment differs from a study's stored one.

    ``space``: one line per change of the search space; ``other``: the other changes that
    are allowed (``budget.trials 20 -> 40``); ``refused``: the dotted paths of the settings
    that differ and may not."""

    space: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def space_changed(self) -> bool:
        return bool(self.space)

    @property
    def changed(self) -> bool:
        """Whether anything allowed differs (the stored experiment is then replaced)."""
        return bool(self.space or self.other)

    def note(self, outside: int, total: int, when: float | None = None) -> str:
        """The line recorded in the study's notes, stamped with the local time ``when``
        (default: now)."""
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
        if not self.space:
            return f"{stamp} experiment edited: {'; '.join(self.other)}"
        line = (
            f"{stamp} search space edited: {'; '.join(self.space)}; "
            f"{outside} of {_count(total, 'trial')} now outside it"
        )
        return f"{line}; also {'; '.join(self.other)}" if self.other else line

    def report_lines(self, outside: int | None, total: int) -> list[str]:
        """What a resumed run says about the edit: one line per change, then how many trials
        are now outside the search space."""
        lines = [f"search space: {change}" for change in self.space]
        lines += [f"changed: {change}" for change in self.other]
        if outside is not None:
            inside = total - outside
            lines.append(
                f"{outside} of {_count(total, 'trial')} now lie outside the search space "
                f"(kept in the history; the search learns from the other {inside})"
            )
        return lines


# -- comparing experiments ----------------------------------------------------------------------


def compare_spaces(
    stored_spec: ExperimentSpec | Mapping[str, Any],
    new_spec: ExperimentSpec | Mapping[str, Any],
    *,
    results: bool = True,
) -> SpaceEdit:
    """How ``new_spec`` differs from ``stored_spec`` (a study's experiment, as stored or
    validated). ``results``: whether the study has a result yet (a finished trial that was
    not interrupted); without one, base settings may change too."""
    old, old_space = _normalised(stored_spec)
    new, new_space = _normalised(new_spec)
    space: list[str] = []
    if old.get("search_space") != new.get("search_space"):
        # A difference too fine for the words of a change (a bound past 6 digits) is still
        # one: the stored experiment must become the one the study runs with.
        space = _space_changes(old_space, new_space, _base(new)) or ["search space changed"]
    exempt = [p.name for p in old_space.params if p.condition is None] if old_space else []
    other: list[str] = []
    refused: list[str] = []
    for path in _diff(old, new):
        section = path.split(".", 1)[0]
        if section in _IGNORED or section == "search_space":
            continue
        if section in ALLOWED_SECTIONS:
            other.append(_describe_change(path, old, new))
        elif section in _BASE_SECTIONS:
            if any(path == name or path.startswith(f"{name}.") for name in exempt):
                continue  # every earlier trial set it itself
            if results:
                refused.append(path)
            else:
                other.append(_describe_change(path, old, new))
        else:
            refused.append(path)  # the objective, the seed, and what this version does not know
    return SpaceEdit(tuple(space), tuple(other), tuple(refused))


def check_resume(
    study: StudyRow, trials: Sequence[TrialRow], new_spec: ExperimentSpec
) -> SpaceEdit:
    """The edit that resuming ``study`` (with its ``trials``) with ``new_spec`` makes; a
    one-line :class:`MetaguiError` naming the differing settings when it may not."""
    results = counted_trials(trials)
    edit = compare_spaces(_stored(study), new_spec, results=results > 0)
    if edit.refused:
        shown = ", ".join(edit.refused[:_SHOWN_PATHS])
        more = len(edit.refused) - _SHOWN_PATHS
        if more > 0:
            shown += f" and {more} more"
        why = (
            f"its {_count(results, 'finished trial')} ran with the stored ones"
            if results
            else "they are stored with the study"
        )
        raise MetaguiError(
            f"cannot resume study {study.name!r} with this experiment: {shown} differ from the "
            f"study's ({why}); only the search space, strategy, pruner, budget, warm start, "
            "experience, execution, checkpoints and device may change: start a new study for "
            "the rest"
        )
    return edit


# -- trials and the new space -------------------------------------------------------------------


def trial_settings(
    space: SearchSpace, base: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A trial's settings as ``space`` sees them: the value of each active parameter (one the
    trial did not search takes the base value it ran with), in the space's order; None if
    ``space`` cannot produce them (a value out of range, a removed choice, another value of
    a fixed parameter, or a setting no longer searched that the trial set otherwise)."""
    from metagui.core.strategies._common import check_value

    settings = dict(base)
    values: dict[str, Any] = {}
    for param in space.params:
        if not space.active(param.name, values, settings):
            continue
        try:
            value = params[param.name] if param.name in params else lookup(base, param.name)
            values[param.name] = check_value(param, value)
        except (KeyError, ValueError):
            return None
    for name, value in params.items():
        if name in values:
            continue
        # Not searched (or not active) any more: new trials run it at the base value.
        try:
            if not _same(value, lookup(base, name)):
                return None
        except KeyError:
            return None
    return values


def outside_numbers(spec: ExperimentSpec, trials: Sequence[TrialRow]) -> list[int]:
    """The numbers of the ``trials`` whose settings lie outside ``spec``'s search space."""
    base = spec.base_settings().model_dump(mode="json")
    space = spec.search_space
    return [t.number for t in trials if trial_settings(space, base, t.params) is None]


def strategy_trials(spec: ExperimentSpec, trials: Sequence[TrialRow]) -> list[TrialRow]:
    """The finished trials a resumed strategy learns from: those inside the search space
    (not ``outside_space``), with their settings as the space sees them."""
    base = spec.base_settings().model_dump(mode="json")
    space = spec.search_space
    out = []
    for t in trials:
        if t.state == "RUNNING" or t.outside_space:
            continue
        settings = trial_settings(space, base, t.params)
        out.append(t if settings is None else replace(t, params=settings))
    return out


def apply_edit(
    writer: HistoryWriter,
    study: StudyRow,
    trials: Sequence[TrialRow],
    spec: ExperimentSpec,
    edit: SpaceEdit,
    direction: str,
    *,
    when: float | None = None,
) -> list[str]:
    """Resume ``study`` with ``spec`` (checked by :func:`check_resume`): mark its trials
    outside (or inside again) the new space, record the edit in its notes and make ``spec``
    its stored experiment. Returns what the run reports about it. Nothing is written when
    nothing changed, so resuming again with the same experiment changes nothing."""
    if not edit.changed:
        return []
    from metagui.core.experience import fingerprint_of

    outside: list[int] | None = None
    if edit.space_changed:
        outside = outside_numbers(spec, trials)
        writer.set_outside_space(study.id, outside)
    lines = edit.report_lines(None if outside is None else len(outside), len(trials))
    current = writer.get_study(study.name)
    notes = (current.notes if current is not None else study.notes) or ""
    line = edit.note(len(outside or ()), len(trials), when)
    try:
        writer.set_note(study.id, f"{notes.rstrip()}\n{line}" if notes.strip() else line)
    except MetaguiError as exc:  # a note at its size limit: the edit itself still holds
        lines.append(f"the edit is not in the study's notes: {exc}")
    # Last: once the stored experiment is the new one, a resume sees nothing to change.
    stored = spec.model_copy(update={"name": study.name})
    writer.set_study_experiment(
        study.id,
        stored.model_dump_json(by_alias=True),
        spec.strategy.name,
        fingerprint_json=fingerprint_of(spec, direction).to_json(),
    )
    return lines


# -- describing parameters ------------------------------------------------------------------------


def describe_param(param: Any) -> str:
    """A parameter in a few words: ``float 1e-4..0.01 log``, ``categorical relu, tanh``,
    ``fixed at 3`` (with ``when ...`` for a conditional one)."""
    if isinstance(param, FixedParam):
        text = f"fixed at {_value(param.value)}"
    elif isinstance(param, CategoricalParam):
        text = f"categorical {', '.join(_value(c) for c in param.choices)}"
    else:
        text = f"{param.type} {_range(param)}"
    if param.condition is not None:
        text += f" when {_condition(param.condition)}"
    return text


def _range(param: FloatParam | IntParam) -> str:
    text = f"{_value(param.low)}..{_value(param.high)}"
    if param.log:
        text += " log"
    if param.step is not None and not (isinstance(param, IntParam) and param.step == 1):
        text += f" step {_value(param.step)}"
    return text


def _condition(condition: Condition | None) -> str:
    if condition is None:
        return "always"
    return f"{condition.param} in {', '.join(_value(v) for v in condition.in_)}"


def _space_changes(
    old: SearchSpace | None, new: SearchSpace | None, base: Mapping[str, Any]
) -> list[str]:
    """One line per changed parameter of the search space."""
    if old is None or new is None:
        return ["the stored search space cannot be read: the new one replaces it"]
    lines: list[str] = []
    old_names, new_names = set(old.names), set(new.names)
    for p in old.params:
        if p.name not in new_names:
            try:
                now = f"; new trials use {_value(lookup(base, p.name))}"
            except KeyError:
                now = ""
            lines.append(f"{p.name} no longer searched (was {describe_param(p)}){now}")
    for p in new.params:
        if p.name not in old_names:
            lines.append(f"{p.name} added: {describe_param(p)}")
            continue
        lines += _param_changes(old.get(p.name), p)
    if not lines and old.names != new.names:
        lines.append(f"parameters reordered: {', '.join(new.names)}")
    return lines


def _param_changes(old: Any, new: Any) -> list[str]:
    name = new.name
    lines: list[str] = []
    if isinstance(new, FixedParam) and not isinstance(old, FixedParam):
        lines.append(f"{name} fixed at {_value(new.value)} (was {_plain(old)})")
    elif isinstance(old, FixedParam) and not isinstance(new, FixedParam):
        lines.append(f"{name} searched again: {_plain(new)} (was fixed at {_value(old.value)})")
    elif isinstance(old, FixedParam) and isinstance(new, FixedParam):
        if not _same(old.value, new.value):
            lines.append(f"{name} fixed at {_value(new.value)} (was {_value(old.value)})")
    elif isinstance(old, CategoricalParam) and isinstance(new, CategoricalParam):
        added = [c for c in new.choices if not _has(old.choices, c)]
        removed = [c for c in old.choices if not _has(new.choices, c)]
        parts = []
        if added:
            parts.append(f"added {', '.join(_value(c) for c in added)}")
        if removed:
            parts.append(f"removed {', '.join(_value(c) for c in removed)}")
        if parts:
            lines.append(f"{name} choices: {'; '.join(parts)}")
        elif old.choices != new.choices:
            lines.append(f"{name} choices reordered: {', '.join(_value(c) for c in new.choices)}")
    elif type(old) is type(new):  # a float or int range
        if _range(old) != _range(new):
            lines.append(f"{name} range {_range(old)} -> {_range(new)}")
    else:
        lines.append(f"{name} {_plain(old)} -> {_plain(new)}")
    if old.condition != new.condition:
        lines.append(f"{name} condition {_condition(old.condition)} -> {_condition(new.condition)}")
    return lines


def _plain(param: Any) -> str:
    """A parameter's description without its condition (that is said on its own line)."""
    return describe_param(param.model_copy(update={"condition": None}))


# -- helpers -------------------------------------------------------------------------------------


def _stored(study: StudyRow) -> dict[str, Any]:
    try:
        spec = json.loads(study.spec_json)
    except (TypeError, ValueError):
        spec = None
    if not isinstance(spec, dict):
        raise MetaguiError(f"study {study.name!r}: its stored experiment cannot be read")
    return spec


def _normalised(
    spec: ExperimentSpec | Mapping[str, Any],
) -> tuple[dict[str, Any], SearchSpace | None]:
    """The experiment as plain data, defaults filled in (a stored one from an older version
    that still validates), with ``training.eval_seed`` resolved as the runner resolves it;
    and its search space (None if it cannot be read)."""
    from pydantic import ValidationError

    from metagui.core.experiment import ExperimentSpec

    if isinstance(spec, ExperimentSpec):
        data = spec.model_dump(mode="json", by_alias=True)
    else:
        try:
            data = ExperimentSpec.model_validate(dict(spec)).model_dump(mode="json", by_alias=True)
        except ValidationError:
            data = json.loads(json.dumps(dict(spec)))  # as stored: compared as it is
    training = data.get("training")
    if isinstance(training, dict) and training.get("eval_seed") is None:
        # Every trial is scored on the tasks of the study's seed when none is given.
        training["eval_seed"] = data.get("seed", 0)
    try:
        space: SearchSpace | None = SearchSpace.model_validate(data.get("search_space") or {})
    except ValidationError:
        space = None
    return data, space


def _base(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in _BASE_SECTIONS or k in ("seed", "device")}


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    """The dotted paths where ``old`` and ``new`` differ (list items by index when both lists
    have the same length, the whole list otherwise)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(where)
            else:
                out += _diff(old[key], new[key], where)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            p
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for p in _diff(a, b, f"{path}.{i}")
        ]
    return [] if _same(old, new) else [path]


def _describe_change(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    before, after = _at(old, path), _at(new, path)
    if isinstance(before, dict | list) or isinstance(after, dict | list):
        return f"{path} changed"
    return f"{path} {_value(before)} -> {_value(after)}"


def _at(data: Mapping[str, Any], path: str) -> Any:
    try:
        return lookup(data, path)
    except KeyError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (``True`` is not ``1``)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _has(choices: Sequence[Any], value: Any) -> bool:
    return any(_same(c, value) for c in choices)


def _value(value: Any) -> str:
    """A setting's value, short: ``1e-4``, ``0.01``, ``relu``, ``[40, 40]``, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            mantissa, exponent = f"{value:.6e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return f"{value:.6g}"
    if isinstance(value, list):
        return f"[{', '.join(_value(v) for v in value)}]"
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def counted_trials(trials: Sequence[TrialRow]) -> int:
    """How many of a study's ``trials`` are results that use up its budget, as the runner
    counts them: finished, neither interrupted nor a lost trial that ran again."""
    retried = {t.retry_of for t in trials if t.retry_of is not None}
    return sum(_is_result(t) and t.number not in retried for t in trials)


def _is_result(trial: TrialRow) -> bool:
    """A trial that is a result: finished, and not because its run was interrupted."""
    return trial.state in ("COMPLETE", "PRUNED", "FAILED") and not was_interrupted(trial)


def was_interrupted(trial: TrialRow) -> bool:
    """A trial that ended because its run was stopped or its process died: not a result
    (the runner records these with an ``interrupted:`` error and runs them again)."""
    return trial.state == "FAILED" and (trial.error or "").startswith("interrupted:")
