"""End to end: a real parallel study on Ray, run from the window (the one Qt test that
starts Ray; the others feed hand-made reports, see ``test_run_parallel.py``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader
from metagui.qt._worker import running_workers
from metagui.qt.main_window import MainWindow

RUN_TIMEOUT_MS = 300_000


def experiment() -> ExperimentSpec:
    """The runner tests' tiny sinusoid search, two trials at once."""
    return ExperimentSpec.model_validate(
        {
            "name": "on-ray",
            "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
            "model": {"hidden_sizes": [16, 16]},
            "algorithm": {"name": "maml", "inner_steps": 1},
            "training": {
                "iterations": 12,
                "meta_batch_size": 3,
                "eval_every": 4,
                "eval_tasks": 8,
                "test_tasks": 8,
                "log_every": 4,
            },
            "search_space": {
                "params": [
                    {
                        "name": "optimizer.lr",
                        "type": "float",
                        "low": 1e-4,
                        "high": 1e-2,
                        "log": True,
                    }
                ]
            },
            "strategy": {"name": "random"},
            "budget": {"trials": 3},
            "device": "cpu",
            "execution": {"parallel": 2},
        }
    )


@pytest.fixture
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster of this test's own (the runner uses an initialised Ray as it is)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_a_parallel_study_runs_on_ray_from_the_window(
    qtbot: QtBot, tmp_path: Path, ray_cluster: None
) -> None:
    window = MainWindow(restore=False)
    window.persist_settings = False
    qtbot.addWidget(window)
    started: list[Any] = []
    window.run.study_started.connect(started.append)
    try:
        window.doc.reset(experiment())
        window.start_run()
        qtbot.waitUntil(lambda: not window.is_running(), timeout=RUN_TIMEOUT_MS)
        assert running_workers() == 0
    finally:
        window.run.stop_and_wait()
        window.close()
    assert [s.parallel for s in started] == [2] and started[0].where.startswith("Ray, 1 node")
    db = tmp_path / "data" / "history.sqlite"
    with HistoryReader(db) as reader:
        study = reader.study("on-ray")
        assert study is not None
        trials = reader.trials(study.id)
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    # This machine's name (with the Ray node, where the core records it).
    assert all((t.host or "").startswith(socket.gethostname()) for t in trials)
    assert all(t.device and t.device.startswith("cpu") for t in trials)
    first, second = trials[0], trials[1]
    assert first.finished is not None and second.started is not None
    assert second.started < first.finished, "the first two trials ran at once"

    p = window.run.progress
    assert (p.parallel, p.finished, p.end_reason) == (2, 3, "budget") and not p.running
    window.status.refresh()
    assert window.status.trial.text() == "3/3 done"
    assert window.status.device.text().startswith("Ray, 1 node")
    table = window.live.table
    table.redraw()
    model = table.table_model
    row = model.row_of(trials[0].id)
    assert row is not None
    assert model.index(row, model.host_column).data() == trials[0].host
