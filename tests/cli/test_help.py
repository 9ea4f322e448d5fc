"""Every option and argument of every ``metagui`` command says what it is for in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from metagui.cli import _parser, main


def _parsers(
    parser: argparse.ArgumentParser, name: str = "metagui"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {command}")


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # Each command's line in the list of commands.
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            missing += [f"command {c}" for c in action.choices if not listed.get(c)]
        elif not action.help or action.help == argparse.SUPPRESS:
            missing.append("/".join(action.option_strings) or action.dest)
    return missing


def test_every_option_of_every_command_has_a_help_text() -> None:
    found = {name: _undocumented(parser) for name, parser in _parsers(_parser())}
    assert len(found) >= 8, sorted(found)  # the app, and its commands: the walk went down
    assert {name: missing for name, missing in found.items() if missing} == {}


def test_the_walk_finds_an_option_without_help() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["predict"].add_argument("--undocumented")
    found = {name: _undocumented(p) for name, p in _parsers(parser)}
    assert found["metagui predict"] == ["--undocumented"]


def test_predict_help_describes_checkpoint_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "--help"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for option in ("--checkpoint FILE", "--device DEVICE"):
        (line,) = [x for x in lines if x.strip().startswith(option)]
        assert len(line.strip()) > len(option) + 10, line  # a description follows on its line
