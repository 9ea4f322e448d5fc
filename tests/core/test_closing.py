"""The close()-based context manager that the history's reader and writer share."""

from __future__ import annotations

from pathlib import Path

import pytest

from metagui.core.closing import Closable
from metagui.core.errors import MetaguiError
from metagui.core.history import HistoryReader, HistoryWriter


class _Resource(Closable):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_the_block_gets_the_object_and_it_is_closed_however_the_block_ends() -> None:
    with _Resource() as resource:
        assert isinstance(resource, _Resource) and resource.closed == 0
    assert resource.closed == 1
    failing = _Resource()
    with pytest.raises(ValueError, match="boom"), failing:
        raise ValueError("boom")
    assert failing.closed == 1


def test_a_class_without_close_cannot_be_made() -> None:
    class NoClose(Closable):
        pass

    with pytest.raises(TypeError, match="close"):
        NoClose()  # type: ignore[abstract]


def test_the_history_reader_and_writer_close_at_the_end_of_a_with_block(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryWriter(path) as writer:
        writer.create_study("s", "{}", "minimize", "random")
    with pytest.raises(MetaguiError, match="the history writer is closed"):
        writer.create_study("t", "{}", "minimize", "random")
    with HistoryReader(path) as reader:
        assert [s.name for s in reader.studies()] == ["s"]
    with pytest.raises(MetaguiError, match="closed database"):
        reader.studies()
