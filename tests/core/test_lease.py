"""One runner per study: the lease in the history. A second run of a study that is being run
is refused and changes nothing; a lease whose process is gone is taken over, and said so;
``force`` takes it anyway, and the run that lost it stops. Partial checkpoint files of a
killed run are removed when the study is resumed."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_runner import experiment, trials_of  # tests/core is on sys.path (rootdir import)

from metagui.core.errors import MetaguiError
from metagui.core.history import HistoryWriter, Holder
from metagui.core.runner import StudyEnded, StudyRunner, StudyStarted, TrialStep


def _lease_rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT pid, host FROM leases")]
    finally:
        conn.close()


def test_a_second_run_of_a_study_being_run_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 2})
    first = StudyRunner(spec, db).run()
    for report in first:
        if isinstance(report, TrialStep):
            break  # trial 0 is running in this (live) process
    assert _lease_rows(db) == [(os.getpid(), socket.gethostname())]
    with pytest.raises(MetaguiError, match=r"study 'tiny' is being run by PID \d+ on .* since"):
        list(StudyRunner(spec, db, resume=True).run())
    # The live trial was not marked crashed by the refused run, and the first run goes on.
    assert [t.state for t in trials_of(db, "tiny")] == ["RUNNING"]
    rest = list(first)
    assert isinstance(rest[-1], StudyEnded) and rest[-1].reason == "budget"
    assert [t.state for t in trials_of(db, "tiny")] == ["COMPLETE", "COMPLETE"]
    assert _lease_rows(db) == []  # given back at the end


def test_a_lease_whose_process_is_gone_is_taken_over_and_said_so(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 2})
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(gone.stdout)
    with HistoryWriter(db) as writer:
        study_id = writer.create_study(
            "tiny", spec.model_dump_json(by_alias=True), "minimize", "random"
        )
        writer.start_trial(study_id, 0, {"optimizer.lr": 0.001}, 0)
        writer.acquire_lease(study_id)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE leases SET pid = ?", [dead_pid])  # as a killed run left it
    conn.commit()
    conn.close()
    reports = list(StudyRunner(spec, db, resume=True).run())
    started = reports[0]
    assert isinstance(started, StudyStarted) and started.failed_on_resume == 1
    assert any(f"PID {dead_pid} on {socket.gethostname()} is gone" in n for n in started.notes)
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"


def test_force_takes_the_lease_and_the_run_that_lost_it_stops(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 1})
    with HistoryWriter(db) as writer:
        study_id = writer.create_study(
            "tiny", spec.model_dump_json(by_alias=True), "minimize", "random"
        )
        mine = writer.acquire_lease(study_id)
        with pytest.raises(MetaguiError, match="use --force"):
            writer.acquire_lease(study_id)
        theirs = writer.acquire_lease(study_id, force=True)
        assert theirs.took_over is not None and "taken by force" in theirs.took_over
        with pytest.raises(MetaguiError, match="took over this study's lease"):
            writer.renew_lease(mine)
        writer.renew_lease(theirs)
        writer.release_lease(mine)  # not its lease any more: nothing happens
    assert len(_lease_rows(db)) == 1


def test_a_lease_on_another_host_is_stale_only_after_its_heartbeat_stops() -> None:
    elsewhere = Holder(pid=1, host="another-host", since=0.0, heartbeat=1000.0)
    assert elsewhere.stale(now=1010.0) is None
    why = elsewhere.stale(now=1000.0 + 10_000)
    assert why is not None and "has not been heard of" in why


def test_resume_removes_the_partial_checkpoint_files_of_a_killed_run(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    spec = experiment(budget={"trials": 1})
    list(StudyRunner(spec, db).run())
    folder = tmp_path / "h-artifacts" / "tiny"
    assert (folder / "trial-0000.pt").is_file()
    partial = folder / ".trial-0003.pt.5f0c2a9e41d7.tmp"  # what a kill during the write leaves
    partial.write_bytes(b"half a checkpoint")
    reports = list(StudyRunner(spec, db, resume=True, trials=2).run())
    started = reports[0]
    assert isinstance(started, StudyStarted)
    assert "removed 1 partial checkpoint file(s) of an interrupted run" in started.notes
    assert not partial.exists() and (folder / "trial-0000.pt").is_file()
