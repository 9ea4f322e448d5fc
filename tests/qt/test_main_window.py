"""The main window: Run follows validity, files, undo, a real study end to end in the worker
thread, pause/resume/stop, closing while training, errors, and the trials table's actions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QMessageBox, QSpinBox
from pytestqt.qtbot import QtBot
from test_panels_support import field, type_into

from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment
from metagui.core.history import HistoryReader, TrialRow
from metagui.qt._settings import load_settings
from metagui.qt._worker import running_workers
from metagui.qt.error_dialog import ErrorDialog
from metagui.qt.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
SEARCH_EXAMPLE = ROOT / "resources" / "examples" / "sinusoid-search.yaml"
RUN_TIMEOUT_MS = 180_000


def tiny_spec(name: str = "tiny", trials: int = 2, iterations: int = 6) -> ExperimentSpec:
    """A sinusoid study that runs in seconds on a CPU."""
    return ExperimentSpec.model_validate(
        {
            "name": name,
            "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
            "model": {"hidden_sizes": [8]},
            "algorithm": {"name": "maml", "inner_steps": 1},
            "training": {
                "iterations": iterations,
                "meta_batch_size": 2,
                "eval_every": 3,
                "eval_tasks": 4,
                "test_tasks": 4,
                "log_every": 1,
            },
            "search_space": {
                "params": [
                    {
                        "name": "optimizer.lr",
                        "type": "float",
                        "low": 1e-3,
                        "high": 1e-2,
                        "log": True,
                    }
                ]
            },
            "strategy": {"name": "random"},
            "budget": {"trials": trials},
            "device": "cpu",
        }
    )


@pytest.fixture
def window(qtbot: QtBot) -> Any:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.is_running():
        win.run.stop_and_wait()
    win.close()


def db_trials(db: Path, study: str) -> list[TrialRow]:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None, f"no study {study!r} in {db}"
        return reader.trials(found.id)


def wait_until_done(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.is_running(), timeout=RUN_TIMEOUT_MS)
    assert running_workers() == 0


# -- the setup and the Run button ------------------------------------------------------------
def test_run_is_enabled_only_while_the_setup_is_valid(qtbot: QtBot, window: MainWindow) -> None:
    run = window.commands.run
    button = window.toolbar.widgetForAction(run)
    assert isinstance(button, QAbstractButton)
    assert run.isEnabled() and button.isEnabled()

    iterations = field(window.search_panel.training, "iterations")
    assert isinstance(iterations, QSpinBox)
    line = iterations.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "0")  # iterations must be >= 1: the field turns red
    assert not window.doc.is_valid
    assert not run.isEnabled() and not button.isEnabled()
    assert "iterations" in run.toolTip()
    window.start_run()  # a shortcut or a stale click does nothing either
    assert not window.is_running()

    line.selectAll()
    qtbot.keyClicks(line, "25")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert window.doc.is_valid and run.isEnabled() and button.isEnabled()
    assert window.doc.spec.training.iterations == 25

    window.doc.mark_invalid("somewhere", "bad text")
    assert not run.isEnabled()
    window.doc.mark_invalid("somewhere", None)
    assert run.isEnabled()


def test_undo_and_redo_come_from_the_document(window: MainWindow) -> None:
    undo, redo = window.commands.undo, window.commands.redo
    assert not undo.isEnabled() and not redo.isEnabled()
    assert not window.isWindowModified()
    assert window.doc.set_value("training.iterations", 42) is None
    assert undo.isEnabled() and window.isWindowModified()
    undo.trigger()
    assert window.doc.spec.training.iterations == ExperimentSpec().training.iterations
    assert redo.isEnabled() and not window.isWindowModified()
    redo.trigger()
    assert window.doc.spec.training.iterations == 42


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_open_save_reopen_is_the_same_experiment_and_recent_files_follow(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, suffix: str
) -> None:
    assert window.open_experiment(SEARCH_EXAMPLE)
    original = window.doc.spec
    assert original == load_experiment(SEARCH_EXAMPLE)  # the CLI's loader
    assert window.doc.set_value("budget.trials", 7) is None
    target = tmp_path / f"saved{suffix}"
    assert window.save_experiment_to(target)
    title = window.windowTitle()
    assert not window.isWindowModified() and f"{original.name} ({target.name})" in title
    saved = window.doc.spec

    other = MainWindow()
    qtbot.addWidget(other)
    assert other.open_experiment(target)
    assert other.doc.spec == saved
    assert saved == original.model_copy(update={"budget": saved.budget})
    assert saved.budget.trials == 7
    assert load_experiment(target) == saved
    other.close()

    window.commands.save.trigger()  # Save writes the same file again, no dialog
    assert load_experiment(target) == saved
    recent = load_settings()[0].recent_files
    assert recent[:2] == [str(target.resolve()), str(SEARCH_EXAMPLE.resolve())]
    window.commands.recent_menu.aboutToShow.emit()
    entries = [a.text() for a in window.commands.recent_menu.actions()]
    assert entries[:2] == recent[:2]


def test_save_and_open_dialogs_start_in_the_last_used_folder_never_the_current_one(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.chdir(tmp_path)
    starts: list[str] = []

    def cancelled(_parent: object, _title: str, start: str, *_: object) -> tuple[str, str]:
        starts.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", cancelled)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", cancelled)
    window.open_copy(SEARCH_EXAMPLE)  # untitled: no folder of its own
    assert not window.files.save_as()
    window.files.open_dialog()
    first_save, first_open = (Path(s) for s in starts)
    assert first_save.name == f"{window.doc.spec.name}.yaml"
    # Absolute folders (a relative name would open wherever the app was started), not cwd.
    assert first_save.is_absolute() and first_open.is_absolute()
    assert first_save.parent != tmp_path and first_open != tmp_path

    folder = tmp_path / "experiments"
    folder.mkdir()
    assert window.save_experiment_to(folder / "kept.yaml")
    assert window.settings.experiment_dir == str(folder.resolve())
    window.open_copy(SEARCH_EXAMPLE)
    starts.clear()
    assert not window.files.save_as()
    assert Path(starts[0]).parent == folder.resolve()


def test_a_file_that_does_not_load_is_reported_and_changes_nothing(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {iterations: -3}\n")
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    before = window.doc.spec
    assert not window.open_experiment(bad)
    assert window.doc.spec == before and window.doc.path is None
    assert shown and "iterations" in shown[0]


def test_new_asks_before_dropping_unsaved_edits(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert window.doc.set_value("training.iterations", 42) is None
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    window.commands.new.trigger()
    assert window.doc.spec.training.iterations == 42  # cancelled
    window.commands.new.trigger()
    assert window.doc.spec == ExperimentSpec() and not answers


# -- a real study, end to end -----------------------------------------------------------------
def test_a_study_set_up_in_the_panels_runs_and_fills_the_plots_and_the_table(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    search, strategy = window.search_panel, window.strategy_panel
    type_into(qtbot, field(strategy.experiment, "name"), "e2e")
    training = {
        "iterations": 6,
        "meta_batch_size": 2,
        "eval_every": 3,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 1,
    }
    for name, value in training.items():
        spin = field(search.training, name)
        assert isinstance(spin, QSpinBox)
        spin.setValue(value)
    type_into(qtbot, field(search.model, "hidden_sizes"), "8")
    combo = field(strategy.strategy, "name")
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("random"))
    strategy.budget.limit_trials.setChecked(True)
    strategy.budget.trials.setValue(3)
    strategy.device.combo.setCurrentText("cpu")
    qtbot.mouseClick(search.search_space.add_button, Qt.MouseButton.LeftButton)

    spec = window.doc.spec
    assert spec.name == "e2e" and spec.device == "cpu" and spec.strategy.name == "random"
    assert spec.training.model_dump(include=set(training)) == training
    assert spec.model.hidden_sizes == [8] and spec.budget.trials == 3
    assert [p.name for p in spec.search_space.params] == ["optimizer.lr"]
    assert window.doc.is_valid

    with qtbot.waitSignal(window.run.study_started, timeout=RUN_TIMEOUT_MS):
        window.commands.run.trigger()
    wait_until_done(qtbot, window)

    db = tmp_path / "data" / "history.sqlite"  # METAGUI_DATA_DIR of the test
    trials = db_trials(db, "e2e")
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    study_id = trials[0].study_id
    assert window.model.path == db and window.live.study_id == study_id

    # the trials table shows exactly the database's trials
    table = window.live.table
    table.redraw()
    assert sorted(table.trial_ids_in_view_order()) == [t.id for t in trials]
    for trial in trials:
        row = table.table_model.row_of(trial.id)
        assert row is not None
        shown = table.table_model.trial_at(row)
        assert shown is not None
        assert (shown.number, shown.state, shown.value) == (trial.number, trial.state, trial.value)

    # the plots hold the run's data
    plots = window.live.plots
    for view in plots.values():
        view.redraw()
    loss = plots["loss"]
    assert loss.visible_curves("train") == {t.id for t in trials}
    for trial in trials:  # one faint curve each, every logged step a bucket's low and high
        drawn = loss.bundles["train"].curve(trial.id)
        assert drawn is not None and len(set(drawn[0])) == 6
    best = plots["best_so_far"]
    xs, ys = best.curve.getData()
    best_value = min(t.value for t in trials if t.value is not None)
    assert xs is not None and len(xs) > 0 and ys[-1] == pytest.approx(best_value)

    # the status bar read-out
    status = window.status
    status.refresh()
    assert status.trial.text() == "3/3 done"
    assert f"{best_value:.4g}" in status.best.text()
    assert status.device.text().startswith("cpu")
    assert status.state.text() == "Ended (budget)"
    assert window.commands.run.isEnabled() and not window.commands.stop.isEnabled()


def start_long_run(qtbot: QtBot, window: MainWindow, name: str) -> None:
    """A study whose first trial trains long enough to be paused and stopped in."""
    window.doc.reset(tiny_spec(name, trials=3, iterations=100_000))
    with qtbot.waitSignal(window.run.study_started, timeout=RUN_TIMEOUT_MS):
        window.start_run()
    qtbot.waitUntil(lambda: window.run.progress.step > 0, timeout=RUN_TIMEOUT_MS)
    commands = window.commands
    assert window.is_running() and not commands.run.isEnabled()
    assert commands.stop.isEnabled() and commands.pause.isEnabled() and commands.prune.isEnabled()


def test_the_title_names_the_experiment_and_the_running_study(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.open_copy(ROOT / "resources" / "examples" / "demo-study.yaml")
    assert window.windowTitle() == "demo-study (not saved)[*] — metagui"
    start_long_run(qtbot, window, "titled")
    study = window.run.progress.study
    assert study.startswith("titled")
    assert window.windowTitle() == f"titled (not saved)[*] · study “{study}” running — metagui"
    window.toggle_pause()
    qtbot.waitUntil(lambda: window.run.paused, timeout=RUN_TIMEOUT_MS)
    assert window.windowTitle().endswith(f"study “{study}” paused — metagui")
    window.stop_run()
    wait_until_done(qtbot, window)
    assert window.windowTitle() == "titled (not saved)[*] — metagui"


def test_pause_resume_and_stop_mid_run(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    start_long_run(qtbot, window, "controls")
    pause = window.commands.pause
    with qtbot.waitSignal(window.run.paused_changed):
        pause.trigger()
    assert window.run.paused and pause.text() == "&Resume"
    assert not window.commands.prune.isEnabled()
    qtbot.wait(300)  # reports already on their way arrive
    held = window.run.progress.step
    qtbot.wait(600)
    assert window.run.progress.step == held, "training went on while paused"
    window.status.refresh()
    assert window.status.state.text() == "Paused"

    with qtbot.waitSignal(window.run.paused_changed):
        pause.trigger()
    assert not window.run.paused and pause.text() == "&Pause"
    qtbot.waitUntil(lambda: window.run.progress.step > held, timeout=RUN_TIMEOUT_MS)

    window.commands.stop.trigger()
    wait_until_done(qtbot, window)
    trials = db_trials(tmp_path / "data" / "history.sqlite", "controls")
    assert len(trials) == 1
    assert trials[0].state == "FAILED" and "interrupted" in (trials[0].error or "")
    table = window.live.table  # the failed trial is in the table, as in the database
    table.redraw()
    shown = table.table_model.trial_at(table.table_model.row_of(trials[0].id) or 0)
    assert shown is not None and (shown.id, shown.state) == (trials[0].id, "FAILED")
    with HistoryReader(tmp_path / "data" / "history.sqlite") as reader:
        study = reader.study("controls")
        assert study is not None and study.status == "stopped"
    assert window.run.progress.end_reason == "stopped"


def test_prune_ends_the_running_trial_and_the_study_goes_on(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    start_long_run(qtbot, window, "pruning")
    window.commands.prune.trigger()
    qtbot.waitUntil(lambda: window.run.progress.finished >= 1, timeout=RUN_TIMEOUT_MS)
    window.commands.stop.trigger()
    wait_until_done(qtbot, window)
    trials = db_trials(tmp_path / "data" / "history.sqlite", "pruning")
    assert trials[0].state == "PRUNED" and trials[0].pruned_reason == "pruned by hand"


def test_closing_while_training_asks_then_stops_cleanly(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    start_long_run(qtbot, window, "closing")
    questions: list[str] = []
    answer = QMessageBox.StandardButton.No

    def ask(*args: Any, **_: Any) -> QMessageBox.StandardButton:
        questions.append(args[1])
        return answer

    monkeypatch.setattr(QMessageBox, "question", ask)
    assert not window.close()  # "No": the window stays and trains on
    assert questions == ["Stop the run?"] and window.isVisible() and window.is_running()

    answer = QMessageBox.StandardButton.Yes
    assert window.close()
    assert len(questions) == 2 and not window.isVisible()
    assert not window.is_running() and running_workers() == 0
    db = tmp_path / "data" / "history.sqlite"
    trials = db_trials(db, "closing")
    assert [t.state for t in trials] == ["FAILED"]
    assert "interrupted" in (trials[0].error or "")
    with HistoryReader(db) as reader:  # consistent: readable, nothing left running
        study = reader.study("closing")
        assert study is not None and study.status == "stopped"
        assert reader.studies()[0].counts["RUNNING"] == 0


def test_an_exception_in_the_worker_shows_the_error_dialog_and_the_app_goes_on(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metagui.core.runner import StudyRunner

    shown: list[ErrorDialog] = []
    monkeypatch.setattr(ErrorDialog, "exec", lambda self: shown.append(self) or 0)
    real_run = StudyRunner.run

    def broken(self: StudyRunner) -> Any:
        yield from ()
        raise RuntimeError("the history disk is on fire")

    monkeypatch.setattr(StudyRunner, "run", broken)
    window.doc.reset(tiny_spec("broken", trials=1))
    window.start_run()
    wait_until_done(qtbot, window)
    assert len(shown) == 1
    assert "RuntimeError: the history disk is on fire" in shown[0].text()
    assert "Traceback" in shown[0].detailedText() and "broken" in shown[0].detailedText()

    # the app keeps working: the next run is a normal one
    monkeypatch.setattr(StudyRunner, "run", real_run)
    assert window.commands.run.isEnabled()
    window.doc.reset(tiny_spec("after-the-error", trials=1))
    window.commands.run.trigger()
    wait_until_done(qtbot, window)
    assert [
        t.state for t in db_trials(tmp_path / "data" / "history.sqlite", "after-the-error")
    ] == ["COMPLETE"]
    assert len(shown) == 1


# -- the trials table's actions -----------------------------------------------------------------
def test_trial_actions_exclude_rerun_and_export(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metagui.qt.export_dialog import ExportDialog

    db = tmp_path / "data" / "history.sqlite"
    window.doc.reset(tiny_spec("actions", trials=2))
    window.start_run()
    wait_until_done(qtbot, window)
    first, second = db_trials(db, "actions")
    table = window.live.table

    # exclude, and include again, written to the database at once (no run is on)
    table.exclude_requested.emit(first.id, True)
    assert db_trials(db, "actions")[0].excluded
    assert window.model.studies[first.study_id].trials[first.id].excluded
    table.exclude_requested.emit(first.id, False)
    assert not db_trials(db, "actions")[0].excluded

    # export opens the dialog on that trial
    opened: list[tuple[str, int | None]] = []
    monkeypatch.setattr(ExportDialog, "exec", lambda self: opened.append((self.study, self.trial)))
    table.export_requested.emit(second.id)
    assert opened == [("actions", second.number)]

    # re-run: the experiment becomes that trial's settings, one trial, and runs
    table.rerun_requested.emit(second.id)
    spec = window.doc.spec
    assert spec.name == f"actions-trial{second.number}"
    assert spec.search_space.params == [] and spec.budget.trials == 1
    assert spec.optimizer.lr == second.params["optimizer.lr"] and spec.seed == second.seed
    assert window.is_running()
    wait_until_done(qtbot, window)
    rerun = db_trials(db, f"actions-trial{second.number}")
    assert [t.state for t in rerun] == ["COMPLETE"]
    assert rerun[0].value == pytest.approx(second.value)  # the same trial, reproduced
    window.doc.undo_stack.undo()  # one undo brings the search back
    assert window.doc.spec == tiny_spec("actions", trials=2)


def test_exclusions_asked_for_during_a_run_wait_for_its_end(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    db = tmp_path / "data" / "history.sqlite"
    window.doc.reset(tiny_spec("earlier", trials=1))
    window.start_run()
    wait_until_done(qtbot, window)
    (earlier,) = db_trials(db, "earlier")
    start_long_run(qtbot, window, "busy")
    window.live.set_study(earlier.study_id)
    window.live.table.exclude_requested.emit(earlier.id, True)
    assert not db_trials(db, "earlier")[0].excluded  # queued: the run writes this file
    assert "when the run ends" in window.statusBar().currentMessage()
    window.stop_run()
    wait_until_done(qtbot, window)
    assert db_trials(db, "earlier")[0].excluded


# -- garbage collection stays in the GUI thread ------------------------------------------------
def test_garbage_is_collected_in_the_gui_thread_while_the_collector_runs() -> None:
    """A collection in a worker thread (the runner calls ``gc.collect()`` between trials) must
    not free anything there: freed Qt wrappers destroy their objects in that thread."""
    import gc
    import threading

    from metagui.qt._gc import GuiThreadGarbageCollector

    finalized: list[int] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            finalized.append(threading.get_ident())

    was_enabled = gc.isenabled()
    collector = GuiThreadGarbageCollector()
    collector.start()
    try:
        assert gc.isenabled() == was_enabled  # the GUI thread keeps collecting as usual

        def work() -> None:
            Cycle()
            gc.collect()

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        assert finalized == []  # the worker's collection freed nothing
        collector.check()
        assert finalized == [threading.get_ident()]  # the GUI thread's did
    finally:
        collector.stop()
        collector.deleteLater()
    assert gc.isenabled() == was_enabled and gc.get_freeze_count() == 0


def test_while_a_worker_thread_runs_the_gui_thread_collects_in_its_place() -> None:
    """Inside ``worker_thread()`` automatic collection is off; the collector's check collects
    the young garbage in the GUI thread, and turns automatic collection back on once the last
    worker has left."""
    import gc
    import threading

    from metagui.qt._gc import GuiThreadGarbageCollector, worker_thread

    finalized: list[int] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            finalized.append(threading.get_ident())

    inside, leave = threading.Event(), threading.Event()

    def work() -> None:
        with worker_thread():
            for _ in range(3 * gc.get_threshold()[0]):  # enough for a young collection
                Cycle()
            inside.set()
            leave.wait(30)

    assert gc.isenabled()
    collector = GuiThreadGarbageCollector()
    collector.start()
    worker = threading.Thread(target=work)
    try:
        worker.start()
        assert inside.wait(30)
        assert not gc.isenabled()  # off while the worker runs
        assert finalized == []  # and so nothing was collected in the worker
        assert collector.collect_young() in (0, 1, 2)  # as many objects as that: collected
        assert len(finalized) == 3 * gc.get_threshold()[0]
        assert set(finalized) == {threading.get_ident()}  # all in the GUI thread
        collector.check()
        assert not gc.isenabled()  # the worker is still inside
        leave.set()
        worker.join()
        collector.check()
        assert gc.isenabled()  # back on once no worker runs
    finally:
        leave.set()
        worker.join()
        collector.stop()
        collector.deleteLater()
    assert gc.isenabled() and gc.get_freeze_count() == 0


# -- opening fast ------------------------------------------------------------------------------
def test_importing_the_main_window_imports_neither_torch_nor_optuna(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "import metagui.qt.main_window, metagui.qt.app, metagui.qt.panels, metagui.qt.views\n"
        "heavy = ('torch', 'optuna', 'nevergrad', 'scipy', 'ray')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
        "from metagui.qt.app import create_application\n"
        "app = create_application()\n"
        "window = metagui.qt.main_window.MainWindow()  # built, not yet shown\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    env = {
        **os.environ,
        "METAGUI_CONFIG_DIR": str(tmp_path / "config"),
        "METAGUI_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    after_import, after_window = done.stdout.splitlines()
    assert after_import == "", f"imported at module level: {after_import}"
    assert after_window == "", f"imported to build the window: {after_window}"


def test_show_setup_brings_that_setup_tab_to_the_front(window: MainWindow) -> None:
    tabs = window.setup_tabs
    for page, panel in (
        ("strategy", window.strategy_panel),
        ("search", window.search_panel),
        ("taskset", window.taskset_panel),
    ):
        window.show_setup(page)
        current = tabs.currentWidget()
        assert current is not None and current.isAncestorOf(panel)
