"""Query-style filters over the trials of a study, for ``metagui history --where``, the CSV
export and the app's trials table: ``value < 0.5 and algorithm.name == "maml" and "baseline"
in tags``. :func:`parse_filter` reads the text once into a small tree (or refuses it with a
:class:`FilterError` that names the column); :meth:`TrialFilter.matches` tests a trial.

Grammar, loosest binding first::

    expression := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expression ")" | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand]
    operand    := NUMBER | STRING | true | false | null | "[" literals "]" | NAME
    NAME       := a trial field (value, test_value, state, number, duration, seed, excluded,
                  tags, notes, front) or a parameter by its dotted name (algorithm.inner_lr;
                  a decimal part is a list index: model.hidden_sizes.0)

Strings are in '...' or "..." (backslash escapes the quote); ``True``/``False``/``None`` are
accepted too. A comparison with a parameter the trial does not have (a conditional one) is
false, ``!=`` included, and so is one between a number and a string; ``<`` and the like
compare only numbers with numbers and strings with strings. ``state`` compares without
regard to case. ``x in y`` tests membership in a list (``"baseline" in tags``) or a part of a
string (``"nan" in notes``). ``front`` is true for a trial on its study's Pareto front (in a
study of one objective, its best trial), as the caller says (:meth:`TrialFilter.matches`;
false where it says nothing). A bare operand is a condition of its own: true when it holds a
value other than false, zero, an empty string or list, or null (``notes and not excluded``).

The text is read by a tokenizer and a recursive-descent parser of this grammar alone, not by
Python's parser: dotted names with decimal parts are no Python, every refusal can name its
column and say what to write instead, and there is nothing to evaluate, so a call, a
subscript, an attribute of a literal or arithmetic is refused before any trial is looked at.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TypeVar

from metagui.core.trial_filter._evaluate import FilterableTrial, holds
from metagui.core.trial_filter._parse import parse_tree
from metagui.core.trial_filter._tree import TRIAL_FIELDS, FilterError, Node

__all__ = [
    "TRIAL_FIELDS",
    "FilterError",
    "FilterableTrial",
    "TrialFilter",
    "parameter_names",
    "parse_filter",
]

_T = TypeVar("_T", bound=FilterableTrial)


@dataclass(frozen=True)
class TrialFilter:
    """A parsed filter: :meth:`matches` tests one trial, :meth:`select` keeps the matching
    ones of many. Made by :func:`parse_filter`."""

    text: str
    tree: Node

    def matches(self, trial: FilterableTrial, front: bool = False) -> bool:
        """Whether ``trial`` passes the filter; ``front``: whether it is on its study's Pareto
        front (:func:`metagui.core.pareto.front_trials`), what the name ``front`` reads."""
        return holds(self.tree, trial, front)

    def select(self, trials: Iterable[_T], front: Collection[int] = ()) -> list[_T]:
        """The trials that pass, in their order; ``front``: the numbers of the trials on the
        study's Pareto front."""
        return [t for t in trials if holds(self.tree, t, t.number in front)]


def parse_filter(text: str, known_names: Iterable[str] | None) -> TrialFilter:
    """Read ``text`` (see the grammar above) into a :class:`TrialFilter`, or raise a
    :class:`FilterError` naming the column. ``known_names``: the parameter names of the
    study (:func:`parameter_names`), so that a misspelt name is refused with a suggestion
    rather than matching nothing; None takes any name."""
    known = None if known_names is None else frozenset(known_names)
    return TrialFilter(text, parse_tree(text, known))


def parameter_names(trials: Iterable[FilterableTrial]) -> set[str]:
    """Every parameter name that any of ``trials`` has."""
    return {name for trial in trials for name in trial.params}
