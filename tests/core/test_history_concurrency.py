"""A reader following a live run, in another thread and in another process: while a writer
thread commits trials and thousands of series rows in small batches, the reader polls
``changes_since`` in a loop. No call may fail (no "database is locked"), the reader must end up
with exactly the rows written, and the file must pass SQLite's integrity check.

This file is also run as a script by the other-process test: ``python THIS_FILE DB STOP OUT``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from metagui.core.history import HistoryReader, HistoryWriter, Watermark

WRITE_SECONDS = 2.5
MIN_TRIALS = 20  # with 60 steps of 2 metrics: at least 2,400 metric rows, however slow the disk
STEPS_PER_TRIAL = 60


@dataclass
class Followed:
    """What a following reader accumulated."""

    metric_ids: list[int] = field(default_factory=list)
    learned_ids: list[int] = field(default_factory=list)
    trial_states: dict[int, str] = field(default_factory=dict)
    excluded: dict[int, bool] = field(default_factory=dict)
    polls_with_news: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Written:
    """What the writer wrote."""

    trials: int = 0
    metric_rows: int = 0
    learned_rows: int = 0
    errors: list[str] = field(default_factory=list)


def follow(path: Path, writer_done: Callable[[], bool]) -> Followed:
    """Poll ``changes_since`` as fast as possible until the writer is done, then once more."""
    followed = Followed()
    try:
        with HistoryReader(path) as reader:
            mark = Watermark()
            while True:
                # Read the flag before polling, so the last poll starts after the last commit.
                done = writer_done()
                changes = reader.changes_since(mark)
                mark = changes.watermark
                followed.metric_ids += [row.id for row in changes.metrics]
                followed.learned_ids += [row.id for row in changes.learned]
                for trial in changes.trials:
                    followed.trial_states[trial.number] = trial.state
                    followed.excluded[trial.number] = trial.excluded
                if changes and not done:
                    followed.polls_with_news += 1
                if done:
                    return followed
    except Exception as error:  # every failure is the finding, e.g. "database is locked"
        followed.errors.append(repr(error))
        return followed


def write_for(path: Path, seconds: float) -> Written:
    """Run trials with small, frequent flushes for ``seconds`` and at least MIN_TRIALS trials;
    every third trial is excluded after it finished (a second change to a finished trial)."""
    written = Written()
    try:
        with HistoryWriter(path, flush_rows=40, flush_seconds=0.01) as writer:
            study = writer.create_study("live", "{}", "minimize", "random", seed=0)
            deadline = time.monotonic() + seconds
            while written.trials < MIN_TRIALS or time.monotonic() < deadline:
                number = written.trials
                trial = writer.start_trial(study, number, {"lr": 0.001 * (number + 1)})
                for step in range(STEPS_PER_TRIAL):
                    loss = 1.0 / (step + 1)
                    writer.add_metrics(trial, step, {"train/loss": loss, "val/loss": 2 * loss})
                    writer.add_learned(trial, step, {"inner_lr/body.0": 0.01 + step * 1e-4})
                    written.metric_rows += 2
                    written.learned_rows += 1
                writer.finish_trial(trial, "COMPLETE", value=float(number))
                if number % 3 == 0:
                    writer.set_excluded(trial, True)
                written.trials += 1
    except Exception as error:
        written.errors.append(repr(error))
    return written


def _ids(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    finally:
        conn.close()


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _check(path: Path, written: Written, followed: Followed) -> None:
    assert written.errors == []
    assert followed.errors == []
    # The runs really overlapped: the reader saw news many times while the writer wrote.
    assert followed.polls_with_news >= 5
    assert followed.metric_ids == _ids(path, "metrics")
    assert len(followed.metric_ids) == written.metric_rows
    assert followed.learned_ids == _ids(path, "learned")
    assert len(followed.learned_ids) == written.learned_rows
    assert followed.trial_states == dict.fromkeys(range(written.trials), "COMPLETE")
    assert followed.excluded == {n: n % 3 == 0 for n in range(written.trials)}
    assert _integrity(path) == "ok"


def test_a_reader_thread_follows_a_writer_thread(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryWriter(path).close()  # the file exists before the reader opens it
    written = Written()
    done = threading.Event()

    def write() -> None:
        written.__dict__.update(write_for(path, WRITE_SECONDS).__dict__)
        done.set()

    writer = threading.Thread(target=write)
    followed: list[Followed] = []
    reader = threading.Thread(target=lambda: followed.append(follow(path, done.is_set)))
    reader.start()
    writer.start()
    writer.join()
    reader.join()
    _check(path, written, followed[0])


def test_a_reader_process_follows_a_writer_thread(tmp_path: Path) -> None:
    path, stop, out = tmp_path / "history.db", tmp_path / "stop", tmp_path / "followed.json"
    HistoryWriter(path).close()
    ready = tmp_path / "ready"
    follower = subprocess.Popen(
        [sys.executable, __file__, str(path), str(stop), str(out), str(ready)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Start writing once the other process polls, so the two really overlap.
        deadline = time.monotonic() + 60
        while not ready.exists() and follower.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ready.exists(), follower.stderr.read() if follower.stderr else ""
        written = write_for(path, WRITE_SECONDS)
    finally:
        stop.touch()
        _, stderr = follower.communicate(timeout=60)
    assert follower.returncode == 0, stderr
    followed = json.loads(out.read_text())
    # JSON object keys are strings; give the trial numbers back as numbers.
    for key in ("trial_states", "excluded"):
        followed[key] = {int(number): value for number, value in followed[key].items()}
    _check(path, written, Followed(**followed))


def _follow_in_this_process(path: Path, stop: Path, out: Path, ready: Path) -> None:
    def writer_done() -> bool:
        if not ready.exists():
            ready.touch()  # polling has begun
        return stop.exists()

    out.write_text(json.dumps(asdict(follow(path, writer_done))))


if __name__ == "__main__":
    _follow_in_this_process(*(Path(argument) for argument in sys.argv[1:5]))
