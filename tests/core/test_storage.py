"""A history that cannot take a write (a full disk) stops the run with one line that says so
and what to do; what was recorded stays, the file stays sound, and --resume completes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_runner import experiment, trials_of  # tests/core is on sys.path (rootdir import)

import metagui.core.history._writer as writer_module
from metagui.core.errors import MetaguiError
from metagui.core.runner import StudyEnded, StudyRunner, TrialEnded


def test_a_full_disk_mid_study_is_one_line_and_resume_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = writer_module.connect_writer

    def small_disk(path: str | Path) -> object:
        # SQLite's own size cap gives the very error of a full disk (SQLITE_FULL).
        db = real(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 6}")
        return db

    monkeypatch.setattr(writer_module, "connect_writer", small_disk)
    db = tmp_path / "h.sqlite"
    spec = experiment(
        budget={"trials": 4},
        training={"iterations": 150, "meta_batch_size": 2, "eval_every": 50,
                  "eval_tasks": 4, "test_tasks": 4, "log_every": 1},
    )  # fmt: skip
    ended: list[TrialEnded] = []
    with pytest.raises(MetaguiError) as caught:
        for report in StudyRunner(spec, db).run():
            if isinstance(report, TrialEnded):
                ended.append(report)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{db}: the disk is full (")
    assert "MB free in" in message and "continue with --resume" in message
    monkeypatch.undo()

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    before = {t.number: t for t in trials_of(db, "tiny")}
    for e in ended:  # every trial that ended before the disk filled is recorded as it ended
        assert before[e.number].state == e.state and before[e.number].value == e.value
    # The next start (here in the same process, so it takes the lease by force) repairs the
    # trial the full disk left running and completes the budget.
    reports = list(StudyRunner(spec, db, resume=True, force=True).run())
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"
    after = trials_of(db, "tiny")
    assert sum(t.state == "COMPLETE" for t in after) == 4
    assert all(t.state != "RUNNING" for t in after)
