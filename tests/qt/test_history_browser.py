"""The history browser: studies of any history database, a live one written by another process
included, with their trials and plots, and a comparison of several studies."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader
from metagui.core.runner import StudyRunner
from metagui.qt.history_browser import HistoryBrowser

LEARNING_RATE = {"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2, "log": True}
TINY = {
    "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
    "model": {"hidden_sizes": [8]},
    "training": {
        "iterations": 4,
        "meta_batch_size": 2,
        "eval_every": 2,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 1,
    },
    "search_space": {
        "params": [
            {"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2, "log": True}
        ]
    },
    "strategy": {"name": "random"},
    "budget": {"trials": 2},
    "device": "cpu",
}


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("browser") / "history.sqlite"
    for name, strategy in (("alpha", "random"), ("beta", "tpe")):
        spec = ExperimentSpec.model_validate({**TINY, "name": name, "strategy": {"name": strategy}})
        for _ in StudyRunner(spec, db).run():
            pass
    return db


@pytest.fixture
def browser(qtbot: QtBot) -> Iterator[HistoryBrowser]:
    widget = HistoryBrowser()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    yield widget
    widget.close_database()
    widget.close()


def cell(browser: HistoryBrowser, row: int, column: int) -> str:
    item = browser.studies.item(row, column)
    assert item is not None
    return item.text()


def test_the_studies_are_listed_newest_first_with_their_counts(
    browser: HistoryBrowser, two_studies: Path
) -> None:
    assert browser.open(two_studies)
    assert browser.path_label.text() == str(two_studies)
    assert browser.studies.rowCount() == 2
    assert [cell(browser, r, 0) for r in range(2)] == ["beta", "alpha"]
    assert [cell(browser, r, 1) for r in range(2)] == ["tpe", "random"]
    with HistoryReader(two_studies) as reader:
        summaries = {s.name: s for s in reader.studies()}
    for row in range(2):
        s = summaries[cell(browser, row, 0)]
        assert cell(browser, row, 2) == "finished"
        assert cell(browser, row, 3) == f"{s.best_value:.4g} ↓"
        assert cell(browser, row, 4) == "2" and cell(browser, row, 5) == "2"
    # the newest study is selected and shown in the plots and the trials table
    assert browser.selected_study_ids() == [summaries["beta"].id]
    assert browser.views.study_id == summaries["beta"].id
    table = browser.views.table
    table.redraw()
    with HistoryReader(two_studies) as reader:
        expected = [t.id for t in reader.trials(summaries["beta"].id)]
    assert sorted(table.trial_ids_in_view_order()) == expected


def test_selecting_two_studies_compares_them(
    qtbot: QtBot, browser: HistoryBrowser, two_studies: Path
) -> None:
    assert browser.open(two_studies)
    beta, alpha = browser.study_ids()
    browser.studies.selectRow(1)
    assert browser.selected_study_ids() == [alpha] and browser.views.study_id == alpha
    assert browser.views.compared == [alpha]
    first = browser.studies.visualItemRect(browser.studies.item(0, 0)).center()
    qtbot.mouseClick(
        browser.studies.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        first,
    )
    assert sorted(browser.selected_study_ids()) == sorted([alpha, beta])
    assert sorted(browser.views.compared) == sorted([alpha, beta])
    assert browser.views.tabs.currentWidget() is browser.views.compare
    compare = browser.views.compare
    assert compare is not None
    compare.redraw()
    assert sorted(s.summary.id for s in compare.studies()) == sorted([alpha, beta])
    # The table of the compared studies, side by side, in the order of the list.
    table = browser.views.comparison_table
    assert table is not None
    browser.views.tabs.setCurrentWidget(table)
    table.redraw()
    assert table.comparison is not None
    assert set(table.comparison.studies) == {"alpha", "beta"}
    assert table.comparison.row("Strategy").differs  # random against tpe
    # A table is no plot: the plots exported as pictures leave it out.
    assert "compare_table" not in list(browser.views.plots)
    assert "compare_importance" in list(browser.views.plots)
    browser.select_studies([beta])
    assert table.study_ids == [beta] and compare.study_ids == [beta]


def test_a_file_that_is_not_a_history_is_reported(browser: HistoryBrowser, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert not browser.open(junk)
    assert "not a metagui history" in browser.path_label.text()
    assert browser.path_label.property("error") is True
    assert not browser.open(tmp_path / "missing.sqlite")
    assert "no such file" in browser.path_label.text()
    assert browser.studies.rowCount() == 0


def test_a_history_written_by_another_process_is_followed_live(
    qtbot: QtBot, browser: HistoryBrowser, tmp_path: Path
) -> None:
    experiment = tmp_path / "live.yaml"
    spec = {**TINY, "name": "live", "budget": {"trials": 4}}
    spec["training"] = {**TINY["training"], "iterations": 40, "eval_every": 10}
    experiment.write_text(yaml.safe_dump(spec))
    db = tmp_path / "live.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "metagui.cli", "run", str(experiment), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        qtbot.waitUntil(db.is_file, timeout=120_000)
        # the writer creates the tables right after the file: retry until it opens
        qtbot.waitUntil(
            lambda: browser.open(db) and browser.studies.rowCount() == 1, timeout=60_000
        )
        study_id = browser.study_ids()[0]
        model = browser.model

        def seen() -> tuple[int, int]:
            study = model.studies[study_id]
            return len(study.trials), study.revision  # the revision counts rows read

        first = seen()
        qtbot.waitUntil(lambda: seen() > first, timeout=120_000)  # it grows while we watch
        assert process.poll() is None or seen()[0] >= 1
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=300_000)
        assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.1)
        browser.refresh()
        with HistoryReader(db) as reader:
            stored = reader.trials(study_id)
            status = reader.studies()[0].status
        assert [t.state for t in stored] == ["COMPLETE"] * 4
        assert status == "finished"
        qtbot.waitUntil(lambda: cell(browser, 0, 2) == "finished")
        assert cell(browser, 0, 5) == "4"
        table = browser.views.table
        table.redraw()
        assert sorted(table.trial_ids_in_view_order()) == [t.id for t in stored]
        for trial in stored:
            row = table.table_model.row_of(trial.id)
            shown = None if row is None else table.table_model.trial_at(row)
            assert shown is not None and (shown.state, shown.value) == ("COMPLETE", trial.value)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
