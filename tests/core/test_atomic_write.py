"""Atomic file writes: the old file or the whole new one, never half, and nothing left behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import metagui.core.atomic_write as aw
from metagui.core.atomic_write import (
    atomic_writer,
    partial_writes,
    write_bytes_atomic,
    write_text_atomic,
)
from metagui.core.errors import FileWriteError, MetaguiError


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "e.yaml"
    target.write_text("old", encoding="utf-8")
    assert write_text_atomic(target, "new\r\nü") == target
    assert target.read_bytes() == "new\r\nü".encode()  # line endings as given, UTF-8
    write_bytes_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["e.yaml"]


@pytest.mark.parametrize("interruption", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_mid_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, interruption: BaseException
) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(type(interruption)), atomic_writer(target) as file:
        file.write(b"half of the n")
        assert partial_writes(tmp_path, "*.pt")  # the write in flight is visible...
        raise interruption
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # ...and gone after


def test_a_failed_rename_keeps_the_old_file_and_says_which_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.json"
    target.write_text("{}", encoding="utf-8")

    def refuse(source: object, destination: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(aw.os, "replace", refuse)
    with pytest.raises(FileWriteError, match=r"settings\.json: cannot write \(Permission denied\)"):
        write_text_atomic(target, '{"version": 1}')
    assert target.read_text(encoding="utf-8") == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_a_folder_that_cannot_take_the_file_is_one_error_for_users_and_for_oserror_handlers(
    tmp_path: Path,
) -> None:
    with pytest.raises(FileWriteError, match="cannot write") as caught:
        write_text_atomic(tmp_path / "missing" / "e.yaml", "x")
    assert isinstance(caught.value, MetaguiError) and isinstance(caught.value, OSError)


def test_concurrent_writers_of_one_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "h.json"
    with atomic_writer(target) as first, atomic_writer(target) as second:
        first.write(b"first")
        second.write(b"second")
        assert len(partial_writes(tmp_path)) == 2
    assert target.read_bytes() == b"first"  # the last to finish wins, whole
    assert partial_writes(tmp_path) == []


def test_a_temporary_name_already_taken_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(aw.secrets, "token_hex", lambda _n: next(draws))
    target = tmp_path / "x.txt"
    with atomic_writer(target), atomic_writer(target):
        names = [p.name for p in partial_writes(tmp_path, "x.txt")]
        assert names == [".x.txt.aaaaaaaaaaaa.tmp", ".x.txt.bbbbbbbbbbbb.tmp"]


def test_writers_in_threads_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 100_000 for i in range(6)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(5):
                write_bytes_atomic(target, data)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(data,)) for data in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


def test_the_file_and_its_folder_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(aw.os, "fsync", fsync)
    write_bytes_atomic(tmp_path / "a", b"a")
    assert len(synced) == (1 if os.name == "nt" else 2)  # the file, then the folder


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_the_file_gets_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    plain, atomic = tmp_path / "plain", tmp_path / "atomic"
    plain.write_bytes(b"")
    write_bytes_atomic(atomic, b"")
    assert atomic.stat().st_mode == plain.stat().st_mode  # not private, as mkstemp makes it
