"""A history the user cannot write or that lost a page, and errors that are bugs: each reaches
the command line as one line with a non-zero exit, and no file is changed by a refusal."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_cli_study import TINY, one_error_line  # tests/ is on sys.path (rootdir import)

import metagui.cli._history as history_command
from metagui.cli import main
from metagui.core.history import HistoryReader


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An experiment file and a closed history holding its finished two-trial study."""
    folder = tmp_path_factory.mktemp("recorded")
    exp = folder / "tiny.yaml"
    exp.write_text(yaml.safe_dump(TINY))
    db = folder / "h.sqlite"
    assert main(["run", str(exp), "--db", str(db)]) == 0
    assert not Path(f"{db}-wal").exists()  # closed cleanly: everything is in the file
    return exp, db


def _overwrite_page_of(db: Path, table: str) -> None:
    """Overwrite the root page of ``table`` (a small table: its only page) with garbage, as a
    torn write or a bad disk sector would."""
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table])
        root = root[0] if isinstance(root, tuple) else root
    finally:
        conn.close()
    with db.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(bytes([0x5A, 0xFF, 0x00, 0x13] * (page_size // 4)))


def test_a_damaged_history_is_reported_by_every_command_and_never_written(
    recorded: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp, good = recorded
    db = tmp_path / "h.sqlite"
    shutil.copy(good, db)
    _overwrite_page_of(db, "trials")
    before = _digest(db)

    assert main(["history", "--db", str(db)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{db}: the history file is damaged (database disk image is malformed)" in line

    target = tmp_path / "best.yaml"
    assert main(["export", "--db", str(db), "--format", "yaml", "-o", str(target)]) == 2
    assert "the history file is damaged" in one_error_line(capsys.readouterr().err)
    assert not target.exists()

    assert main(["run", str(exp), "--db", str(db), "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "the history file is damaged" in line and "nothing was written to it" in line
    assert "--db" in line  # what to do: record into a new history
    assert _digest(db) == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def _without_file_permission_override() -> list[str] | None:
    """The prefix that runs a command without the power to bypass file permissions: nothing
    for an ordinary user; for root, ``setpriv`` dropping CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH, so that a chmod binds it as it binds a user. None where root cannot
    drop them (no setpriv, or no right to change capabilities)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def _cli(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "metagui.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize("read_only", ["folder", "file"])
def test_a_read_only_history_is_read_and_a_run_into_it_is_refused_up_front(
    recorded: tuple[Path, Path], tmp_path: Path, read_only: str
) -> None:
    prefix = _without_file_permission_override()
    if prefix is None:
        pytest.skip("runs as root, which bypasses file permissions, and cannot drop that power")
    exp, good = recorded
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "h.sqlite"
    shutil.copy(good, db)
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    if read_only == "folder":
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    before = _digest(db)
    try:
        shown = _cli(prefix, "history", "--db", str(db))
        assert shown.returncode == 0, shown.stderr
        assert "cli-tiny" in shown.stdout and "complete=2" in shown.stdout

        target = tmp_path / "best.json"
        exported = _cli(prefix, "export", "--db", str(db), "--format", "json", "-o", str(target))
        assert exported.returncode == 0, exported.stderr
        assert target.is_file()

        refused = _cli(prefix, "run", str(exp), "--db", str(db), "--resume", "--trials", "3")
        assert refused.returncode == 2
        line = one_error_line(refused.stderr)
        what = f"folder {folder} is read-only" if read_only == "folder" else "the file is read-only"
        assert f"{db}: the history cannot be written ({what})" in line
        assert "can still be read" in line
        assert _digest(db) == before
    finally:
        folder.chmod(stat.S_IRWXU)
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_bug_is_one_line_and_debug_shows_its_traceback(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = recorded

    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug in metagui")

    monkeypatch.setattr(history_command, "_history", broken)
    assert main(["history", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("metagui: internal error: ZeroDivisionError: a bug in metagui (at ")
    assert "--debug" in err

    assert main(["--debug", "history", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: a bug in metagui" in err

    # A user's error stays one line; with --debug it comes with the traceback behind it.
    monkeypatch.undo()
    missing = db.with_name("missing.sqlite")
    assert main(["--debug", "history", "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("metagui: error:")


@pytest.mark.slow
def test_ten_kills_at_random_moments_lose_nothing_and_resume_completes(tmp_path: Path) -> None:
    """SIGKILL (no handler runs) ten times at random moments of a study of fast trials: after
    each, the file is sound and every trial that had finished is still there as it was; then
    one more --resume ends with exactly the budget of trials that really ran."""
    import random
    import signal
    import time

    budget = 6
    quick = {
        **TINY,
        "training": {**TINY["training"], "iterations": 30},
        "budget": {"trials": budget},
    }
    exp = tmp_path / "quick.yaml"
    exp.write_text(yaml.safe_dump(quick))
    db = tmp_path / "h.sqlite"
    rng = random.Random(20261201)
    finished: dict[int, tuple[str, float | None]] = {}
    moments: list[float] = []

    def has_study() -> bool:
        if not db.exists():
            return False
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT 1 FROM studies").fetchone() is not None
        except sqlite3.Error:
            return False  # not made yet
        finally:
            conn.close()

    def settled() -> dict[int, tuple[str, float | None]]:
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", moments
            rows = conn.execute("SELECT number, state, value FROM trials WHERE state != 'RUNNING'")
            return {number: (state, value) for number, state, value in rows}
        finally:
            conn.close()

    for attempt in range(10):
        command = [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", str(db)]
        if attempt:
            command.append("--resume")
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        # Kill once the run has made its study in the history (its start-up is not what is
        # tested: a kill before the first schema commit leaves a file without tables), then
        # at a random moment of its trials.
        deadline = time.monotonic() + 120
        while not has_study() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        moments.append(rng.uniform(0.0, 3.0))
        time.sleep(moments[-1])
        proc.send_signal(signal.SIGKILL)
        _, raw = proc.communicate(timeout=60)
        err = raw.decode()
        assert "Traceback" not in err, err
        now = settled()
        for number, ended in finished.items():  # nothing that had finished is lost or changed
            assert now.get(number) == ended, (number, moments)
        finished = now

    final = subprocess.run(
        [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", str(db), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert final.returncode == 0, final.stderr
    end = settled()
    for number, ended in finished.items():
        assert end[number] == ended
    states = [state for state, _ in end.values()]
    assert states.count("COMPLETE") == budget, (end, moments)
    # Every other trial is one a kill interrupted (some kills must have met a trial running,
    # or this test tested nothing), and its settings ran again.
    conn = sqlite3.connect(db)
    try:
        retried = dict(conn.execute("SELECT retry_of, number FROM trials WHERE retry_of >= 0"))
        errors = dict(conn.execute("SELECT number, error FROM trials WHERE state = 'FAILED'"))
    finally:
        conn.close()
    assert errors, f"no kill met a running trial: {moments}"
    for number, error in errors.items():
        assert "interrupted" in error and number in retried, (number, error)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs root and the right to mount; skipped elsewhere, where the fault
    injecting connection of tests/core/test_storage.py still covers a disk that fills)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_already_full_at_the_start_is_one_line_and_the_file_is_kept(
    recorded: tuple[Path, Path], small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp, good = recorded
    db = small_disk / "h.sqlite"
    shutil.copy(good, db)
    before = _digest(db)
    filler = small_disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill what is left, to the last byte
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)

    assert main(["run", str(exp), "--db", str(db), "--resume", "--trials", "3"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"metagui: error: {db}: ")
    assert "MB free in" in line and "free some space" in line
    assert "not a metagui history" not in line
    assert _digest(db) == before

    filler.unlink()
    assert main(["run", str(exp), "--db", str(db), "--resume", "--trials", "3"]) == 0
    with HistoryReader(db) as reader:
        study = reader.study("cli-tiny")
        assert study is not None
        assert [t.state for t in reader.trials(study.id)] == ["COMPLETE"] * 3


def test_a_disk_that_fills_mid_study_is_one_line_and_resume_completes(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real thing behind tests/core/test_storage.py's injected fault: the metric rows of
    a study fill a tmpfs, whichever write meets the full disk first (a batch of rows, a
    finished trial, the checkpoint, the closing checkpoint of the WAL)."""
    steady = {
        **TINY,
        "training": {**TINY["training"], "iterations": 300, "log_every": 1},
        "budget": {"trials": 40},
    }
    exp = tmp_path / "steady.yaml"
    exp.write_text(yaml.safe_dump(steady))
    filler = small_disk / "filler.bin"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(0, free - 900 * 1024))  # leave 900 KB
    db = small_disk / "h.sqlite"

    assert main(["run", str(exp), "--db", str(db)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"metagui: error: {db}: the disk is full (")
    assert "MB free in" in line and "--resume" in line

    # Moved to a disk with room, the history is sound and the study completes its budget.
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    for part in small_disk.glob("h.sqlite*"):
        shutil.copy(part, roomy / part.name)
    moved = roomy / "h.sqlite"
    conn = sqlite3.connect(moved)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        done = conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    finally:
        conn.close()
    # (--force: the lease is this test's own process, which main() ran in)
    resume = ["--resume", "--force", "--trials", str(done + 1)]
    assert main(["run", str(exp), "--db", str(moved), *resume]) == 0
    with HistoryReader(moved) as reader:
        study = reader.study("cli-tiny")
        assert study is not None
        states = [t.state for t in reader.trials(study.id)]
    assert states.count("COMPLETE") == done + 1 and "RUNNING" not in states
