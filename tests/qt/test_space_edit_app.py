"""Edit Search Space in the app: the dialog says what the edit changes and how many trials
would fall outside the new space, and continuing goes on with the same study (a stopped one
from the History tab, the window's paused run from the live tab); trials outside the space
are grey and italic in the trials table and say why in their tooltip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, TrialRow
from metagui.core.runner import StudyRunner
from metagui.qt._space_edit_dialog import SpaceEditDialog
from metagui.qt._worker import running_workers
from metagui.qt.main_window import MainWindow
from metagui.qt.panels._search_table import CHOICES, HIGH, LOW
from metagui.qt.views._trials_model import OUTSIDE_TIP, TRIAL_ID_ROLE

LR = "algorithm.inner_lr"
RUN_TIMEOUT_MS = 180_000


def spec(params: list[dict[str, Any]], trials: int = 3, name: str = "edit") -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "name": name,
            "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
            "model": {"hidden_sizes": [8]},
            "training": {"iterations": 3, "meta_batch_size": 2, "eval_every": 3,
                         "eval_tasks": 2, "test_tasks": 2, "log_every": 1},
            "search_space": {"params": params},
            "strategy": {"name": "random"},
            "budget": {"trials": trials},
            "device": "cpu",
            "seed": 1,
        }
    )  # fmt: skip


def lr(low: float, high: float) -> dict[str, Any]:
    return {"name": LR, "type": "float", "low": low, "high": high, "log": True}


def trial(number: int, value: float, state: str = "COMPLETE") -> TrialRow:
    return TrialRow(number + 1, 1, number, state, {LR: value}, 0.5, None, number, None, None,
                    None, None, None, False, None, number)  # type: ignore[arg-type]  # fmt: skip


def trials_of(db: Path, name: str = "edit") -> list[TrialRow]:
    with HistoryReader(db) as reader:
        study = reader.study(name)
        assert study is not None
        return reader.trials(study.id)


def notes_of(db: Path, name: str = "edit") -> str:
    with HistoryReader(db) as reader:
        study = reader.study(name)
        assert study is not None
        return study.notes or ""


def set_cell(dialog: SpaceEditDialog, row: int, column: int, text: str) -> None:
    """Edit a cell of the search-space table the way its editor commits it."""
    item = dialog.table.table.item(row, column)
    assert item is not None
    item.setText(text)


def drive_dialog(edit: Callable[[SpaceEditDialog], None], seen: list[str]) -> QTimer:
    """Once the (modal) dialog shows: make ``edit``, keep its summary in ``seen``, and
    continue the study."""
    timer = QTimer()
    timer.setInterval(50)

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SpaceEditDialog):
            return
        timer.stop()
        edit(dialog)
        seen.append(dialog.summary_text())
        dialog.continue_button.click()

    timer.timeout.connect(look)
    timer.start()
    return timer


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.is_running():
        win.run.stop_and_wait()
    win.close()


def wait_until_done(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.is_running(), timeout=RUN_TIMEOUT_MS)
    assert running_workers() == 0


# -- the dialog ---------------------------------------------------------------------------------


def test_the_dialog_says_what_changes_and_how_many_trials_fall_outside(qtbot: QtBot) -> None:
    stored = spec([lr(1e-3, 0.5)], trials=4)
    values = [0.002, 0.02, 0.05, 0.3]
    dialog = SpaceEditDialog("edit", stored, [trial(i, v) for i, v in enumerate(values)])
    qtbot.addWidget(dialog)
    # The budget is used up: one more round of the same size is offered.
    assert dialog.trials_box.value() == 8
    assert dialog.summary_text().splitlines()[:2] == ["Changes:", "• budget.trials 4 -> 8"]
    assert dialog.continue_button.isEnabled()

    set_cell(dialog, 0, LOW, "0.01")
    set_cell(dialog, 0, HIGH, "0.1")
    expected = sum(not 0.01 <= v <= 0.1 for v in values)
    assert dialog.outside_count() == expected == 2
    summary = dialog.summary_text()
    assert f"• {LR} range 0.001..0.5 log -> 0.01..0.1 log" in summary
    assert "2 of 4 trials would fall outside the new space." in summary
    assert dialog.new_spec().search_space.params[0].low == 0.01

    dialog.trials_box.setValue(4)
    assert not dialog.continue_button.isEnabled()
    assert "The budget is used up (4 of 4 trials done)" in dialog.summary_text()
    dialog.trials_box.setValue(6)
    set_cell(dialog, 0, HIGH, "lots")
    assert not dialog.continue_button.isEnabled()
    assert dialog.summary_text().startswith("Fix the search space first: ")
    set_cell(dialog, 0, HIGH, "0.5")
    set_cell(dialog, 0, LOW, "0.0015")
    assert dialog.continue_button.isEnabled()
    assert "All 4 trials lie inside the new space." in dialog.summary_text()


# -- continuing the study -------------------------------------------------------------------------


def test_editing_a_stopped_study_from_the_history_tab_continues_it(
    qtbot: QtBot, window: MainWindow
) -> None:
    db = window.run_database()
    db.parent.mkdir(parents=True, exist_ok=True)
    list(StudyRunner(spec([lr(1e-3, 0.5)]), db).run())
    values = {t.number: t.params[LR] for t in trials_of(db)}
    outside = sorted(n for n, v in values.items() if not 0.01 <= v <= 0.1)
    assert 0 < len(outside) < 3  # the seed gives both kinds
    assert window.open_history(db)
    assert window.space_edit_target() == (db, "edit")

    seen: list[str] = []

    def narrow(dialog: SpaceEditDialog) -> None:
        set_cell(dialog, 0, LOW, "0.01")
        set_cell(dialog, 0, HIGH, "0.1")

    timer = drive_dialog(narrow, seen)
    window.commands.edit_space.trigger()
    timer.stop()
    assert f"{len(outside)} of 3 trials would fall outside the new space." in seen[0]
    wait_until_done(qtbot, window)

    after = trials_of(db)
    assert len(after) == 6  # one more round of the used-up budget, in the same study
    assert [t.number for t in after if t.outside_space] == outside
    assert all(0.01 <= t.params[LR] <= 0.1 for t in after[3:])
    assert notes_of(db).count("search space edited") == 1

    # The live tab follows the continued study; its outside trials are grey and italic.
    window.model.refresh()
    model = window.live.table.table_model
    model.refresh()
    by_id = {t.id: t for t in after}
    styled = {}
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        t = by_id[model.data(index, TRIAL_ID_ROLE)]
        font = model.data(index, Qt.ItemDataRole.FontRole)
        grey = model.data(index, Qt.ItemDataRole.ForegroundRole) is not None
        tip = model.data(index, Qt.ItemDataRole.ToolTipRole) or ""
        styled[t.number] = (font is not None and font.italic(), grey, OUTSIDE_TIP in tip)
    assert styled == {n: (n in outside,) * 3 for n in range(6)}


def test_editing_the_paused_run_stops_it_and_continues_the_same_study(
    qtbot: QtBot, window: MainWindow
) -> None:
    iterations = {"name": "training.iterations", "type": "categorical", "choices": [100_000]}
    window.doc.reset(spec([iterations, lr(1e-3, 0.5)], trials=2, name="paused"))
    with qtbot.waitSignal(window.run.study_started, timeout=RUN_TIMEOUT_MS):
        window.start_run()
    qtbot.waitUntil(lambda: window.run.progress.step > 0, timeout=RUN_TIMEOUT_MS)
    # While it trains: not yet (the action is off, and the slot itself says to pause first).
    assert not window.commands.edit_space.isEnabled()
    window.edit_search_space()
    assert "Pause the run of “paused” first" in window.statusBar().currentMessage()
    assert not window.run.continuing and not window.run.paused
    window.toggle_pause()
    qtbot.waitUntil(lambda: window.run.paused, timeout=RUN_TIMEOUT_MS)
    assert window.commands.edit_space.isEnabled()
    db = window.run_database()
    assert window.space_edit_target() == (db, "paused")

    seen: list[str] = []
    timer = drive_dialog(lambda dialog: set_cell(dialog, 0, CHOICES, "3"), seen)
    window.commands.edit_space.trigger()
    timer.stop()
    assert "Continuing stops the paused run first" in seen[0]
    assert "1 of 1 trial would fall outside the new space." in seen[0]
    qtbot.waitUntil(lambda: window.run.progress.finished >= 2, timeout=RUN_TIMEOUT_MS)
    wait_until_done(qtbot, window)

    after = trials_of(db, "paused")
    # The interrupted trial is outside the new space: it is not run again.
    assert [(t.state, t.outside_space, t.params["training.iterations"]) for t in after] == [
        ("FAILED", True, 100_000),
        ("COMPLETE", False, 3),
        ("COMPLETE", False, 3),
    ]
    assert "interrupted" in (after[0].error or "")
    assert "training.iterations choices: added 3; removed 100000" in notes_of(db, "paused")
