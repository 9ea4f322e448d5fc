"""Parallel trials in the app: the run's progress with several trials in flight, the status
bar's read-out, pausing (no new trials on Ray; the generator held in process), pruning the
selected running trial, and the trials table and loss plot with several running trials.

The reports are made by hand and fed to the controller: no Ray here (one end-to-end test of a
real parallel study lives in ``test_run_ray.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, History

from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryWriter
from metagui.core.reports import EvalResult, StepReport, Tick
from metagui.core.runner import (
    StudyEnded,
    StudyRunner,
    StudyStarted,
    TrialEnded,
    TrialPlaced,
    TrialStarted,
    TrialStep,
)
from metagui.qt._history_model import HistoryModel
from metagui.qt._run_controller import RunController, RunningTrial, RunProgress
from metagui.qt._status import trials_text, where_text
from metagui.qt.main_window import MainWindow
from metagui.qt.views import LossPlot, TrialsTable

WHERE = "Ray, 1 node, 4 CPUs"
CPU = "cpu (x86_64, 1 thread)"


def spec(parallel: int | None) -> ExperimentSpec:
    """A tiny sinusoid search; ``parallel`` None: no execution section (one at a time)."""
    data: dict[str, Any] = {
        "name": "wide",
        "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
        "model": {"hidden_sizes": [8]},
        "training": {"iterations": 100, "meta_batch_size": 2, "eval_every": 50},
        "search_space": {
            "params": [{"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2}]
        },
        "strategy": {"name": "random"},
        "budget": {"trials": 12},
        "device": "cpu",
    }
    if parallel is not None:
        data["execution"] = {"parallel": parallel}
    return ExperimentSpec.model_validate(data)


# -- hand-made reports ---------------------------------------------------------------------------
def started(parallel: int = 3, planned: int = 12, db: str = "/nowhere.sqlite") -> StudyStarted:
    return StudyStarted("wide", 1, db, False, "minimize", planned, 0, 0, None, parallel, WHERE)


def step(number: int, at: int, total: int = 100, training_s: float = 0.0) -> TrialStep:
    validation = EvalResult("mse", (1.0, 0.5), (0.1, 0.05), 4) if at % 50 == 0 else None
    report = StepReport(
        at,
        total,
        train_loss=1.0 / at,
        train_accuracy=None,
        validation=validation,
        tasks_per_s=100.0 + number,
        elapsed_s=training_s,
    )
    return TrialStep(number, 100 + number, report)


def ended(number: int, value: float = 0.5) -> TrialEnded:
    return TrialEnded(
        number, 100 + number, "COMPLETE", value, value, None, None, None, 10.0, number, value
    )


def placed(number: int, host: str = "node-a", device: str = CPU) -> TrialPlaced:
    return TrialPlaced(number, 100 + number, host, device, 4000 + number)


def trial_started(number: int, retry_of: int | None = None) -> TrialStarted:
    return TrialStarted(number, 100 + number, {"optimizer.lr": 0.001}, number, retry_of)


def feed(controller: RunController, *reports: object) -> None:
    for report in reports:
        controller._on_report(report)


def three_in_flight(controller: RunController, db: str = "/nowhere.sqlite") -> RunProgress:
    """Trials 0, 1, 2 start on Ray; their reports interleave; trial 1 ends; trial 3 starts."""
    feed(
        controller,
        started(db=db),
        trial_started(0),
        trial_started(1),
        placed(0),
        trial_started(2),
        step(0, 10, training_s=5.0),
        placed(2, host="node-b"),
        step(2, 10, training_s=5.0),
        placed(1),
        step(0, 20, training_s=10.0),
        step(1, 90, training_s=45.0),
        step(2, 20, training_s=10.0),
        step(1, 100, training_s=50.0),
        ended(1),
        trial_started(3),
        placed(3),
        step(0, 50, training_s=25.0),
    )
    return controller.progress


# -- the run's progress --------------------------------------------------------------------------
def test_progress_follows_interleaved_reports_of_three_trials(qtbot: QtBot) -> None:
    controller = RunController()
    ended_reports: list[object] = []
    controller.trial_ended.connect(ended_reports.append)
    p = three_in_flight(controller)
    assert (p.parallel, p.where, p.planned_trials) == (3, WHERE, 12)
    assert sorted(p.running) == [0, 2, 3] and p.finished == 1
    assert [e.number for e in ended_reports] == [1]  # type: ignore[attr-defined]
    assert (p.running[0].step, p.running[2].step, p.running[3].step) == (50, 20, 0)
    assert p.running[2].host == "node-b" and p.running[3].device == CPU
    assert p.hosts() == ["node-a", "node-b"] and p.devices() == [CPU]
    assert p.trials_done() == pytest.approx(1 + 0.5 + 0.2 + 0.0)
    assert p.tasks_per_s == pytest.approx(100.0 + 102.0)  # trial 3 has not reported yet
    assert p.step == 0 and p.newest() is p.running[3]  # the newest trial's step

    # 1.7 trials done in 100 s: 61.2 trials an hour, 10.3 to go.
    p.started_at = 1000.0  # the controller was not started: its clock is set here
    now = p.started_at + 100.0
    assert p.trials_per_hour(now) == pytest.approx(3600 * 1.7 / 100)
    eta = p.eta_s(now)
    assert eta is not None and np.isfinite(eta)
    assert eta == pytest.approx(10.3 * 100 / 1.7)

    feed(controller, StudyEnded("wide", "budget", 1, 0.5, {"COMPLETE": 12}))
    assert not p.running and p.end_reason == "budget"


def test_the_eta_waits_for_the_slowest_running_trial() -> None:
    p = RunProgress(planned_trials=3, started_at=0.0, parallel=3)
    p.running = {
        0: RunningTrial(0, step=90, total_steps=100, training_s=90.0),
        1: RunningTrial(1, step=90, total_steps=100, training_s=90.0),
        2: RunningTrial(2, step=10, total_steps=100, training_s=10.0),  # started late
    }
    # The throughput says 1.1 trials' worth in 58 s; trial 2 alone needs 90 s more.
    assert p.eta_s(now=100.0) == pytest.approx(90.0)
    serial = RunProgress(planned_trials=4, started_at=0.0, finished=1)
    serial.running = {1: RunningTrial(1, step=50, total_steps=100, training_s=50.0)}
    assert serial.eta_s(now=150.0) == pytest.approx(2.5 * 150 / 1.5)


def test_a_lost_trial_run_again_does_not_use_up_the_budget(qtbot: QtBot) -> None:
    controller = RunController()
    feed(controller, started(2, planned=4), trial_started(0), trial_started(1))
    lost = TrialEnded(
        1, 101, "FAILED", None, None, "worker lost on node-b", None, None, 3.0, None, None
    )
    feed(controller, lost, trial_started(2, retry_of=1))
    p = controller.progress
    assert p.finished == 1 and p.retried == 1 and p.counted() == 0
    assert trials_text(p, running=True)[0] == "2 running, 0/4 done"


# -- the status bar's read-out -------------------------------------------------------------------
def test_status_text_of_a_parallel_run(qtbot: QtBot) -> None:
    p = three_in_flight(RunController())
    text, tip = trials_text(p, running=True)
    assert text == "3 running, 1/12 done"
    assert "trial 0: step 50 of 100" in tip and "3 trials at once" in tip
    where, where_tip = where_text(p)
    assert where == f"{WHERE} · cpu"
    assert "trial 2: node-b, cpu" in where_tip
    assert trials_text(p, running=False)[0] == "1/12 done"


def test_status_text_while_launching_is_paused(qtbot: QtBot) -> None:
    p = three_in_flight(RunController())
    assert trials_text(p, running=True, paused=True)[0] == (
        "no new trials start; 3 running finish · 1/12 done"
    )
    del p.running[0], p.running[2]
    assert trials_text(p, running=True, paused=True)[0] == (
        "no new trials start; 1 running finishes · 1/12 done"
    )
    p.running.clear()
    assert trials_text(p, running=True, paused=True)[0] == (
        "no new trials start; none running · 1/12 done"
    )


def test_status_text_of_a_serial_run_names_the_trial_as_the_table_does() -> None:
    p = RunProgress(planned_trials=40, finished=3, device=CPU, where="in process")
    p.running = {3: RunningTrial(3, step=20, total_steps=50)}
    assert trials_text(p, running=True)[0] == "Trial 3 · step 20/50 · 3/40 done"
    assert trials_text(p, running=False)[0] == "3/40 done"
    assert where_text(p)[0] == CPU


# -- pausing and pruning with a real runner (its study replaced by an idle generator) -----------
def idle_study(ticks: list[float]) -> Callable[..., Generator[Any, None, None]]:
    """A stand-in for ``StudyRunner.run`` that only yields, recording each resumption."""

    def run(executor: object = None) -> Generator[Any, None, None]:
        while True:
            ticks.append(time.monotonic())
            time.sleep(0.005)
            yield Tick(0)

    return run


@pytest.fixture
def idle_runner(tmp_path: Path) -> Callable[[int | None], tuple[StudyRunner, list[float]]]:
    def make(parallel: int | None) -> tuple[StudyRunner, list[float]]:
        runner = StudyRunner(spec(parallel), tmp_path / "run.sqlite")
        ticks: list[float] = []
        runner.run = idle_study(ticks)  # type: ignore[method-assign]
        return runner, ticks

    return make


@pytest.fixture
def controller(qtbot: QtBot) -> Iterator[RunController]:
    run = RunController()
    yield run
    assert run.stop_and_wait(30_000)


def held(qtbot: QtBot, ticks: list[float]) -> bool:
    """Whether the worker's generator stays where it is for a while."""
    qtbot.wait(150)  # a resumption already under way completes
    before = len(ticks)
    qtbot.wait(300)
    return len(ticks) == before


def test_pause_in_a_parallel_run_stops_launching_and_keeps_the_driver_going(
    qtbot: QtBot, controller: RunController, idle_runner: Any
) -> None:
    runner, ticks = idle_runner(2)
    assert runner.parallel == 2
    controller.start_runner(runner)
    qtbot.waitUntil(lambda: len(ticks) > 0, timeout=60_000)
    feed(controller, started(2), trial_started(0), trial_started(1))
    assert controller.on_ray
    with qtbot.waitSignal(controller.paused_changed) as paused:
        controller.pause()
    assert paused.args == [True] and controller.paused
    assert runner.launching_paused and controller.progress.launching_paused
    assert controller._worker is not None and not controller._worker.paused
    assert not held(qtbot, ticks), "the driver must go on taking the running trials' reports"
    assert controller.can_prune()  # two trials still train
    p = controller.progress
    assert p.paused_at is None  # the clock runs while trials train
    feed(controller, ended(0), ended(1))
    assert p.paused_at is not None and not controller.can_prune()  # nothing trains now

    with qtbot.waitSignal(controller.paused_changed) as resumed:
        controller.resume()
    assert resumed.args == [False] and not controller.paused and not runner.launching_paused
    assert p.paused_at is None and p.paused_s > 0


def test_pause_in_a_serial_run_holds_the_generator(
    qtbot: QtBot, controller: RunController, idle_runner: Any
) -> None:
    runner, ticks = idle_runner(None)
    controller.start_runner(runner)
    qtbot.waitUntil(lambda: len(ticks) > 0, timeout=60_000)
    assert not controller.on_ray
    with qtbot.waitSignal(controller.paused_changed):
        controller.pause()
    assert controller.paused and not runner.launching_paused
    assert held(qtbot, ticks)
    with qtbot.waitSignal(controller.paused_changed):
        controller.resume()
    qtbot.waitUntil(lambda: not held(qtbot, ticks), timeout=5_000)


def test_the_status_bar_says_launching_is_paused(
    qtbot: QtBot, idle_runner: Any, tmp_path: Path
) -> None:
    db = tmp_path / "run.sqlite"  # the window follows the history the run reports
    HistoryWriter(db).close()
    window = MainWindow(restore=False)
    window.persist_settings = False
    qtbot.addWidget(window)
    try:
        runner, ticks = idle_runner(3)
        window.run.start_runner(runner)
        qtbot.waitUntil(lambda: len(ticks) > 0, timeout=60_000)
        p = three_in_flight(window.run, str(db))
        window.status.refresh()
        assert window.status.state.text() == "Running"
        assert window.status.trial.text() == "3 running, 1/12 done"
        assert window.status.device.text() == f"{WHERE} · cpu"
        assert "ETA" in window.status.time.text()
        assert "trials/h" in window.status.speed.text()
        window.commands.pause.trigger()
        assert window.status.state.text() == "Paused"
        assert window.status.trial.text() == "no new trials start; 3 running finish · 1/12 done"
        assert window.commands.prune.isEnabled() and window.commands.pause.text() == "&Resume"
        for number in list(p.running):
            feed(window.run, ended(number))
        assert not window.commands.prune.isEnabled()  # nothing left to prune
    finally:
        assert window.run.stop_and_wait(30_000)
        window.close()


def test_prune_acts_on_the_selected_running_trial(
    qtbot: QtBot, history: History, idle_runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    history.start(8, dict(TRIALS[1][2]))  # trials 7 and 8 run at once
    history.writer.flush()
    window = MainWindow(restore=False)
    window.persist_settings = False
    qtbot.addWidget(window)
    try:
        window.model.open(history.path)
        window.live.set_study(history.study_id)
        runner, ticks = idle_runner(2)
        pruned: list[int | None] = []
        monkeypatch.setattr(runner, "request_prune", pruned.append)
        window.run.start_runner(runner)
        qtbot.waitUntil(lambda: len(ticks) > 0, timeout=60_000)
        feed(window.run, started(2, db=str(history.path)), trial_started(7), trial_started(8))
        table = window.live.table

        table.select_trial(history.ids[8])
        assert window.prune_target() == 8
        window.commands.prune.trigger()
        table.select_trial(history.ids[5])  # a finished trial: every running one
        window.commands.prune.trigger()
        table.select_trial(None)
        window.commands.prune.trigger()
        assert pruned == [8, None, None]
        assert "2 running trials" in window.statusBar().currentMessage()
    finally:
        assert window.run.stop_and_wait(30_000)
        window.close()


# -- several running trials in the views ----------------------------------------------------------
def two_running(history: History, model: HistoryModel) -> None:
    """Trial 8 starts next to trial 7; each is placed on its own host."""
    history.start(8, dict(TRIALS[1][2]))
    history.write_steps(8, 200)
    history.writer.set_trial_placement(history.ids[7], "node-a", CPU)
    history.writer.set_trial_placement(history.ids[8], "node-b", "cuda:0 (NVIDIA H200)")
    history.writer.flush()
    assert model.poll()


def test_the_trials_table_shows_host_device_and_several_running_rows(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    two_running(history, model)
    table = TrialsTable(model)
    qtbot.addWidget(table)
    table.show()
    table.set_study(history.study_id)
    table.redraw()
    m = table.table_model
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert headers[-3:] == ["Host", "Device", "Error / why pruned"]
    rows = {n: m.row_of(history.ids[n]) for n in (0, 7, 8)}
    cells = {
        n: (m.index(r, m.host_column).data(), m.index(r, m.device_column).data())
        for n, r in rows.items()
        if r is not None
    }
    assert cells[7] == ("node-a", CPU) and cells[8] == ("node-b", "cuda:0 (NVIDIA H200)")
    assert cells[0] == ("", "")  # recorded before hosts were
    assert "node-b" in m.index(rows[8] or 0, m.host_column).data(Qt.ItemDataRole.ToolTipRole)
    table.set_state_filter("Running")
    assert table.trial_ids_in_view_order() == [history.ids[7], history.ids[8]]


def test_the_loss_plot_draws_every_running_trial_bold(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    two_running(history, model)
    view = LossPlot(model)
    qtbot.addWidget(view)
    view.show()
    view.set_study(history.study_id)
    view.redraw()
    study = model.studies[history.study_id]
    assert [t.number for t in view.focus_trials()] == [7, 8]
    bold = [c for c in view.bold_curves["train"] if c.yData is not None and len(c.yData)]
    assert len(bold) == 2
    for curve, number in zip(bold, (7, 8), strict=True):
        series = study.metrics[history.ids[number]]["train/loss"]
        np.testing.assert_array_equal(curve.yData, series.values)
    assert bold[0].opts["pen"].color() != bold[1].opts["pen"].color()
    legend = [label.text for _, label in view.plots["train"].legend.items]
    assert legend == ["trial 7 (running)", "trial 8 (running)"]

    view.set_trial(history.ids[3])  # a selected trial is the only bold one
    view.redraw()
    bold = [c for c in view.bold_curves["train"] if c.yData is not None and len(c.yData)]
    assert len(bold) == 1
    legend = [label.text for _, label in view.plots["train"].legend.items]
    assert legend == ["trial 3 (selected)"]
