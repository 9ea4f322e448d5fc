"""Parallel trials on a real local Ray cluster, started by this module and stopped after it:
parallel equals serial, pruning, a worker killed mid-trial, resource errors before any trial,
and the data of a task set reaching a host that lacks its path."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import torch
from test_runner import experiment, trials_of  # tests/core is on sys.path (rootdir import)

from metagui.core.errors import MetaguiError
from metagui.core.execution._data import data_path, materialise, pack_data
from metagui.core.history import HistoryReader
from metagui.core.runner import StudyEnded, StudyRunner, TrialEnded, TrialPlaced, TrialStep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A two-CPU Ray cluster on this machine, its files inside the test's temp folder; the
    runner uses it because this process has joined it."""
    ray.init(
        num_cpus=2,
        num_gpus=0,  # the same cluster on a machine with a GPU: the no-GPU error is tested
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=str(tmp_path_factory.mktemp("ray")),
    )
    try:
        yield
    finally:
        ray.shutdown()


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _metric_rows(db: Path, trial_id: int) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM metrics WHERE trial_id = ?", [trial_id]).fetchone()[
                0
            ]
        )
    finally:
        conn.close()


def test_parallel_random_search_records_what_a_serial_one_does(tmp_path: Path) -> None:
    budget = {"trials": 5}
    reports = list(
        StudyRunner(
            experiment(budget=budget, execution={"parallel": 2}), tmp_path / "p.sqlite"
        ).run()
    )
    started = reports[0]
    assert started.parallel == 2 and started.where.startswith("Ray, 1 node")
    # Two trials were in flight at once: the second started before the first ended.
    order = [(type(r).__name__, getattr(r, "number", None)) for r in reports]
    assert order.index(("TrialStarted", 1)) < order.index(("TrialEnded", 0))
    placed = [r for r in reports if isinstance(r, TrialPlaced)]
    assert sorted(p.number for p in placed) == [0, 1, 2, 3, 4]
    assert {p.pid for p in placed} != {os.getpid()}  # trained in the workers, not here

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker trains, so that the floats agree to the bit
    try:
        list(StudyRunner(experiment(budget=budget), tmp_path / "s.sqlite").run())
    finally:
        torch.set_num_threads(threads)
    parallel, serial = (
        trials_of(tmp_path / "p.sqlite", "tiny"),
        trials_of(tmp_path / "s.sqlite", "tiny"),
    )
    assert [t.number for t in parallel] == [t.number for t in serial] == [0, 1, 2, 3, 4]
    for p, s in zip(parallel, serial, strict=True):
        assert (
            (p.state, p.params, p.seed)
            == (s.state, s.params, s.seed)
            == ("COMPLETE", s.params, s.seed)
        )
        assert p.value == s.value and p.test_value == s.test_value
        assert (
            _metric_rows(tmp_path / "p.sqlite", p.id)
            == _metric_rows(tmp_path / "s.sqlite", s.id)
            > 0
        )
        assert p.host and "[node " in p.host and p.device
    with HistoryReader(tmp_path / "p.sqlite") as reader:
        study = reader.study("tiny")
        assert study is not None
        (artifact,) = reader.artifacts(study.id)[-1:]
        best = reader.best_trial(study.id)
        assert best is not None and artifact.path.endswith(f"trial-{best.number:04d}.pt")
        assert Path(artifact.path).is_file()
    assert _integrity(tmp_path / "p.sqlite") == "ok"


def test_a_threshold_pruner_prunes_parallel_trials_with_its_reason(tmp_path: Path) -> None:
    spec = experiment(
        budget={"trials": 4},
        execution={"parallel": 2},
        pruner={"name": "threshold", "upper": 1e-6},  # no MSE is that low: all are pruned
    )
    reports = list(StudyRunner(spec, tmp_path / "h.sqlite").run())
    ended = [r for r in reports if isinstance(r, TrialEnded)]
    assert [e.state for e in ended] == ["PRUNED"] * 4
    for trial in trials_of(tmp_path / "h.sqlite", "tiny"):
        assert trial.state == "PRUNED" and trial.pruned_at_step == 4
        assert trial.pruned_reason is not None and "threshold" in trial.pruned_reason
        conn = sqlite3.connect(tmp_path / "h.sqlite")
        try:
            (last,) = conn.execute(
                "SELECT MAX(step) FROM metrics WHERE trial_id = ?", [trial.id]
            ).fetchone()
        finally:
            conn.close()
        assert last == 4  # nothing recorded after the pruned step
    assert _integrity(tmp_path / "h.sqlite") == "ok"


def test_a_worker_killed_mid_trial_fails_that_trial_and_the_study_completes(tmp_path: Path) -> None:
    long = {
        "iterations": 1200,
        "meta_batch_size": 3,
        "eval_every": 1000,
        "eval_tasks": 8,
        "test_tasks": 8,
        "log_every": 5,
    }
    spec = experiment(
        budget={"trials": 3},
        execution={"parallel": 2, "retry_lost_trials": True},
        training=long,
    )
    killed: dict[str, Any] = {}
    pids: dict[int, int] = {}
    reports = []
    for report in StudyRunner(spec, tmp_path / "h.sqlite").run():
        reports.append(report)
        if isinstance(report, TrialPlaced):
            pids[report.number] = report.pid
        if (
            isinstance(report, TrialStep)
            and not killed
            and report.number == 1
            and report.report.step >= 20
        ):
            killed = {"number": 1, "pid": pids[1], "step": report.report.step}
            os.kill(pids[1], signal.SIGKILL)
    assert killed
    assert isinstance(reports[-1], StudyEnded) and reports[-1].reason == "budget"
    trials = {t.number: t for t in trials_of(tmp_path / "h.sqlite", "tiny")}
    lost = trials[1]
    assert lost.state == "FAILED" and lost.error is not None
    assert lost.error.startswith("worker lost on ") and f"pid {killed['pid']}" in lost.error
    again = [t for t in trials.values() if t.retry_of == 1]
    assert len(again) == 1 and again[0].params == lost.params and again[0].number > 1
    # The budget counts three trials of the study's own: the lost one ran again.
    assert sorted(t.state for t in trials.values()) == ["COMPLETE"] * 3 + ["FAILED"]
    assert _integrity(tmp_path / "h.sqlite") == "ok"


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ({"parallel": 2, "gpus_per_trial": 0.5}, "the Ray cluster has no GPU"),
        ({"parallel": 3}, "do not fit in the Ray cluster"),
        ({"parallel": 2, "cpus_per_trial": 1.5}, "at most 1 at once"),
    ],
)
def test_a_cluster_that_cannot_run_the_study_is_refused_before_any_trial(
    tmp_path: Path, execution: dict[str, Any], message: str
) -> None:
    db = tmp_path / "h.sqlite"
    with pytest.raises(MetaguiError, match=message):
        list(StudyRunner(experiment(execution=execution), db).run())
    assert not db.exists()  # nothing recorded, not even an empty history


def test_an_address_where_nothing_answers_is_refused_at_once(tmp_path: Path) -> None:
    ray.shutdown()  # a process already in a cluster would use that one
    try:
        with pytest.raises(MetaguiError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
            list(
                StudyRunner(
                    experiment(execution={"address": "127.0.0.1:1"}), tmp_path / "h.sqlite"
                ).run()
            )
        with pytest.raises(MetaguiError, match="is not a Ray address"):
            list(
                StudyRunner(
                    experiment(execution={"address": "nowhere"}), tmp_path / "h.sqlite"
                ).run()
            )
    finally:
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    assert not (tmp_path / "h.sqlite").exists()


def test_task_set_data_travels_to_a_host_that_lacks_its_path(
    tmp_path: Path, write_gray_classes: Any
) -> None:
    root = write_gray_classes(tmp_path / "shapes", {"a": 40, "b": 120, "c": 200}, 4)
    spec = {"taskset": {"family": "image_folder", "root": str(root)}, "seed": 1}
    spec_json = json.dumps(spec)
    assert data_path(spec_json) == ("root", str(root))
    packed = pack_data("root", str(root))
    assert pack_data("root", str(root)).digest == packed.digest  # the same files, the same archive
    with tarfile.open(fileobj=io.BytesIO(packed.archive)) as tar:
        names = tar.getnames()
    assert "shapes/a/00.png" in names and len([n for n in names if n.endswith(".png")]) == 12
    cache = tmp_path / "cache"
    # Where the path exists (a shared filesystem) nothing is unpacked.
    assert materialise(spec_json, packed, cache) == spec_json and not cache.exists()
    # Elsewhere: unpacked once into a folder named by the content hash.
    moved = tmp_path / "elsewhere"
    root.rename(moved)
    there = json.loads(materialise(spec_json, packed, cache))["taskset"]["root"]
    assert there == str(cache / packed.digest / "shapes")
    assert sorted(p.name for p in Path(there).iterdir()) == ["a", "b", "c"]
    assert (Path(there) / "a" / "00.png").read_bytes() == (moved / "a" / "00.png").read_bytes()
    again = json.loads(materialise(spec_json, packed, cache))["taskset"]["root"]
    assert again == there and len(list(cache.iterdir())) == 1
    damaged = type(packed)(packed.field, packed.source, packed.digest, packed.archive[:-512])
    with pytest.raises(MetaguiError, match="damaged"):
        materialise(spec_json, damaged, tmp_path / "other-cache")


def test_the_study_benchmark_runs_serial_and_parallel_and_reports_both(tmp_path: Path) -> None:
    from metagui.core.bench_study import run_study_benchmark

    result = run_study_benchmark(seconds=8.0, parallel=2)
    serial, wide = result["serial"], result["parallel_run"]
    assert serial["complete"] >= 2 and wide["complete"] >= 2
    assert serial["warm_trials_per_min"] > 0 and wide["warm_trials_per_min"] > 0
    assert result["speedup"] == round(
        wide["warm_trials_per_min"] / serial["warm_trials_per_min"], 3
    )
    assert wide["first_results_s"] >= wide["startup_s"] >= 0
