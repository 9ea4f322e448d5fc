"""The tokenizer and the recursive-descent parser of the filter grammar (see
:mod:`metagui.core.trial_filter`): text in, a tree of :mod:`._tree` out, or a
:class:`FilterError` naming the column of the first problem."""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass
from typing import Any

from metagui.core.trial_filter._tree import (
    TRIAL_FIELDS,
    BoolOp,
    Compare,
    FilterError,
    Literal,
    Name,
    Node,
    Not,
    Operand,
    Truth,
)

__all__ = ["parse_tree"]

_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME = re.compile(rf"{_WORD}(?:\.(?:{_WORD}|[0-9]+))*")
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", "-")
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_CONSTANTS = {"true": True, "True": True, "false": False, "False": False}
_NULLS = ("null", "None")
_OWN_WORDS = {"and", "or", "not", "in", *_CONSTANTS, *_NULLS}
# What someone used to other query languages writes, and what to write instead.
_INSTEAD = {
    "=": "to compare, write ==",
    "&&": "write and",
    "&": "write and",
    "||": "write or",
    "|": "write or",
    "!": "write not",
    "is": "write ==, or == null",
    **dict.fromkeys("+-*/%@~^", "arithmetic is not allowed"),
}
_DIGITS = "0123456789"
_STRING_PREFIXES = {"f", "r", "b", "u", "t", "rb", "br", "fr", "rf", "tr", "rt"}
_ESCAPES = {"n": "\n", "t": "\t"}


@dataclass(frozen=True)
class _Token:
    # "name", "number", "string", "word" (and, or, not, in, constants), "op", "end", "error"
    kind: str
    text: str
    column: int
    value: Any = None


def _tokens(text: str) -> list[_Token]:
    """The tokens of ``text``, ending with an ``end`` token; where the text cannot be read,
    an ``error`` token (its ``value`` the :class:`FilterError`) ends them instead, so that the
    parser reports the first problem from the left, a call before a dot that follows it."""
    out: list[_Token] = []
    try:
        _read_tokens(text, out)
    except FilterError as exc:
        out.append(_Token("error", "", exc.column, exc))
    else:
        out.append(_Token("end", "", len(text) + 1))
    return out


def _read_tokens(text: str, out: list[_Token]) -> None:
    i = 0
    while i < len(text):
        char, column = text[i], i + 1
        if char.isspace():
            i += 1
        elif char in "'\"":
            value, i = _string(text, i)
            out.append(_Token("string", text[column - 1 : i], column, value))
        elif char in _DIGITS or (char == "." and i + 1 < len(text) and text[i + 1] in _DIGITS):
            number = _NUMBER.match(text, i)
            assert number is not None
            end = number.end()
            if end < len(text) and (text[end].isalnum() or text[end] in "_."):
                bad = text[i:end] + re.split(r"[^0-9A-Za-z_.]", text[end:], maxsplit=1)[0]
                raise FilterError(column, f"{bad!r} is not a number")
            literal = number.group()
            number_value = int(literal) if literal.isdecimal() else float(literal)
            out.append(_Token("number", literal, column, number_value))
            i = end
        elif name := _NAME.match(text, i):
            i = name.end()
            word = name.group()
            if i < len(text) and text[i] in "'\"" and word.lower() in _STRING_PREFIXES:
                raise FilterError(column, f'string prefixes ({word}"...") are not allowed')
            if i < len(text) and text[i] == ".":
                raise FilterError(
                    i + 1, f"{word + '.'!r} is not a name (a name part must follow each dot)"
                )
            kind = "word" if word in _OWN_WORDS else "name"
            if kind == "name" and keyword.iskeyword(word):
                how = _INSTEAD.get(word, "a filter compares names with literals")
                raise FilterError(column, f"{word!r} is not allowed in a filter ({how})")
            out.append(_Token(kind, word, column))
        elif char == ".":
            raise FilterError(
                column, "attributes and methods are not allowed (a dot belongs inside a name)"
            )
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                bad = next((b for b in ("&&", "||") if text.startswith(b, i)), char)
                how = _INSTEAD.get(bad, "a filter compares names with literals")
                raise FilterError(column, f"{bad!r} is not allowed in a filter ({how})")
            out.append(_Token("op", op, column))
            i += len(op)


def _string(text: str, start: int) -> tuple[str, int]:
    """The string literal opening at ``start`` and the index after it."""
    quote, i = text[start], start + 1
    chars: list[str] = []
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(chars), i + 1
        if char == "\\" and i + 1 < len(text):
            i += 1
            chars.append(_ESCAPES.get(text[i], text[i]))
        else:
            chars.append(char)
        i += 1
    raise FilterError(start + 1, f"the string opened here has no closing {quote}")


class _Parser:
    """A recursive-descent parser of the grammar (see :mod:`metagui.core.trial_filter`),
    one method per rule."""

    def __init__(self, text: str, known: frozenset[str] | None) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self._known = known

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise FilterError(1, "the filter is empty")
        node = self._expression()
        rest = self._peek()
        if rest.kind != "end":
            raise FilterError(rest.column, f"expected and, or or the end, found {rest.text!r}")
        return node

    def _expression(self) -> Node:
        items = [self._and_expr()]
        while self._is("word", "or"):
            self._take()
            items.append(self._and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def _and_expr(self) -> Node:
        items = [self._not_expr()]
        while self._is("word", "and"):
            self._take()
            items.append(self._not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def _not_expr(self) -> Node:
        if self._is("word", "not"):
            self._take()
            return Not(self._not_expr())
        if not self._is("op", "("):
            return self._comparison()
        opening = self._take()
        node = self._expression()
        if not self._is("op", ")"):
            found = self._peek()
            what = "the end" if found.kind == "end" else repr(found.text)
            raise FilterError(
                found.column,
                f"expected ')' to close the '(' of column {opening.column}, found {what}",
            )
        self._take()
        if isinstance(node, Truth):  # (value) < 0.5: a parenthesized operand
            return self._compared(node.operand)
        if self._comparison_ahead():
            raise FilterError(self._peek().column, "a condition in parentheses cannot be compared")
        return node

    def _comparison(self) -> Node:
        return self._compared(self._operand())

    def _compared(self, left: Operand) -> Node:
        if not self._comparison_ahead():
            return Truth(left)
        op = self._take().text
        if op == "not":
            self._take()
            op = "not in"
        right = self._operand()
        if self._comparison_ahead():
            raise FilterError(
                self._peek().column,
                "chained comparisons are not supported (write a < x and x < b)",
            )
        return Compare(op, left, right)

    def _comparison_ahead(self) -> bool:
        token = self._peek()
        if token.kind == "op":
            return token.text in _COMPARISONS
        if token.text == "not" and token.kind == "word":
            return self._peek(1).kind == "word" and self._peek(1).text == "in"
        return token.kind == "word" and token.text == "in"

    def _operand(self) -> Operand:
        token = self._peek()
        operand: Operand
        if token.kind == "name":
            self._take()
            if self._is("op", "("):
                raise FilterError(
                    self._peek().column,
                    f"calling {token.text!r} is not allowed: a filter has no functions",
                )
            self._check_name(token)
            operand = Name(token.text)
        else:
            operand = Literal(self._literal())
        after = self._peek()
        if after.kind == "op" and after.text in "([":
            what = "calls are" if after.text == "(" else "subscripts are"
            how = "" if after.text == "(" else " (an item of a list: model.hidden_sizes.0)"
            raise FilterError(after.column, f"{what} not allowed in a filter{how}")
        return operand

    def _literal(self) -> Any:
        token = self._take()
        if token.kind in ("number", "string"):
            return token.value
        if token.kind == "word" and token.text in _CONSTANTS:
            return _CONSTANTS[token.text]
        if token.kind == "word" and token.text in _NULLS:
            return None
        if token.kind == "op" and token.text == "-":
            if self._peek().kind == "number":
                return -self._take().value
            raise FilterError(token.column, "arithmetic is not allowed ('-' only before a number)")
        if token.kind == "op" and token.text == "[":
            return self._list(token)
        if token.kind == "end":
            raise FilterError(token.column, "the filter ends early: expected a name or a literal")
        if token.kind == "name":
            raise FilterError(token.column, f"a list holds literals only, not {token.text!r}")
        raise FilterError(token.column, f"expected a name or a literal, found {token.text!r}")

    def _list(self, opening: _Token) -> tuple[Any, ...]:
        items: list[Any] = []
        while not self._is("op", "]"):
            if self._peek().kind == "end":
                raise FilterError(opening.column, "the list opened here has no closing ]")
            items.append(self._literal())
            if self._is("op", ","):
                self._take()
            elif not self._is("op", "]"):
                found = self._peek()
                raise FilterError(
                    found.column, f"expected , or ] in the list, found {found.text!r}"
                )
        self._take()
        return tuple(items)

    def _check_name(self, token: _Token) -> None:
        known = self._known
        if known is None or token.text in TRIAL_FIELDS or token.text in known:
            return
        parts = token.text.split(".")
        if any(".".join(parts[:cut]) in known for cut in range(1, len(parts))):
            return  # an item of a list (or a key of a mapping) that a parameter holds
        close = difflib.get_close_matches(token.text, [*TRIAL_FIELDS, *sorted(known)], n=1)
        if close:
            raise FilterError(
                token.column, f"unknown name {token.text!r}; did you mean {close[0]!r}?"
            )
        raise FilterError(
            token.column,
            f"unknown name {token.text!r}: no trial field ({', '.join(TRIAL_FIELDS)}) "
            "and no parameter of the study",
        )

    def _peek(self, ahead: int = 0) -> _Token:
        token = self._tokens[min(self._at + ahead, len(self._tokens) - 1)]
        if token.kind == "error":
            raise token.value
        return token

    def _take(self) -> _Token:
        token = self._peek()
        self._at = min(self._at + 1, len(self._tokens) - 1)
        return token

    def _is(self, kind: str, text: str) -> bool:
        token = self._peek()
        return token.kind == kind and token.text == text


def parse_tree(text: str, known: frozenset[str] | None) -> Node:
    """The tree of ``text``; ``known``: the parameter names a name may be (None: any)."""
    return _Parser(text, known).parse()
