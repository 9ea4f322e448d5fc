"""Query-style trial filters: the grammar and its precedence, what a comparison means for a
missing parameter or mixed types, and the refusals (each naming a column, nothing evaluated)."""

from __future__ import annotations

import builtins
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from metagui.core.trial_filter import FilterError, TrialFilter, parameter_names, parse_filter


@dataclass(frozen=True)
class Trial:
    number: int
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "COMPLETE"
    value: float | None = 0.3
    test_value: float | None = None
    seed: int | None = None
    excluded: bool = False
    duration: float | None = 10.0
    tags: tuple[str, ...] = ()
    notes: str | None = None


TRIALS = [
    Trial(0, {"algorithm.name": "maml", "algorithm.inner_lr": 0.1}, value=0.4, tags=("baseline",)),
    Trial(1, {"algorithm.name": "maml", "algorithm.inner_lr": 0.01}, value=0.7, tags=("baseline",)),
    Trial(2, {"algorithm.name": "anil", "algorithm.inner_lr": 0.1}, value=0.2, tags=("wide",)),
    Trial(3, {"algorithm.name": "protonet"}, value=0.1, notes="diverged once, NaN at step 40"),
    Trial(4, {"algorithm.name": "maml", "algorithm.inner_lr": 0.05}, state="FAILED", value=None),
    Trial(
        5,
        {"algorithm.name": "anil", "model.hidden_sizes": [40, 20], "model.width.0": 64},
        state="PRUNED",
        value=0.9,
        tags=("baseline", "wide"),
    ),
]
KNOWN = parameter_names(TRIALS)


def numbers(text: str) -> list[int]:
    return [t.number for t in parse_filter(text, KNOWN).select(TRIALS)]


def refusal(text: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse_filter(text, KNOWN)
    return caught.value


def test_the_example_of_the_issue() -> None:
    assert numbers('value < 0.5 and algorithm.name == "maml" and "baseline" in tags') == [0]


def test_and_binds_tighter_than_or_and_parentheses_change_that() -> None:
    text = 'algorithm.name == "anil" or algorithm.name == "maml" and value < 0.5'
    assert numbers(text) == [0, 2, 5]  # anil or (maml and < 0.5)
    assert numbers(f"({text.replace(' and', ') and')}") == [0, 2]
    assert numbers('not algorithm.name == "maml" and value < 0.5') == [2, 3]
    assert numbers('not (algorithm.name == "maml" and value < 0.5)') == [1, 2, 3, 4, 5]
    assert numbers("not not value < 0.5") == [0, 2, 3]


def test_in_over_tags_lists_and_strings() -> None:
    assert numbers('"baseline" in tags') == [0, 1, 5]
    assert numbers('"baseline" not in tags') == [2, 3, 4]
    assert numbers('algorithm.name in ["anil", "protonet"]') == [2, 3, 5]
    assert numbers("algorithm.inner_lr in [0.1, 0.05,]") == [0, 2, 4]
    assert numbers('"NaN" in notes') == [3]  # a part of a string
    assert numbers("20 in model.hidden_sizes") == [5]


def test_state_compares_without_regard_to_case() -> None:
    assert numbers('state == "complete"') == [0, 1, 2, 3]
    assert numbers("state in ['failed', 'Pruned']") == [4, 5]
    assert numbers('state != "COMPLETE"') == [4, 5]
    assert numbers('algorithm.name == "MAML"') == []  # parameters keep their case


def test_a_missing_parameter_makes_every_comparison_false() -> None:
    # trial 3 has no inner_lr (a conditional parameter): neither side of any comparison
    assert 3 not in numbers("algorithm.inner_lr < 1") + numbers("algorithm.inner_lr >= 1")
    assert 3 not in numbers("algorithm.inner_lr != 0.1") + numbers("algorithm.inner_lr == null")
    assert 3 not in numbers("algorithm.inner_lr not in [0.1]")
    assert numbers("not algorithm.inner_lr < 1") == [3, 5]  # not of false


def test_numbers_and_strings_never_compare() -> None:
    for op in ("==", "!=", "<", "<=", ">", ">="):
        assert numbers(f"algorithm.name {op} 1") == []
        assert numbers(f'value != null and value {op} "0.4"') == []
    assert numbers("value == 0.4") == [0]
    assert numbers("number == 2.0 or number == true") == [2]  # a bool is no number
    assert numbers("value > -1 and value <= .3") == [2, 3]


def test_null_values_and_bare_operands() -> None:
    assert numbers("value == null") == [4]
    assert numbers("value != None") == [0, 1, 2, 3, 5]
    assert numbers("value != 'x'") == [4]  # null differs from anything, a number from nothing
    assert numbers("value < 1") == [0, 1, 2, 3, 5]  # a failed trial has no value to order
    assert numbers("notes") == [3]
    assert numbers("not tags and not excluded") == [3, 4]
    assert numbers("true") == [0, 1, 2, 3, 4, 5]
    assert numbers("(value) < 0.3") == [2, 3]


def test_dotted_names_with_list_indices() -> None:
    # a list-valued parameter indexed by the filter, and a parameter whose name has an index
    assert numbers("model.hidden_sizes.0 == 40 and model.hidden_sizes.1 < 30") == [5]
    assert numbers("model.hidden_sizes == [40, 20]") == [5]
    assert numbers("model.hidden_sizes.7 == 40 or model.hidden_sizes.x == 40") == []
    assert numbers("model.width.0 >= 64") == [5]


def test_strings_in_either_quote_with_escapes() -> None:
    trial = Trial(9, {"data.path": 'a "b" \\ c'})
    assert parse_filter(r"data.path == 'a \"b\" \\ c'", None).matches(trial)
    assert parse_filter(r'data.path == "a \"b\" \\ c"', None).matches(trial)


def test_front_is_what_the_caller_says_and_false_where_it_says_nothing() -> None:
    query = parse_filter('front and algorithm.name == "maml"', KNOWN)
    assert query.matches(TRIALS[0], front=True) and not query.matches(TRIALS[0])
    assert [t.number for t in query.select(TRIALS, front={1, 2})] == [1]
    assert [t.number for t in parse_filter("not front", KNOWN).select(TRIALS, {0, 3})] == [
        1,
        2,
        4,
        5,
    ]
    assert numbers("front == true") == []  # a caller that knows no front


def test_a_parsed_filter_keeps_its_text() -> None:
    parsed = parse_filter(" value<1 ", KNOWN)
    assert isinstance(parsed, TrialFilter) and parsed.text == " value<1 "
    assert parsed.matches(TRIALS[0]) and not parsed.matches(TRIALS[4])


def test_an_unknown_name_is_refused_with_a_suggestion() -> None:
    error = refusal('value < 1 and algoritm.name == "maml"')
    assert str(error) == "column 15: unknown name 'algoritm.name'; did you mean 'algorithm.name'?"
    assert error.column == 15
    assert "did you mean 'value'" in str(refusal("valeu < 1"))
    far = str(refusal("zzz == 1"))
    assert "unknown name 'zzz'" in far and "no trial field (value, test_value" in far
    # an item of a list a parameter holds is known; None accepts any name
    parse_filter("model.hidden_sizes.3 == 1", KNOWN)
    assert parse_filter("anything.at.all == 1", None).select(TRIALS) == []


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("", 1, "the filter is empty"),
        ("value <", 8, "ends early"),
        ("value < 1 value", 11, "expected and, or or the end, found 'value'"),
        ("(value < 1", 11, "expected ')' to close the '(' of column 1"),
        ("1 < value < 2", 11, "chained comparisons are not supported"),
        ("value = 1", 7, "to compare, write =="),
        ("value is None", 7, "write =="),
        ("value < 1 && tags", 11, "write and"),
        ("value + 1 > 2", 7, "arithmetic is not allowed"),
        ("-value < 1", 1, "arithmetic is not allowed"),
        ("notes == 'open", 10, "no closing '"),
        ("[1, value] == tags", 5, "a list holds literals only"),
        ("tags == [1 2]", 12, "expected , or ]"),
        ("value < 1e", 9, "'1e' is not a number"),
        ("(value < 1) == true", 13, "a condition in parentheses cannot be compared"),
        ("model.hidden_sizes. == 1", 19, "a name part must follow each dot"),
    ],
)
def test_bad_syntax_names_its_column(text: str, column: int, says: str) -> None:
    error = refusal(text)
    assert error.column == column and says in str(error), str(error)
    assert str(error).startswith(f"column {column}: ")


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("__import__('os').system('touch pwned')", 11, "calling '__import__' is not allowed"),
        ("value < 1 or open('pwned', 'w')", 18, "calling 'open' is not allowed"),
        ("'abc'.upper() == 'ABC'", 6, "attributes and methods are not allowed"),
        ("(1).real == 1", 4, "attributes and methods are not allowed"),
        ("1.real == 1", 1, "'1.real' is not a number"),
        ("lambda: 1", 1, "'lambda' is not allowed"),
        ("[x for x in tags]", 2, "a list holds literals only"),
        ("tags[0] == 'baseline'", 5, "subscripts are not allowed"),
        ("'baseline'[0] == 'b'", 11, "subscripts are not allowed"),
        ('f"{value}" == "1"', 1, 'string prefixes (f"...") are not allowed'),
        ("value if value else 1", 7, "'if' is not allowed"),
        ("import os", 1, "'import' is not allowed"),
        ("value < 1; 2", 10, "';' is not allowed"),
        ("value.__class__ == 1", 1, "unknown name 'value.__class__'"),
    ],
)
def test_forbidden_constructs_are_refused_without_running_anything(
    text: str, column: int, says: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: list[str] = []

    def spy(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            ran.append(name)
            raise AssertionError(f"a filter must not call {name}")

        return refuse

    monkeypatch.chdir(tmp_path)
    # Only around the parse: pytest itself imports and opens files between tests.
    with contextlib.ExitStack() as patches:
        for name in ("eval", "exec", "compile", "__import__", "open"):
            patches.enter_context(mock.patch.object(builtins, name, spy(name)))
        try:
            parse_filter(text, KNOWN)
        except FilterError as exc:
            error: FilterError | None = exc
        else:
            error = None
    assert error is not None and error.column == column and says in str(error), str(error)
    assert ran == [] and list(tmp_path.iterdir()) == []
