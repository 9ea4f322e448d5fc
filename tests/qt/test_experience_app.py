"""The experience pool in the app: "Learn from past studies" in the strategy panel (the
studies of the history ranked by similarity, unticking one excludes it, the pool settings),
the marks of seeded trials in the trials table and the trajectory plot, and what a study
learned from in the history browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from metagui.core.experience import choose_pool, fingerprint_of
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import save_experiment
from metagui.core.history import HistoryReader, HistoryWriter
from metagui.qt._document import ExperimentDocument
from metagui.qt._history_model import HistoryModel
from metagui.qt.history_browser import HistoryBrowser, describe_experience
from metagui.qt.main_window import MainWindow
from metagui.qt.panels import StrategyPanel
from metagui.qt.panels._experience_rows import pool_rows, rank_history
from metagui.qt.views import TrajectoryPlot, TrialsTable
from metagui.qt.views._trajectory import SEEDED_LABEL
from metagui.qt.views._trials_model import NUMBER

WAIT_MS = 20_000

# Similar to the new experiment: the same problem (1.00), another episode shape (0.93).
SIMILAR = {"a": {}, "b": {"taskset": {"family": "sinusoid", "k_shot": 20}}}
# Not similar (0.44): another shape, amplitude range, learner, network and search space.
FAR: dict[str, Any] = {
    "algorithm": {"name": "reptile"},
    "model": {"hidden_sizes": [64, 64]},
    "taskset": {"family": "sinusoid", "k_shot": 10, "amplitude": [1, 2]},
    "search_space": {
        "params": [{"name": "training.meta_batch_size", "type": "int", "low": 2, "high": 8}]
    },
}


def experiment(**overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "new",
        "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
        "model": {"hidden_sizes": [8]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {"iterations": 12, "meta_batch_size": 2, "eval_every": 4, "log_every": 4},
        "search_space": {
            "params": [
                {"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.3},
                {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            ]
        },
        "budget": {"trials": 4},
        "warm_start": [],
        "device": "cpu",
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def past_study(
    db: Path,
    name: str,
    values: dict[float, float],
    *,
    seeded: dict[int, str] | None = None,
    experience: dict[str, Any] | None = None,
    **overrides: Any,
) -> int:
    """A finished study made by hand: trials at inner_lr ``x`` with value ``values[x]``;
    ``seeded``: trial number -> the pool trial it was seeded from."""
    spec = experiment(name=name, **overrides)
    with HistoryWriter(db) as writer:
        study = writer.create_study(
            name,
            spec.model_dump_json(),
            "minimize",
            "tpe",
            0,
            fingerprint_json=fingerprint_of(spec, "minimize").to_json(),
        )
        for number, (x, value) in enumerate(values.items()):
            trial = writer.start_trial(
                study,
                number,
                {"algorithm.inner_lr": x, "optimizer.lr": 1e-3},
                seeded_from=(seeded or {}).get(number),
            )
            writer.finish_trial(trial, "COMPLETE", value=value)
        if experience is not None:
            writer.set_study_experience(study, json.dumps(experience))
        writer.set_study_status(study, "finished")
    return study


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Two studies similar to the new experiment and one that is not, oldest first."""
    db = tmp_path / "history.sqlite"
    past_study(db, "far", {0.2: 0.1, 0.05: 0.5}, **FAR)
    past_study(db, "b", {0.19: 0.2, 0.25: 0.8}, **SIMILAR["b"])
    past_study(db, "a", {0.21: 0.3, 0.05: 0.9, 0.3: 0.6})
    return db


@pytest.fixture
def panel(qtbot: QtBot, history: Path) -> StrategyPanel:
    doc = ExperimentDocument(experiment())
    widget = StrategyPanel(doc, studies_provider=lambda: [], history_provider=lambda: history)
    qtbot.addWidget(widget)
    widget.resize(900, 1000)
    widget.show()
    return widget


def ranked(qtbot: QtBot, panel: StrategyPanel) -> list[str]:
    pool = panel.warm_start.pool
    qtbot.waitUntil(lambda: pool.ranking() is not None and not pool.busy, timeout=WAIT_MS)
    return [row.name for row in pool.rows()]


def items(panel: StrategyPanel) -> dict[str, Any]:
    box = panel.warm_start.pool.list
    return {box.item(i).data(Qt.ItemDataRole.UserRole): box.item(i) for i in range(box.count())}


# -- the strategy panel ------------------------------------------------------------------------
def test_learn_from_past_studies_lists_them_by_similarity_and_unticking_excludes(
    qtbot: QtBot, panel: StrategyPanel
) -> None:
    doc, warm = panel.doc, panel.warm_start
    assert warm.mode() == "cold" and warm.pool.isHidden() and warm.named.isHidden()
    warm.buttons["auto"].click()
    assert doc.spec.warm_start == "auto" and warm.buttons["auto"].isChecked()
    assert warm.pool.isVisible() and warm.pool.settings.isVisible()
    assert ranked(qtbot, panel) == ["a", "b", "far"]
    shown = items(panel)
    for name in ("a", "b"):
        item = shown[name]
        assert item.checkState() == Qt.CheckState.Checked
        assert item.flags() & Qt.ItemFlag.ItemIsEnabled
    assert shown["a"].text().startswith("a  ·  1.00 similar  ·  best 0.3 ↓  ·  3 trials\n")
    assert "same family and shape" in shown["a"].text()
    assert "shape differs (5-shot vs 20-shot)" in shown["b"].toolTip()
    far = shown["far"]
    assert far.checkState() == Qt.CheckState.Unchecked
    assert not far.flags() & Qt.ItemFlag.ItemIsEnabled  # greyed: cannot be ticked
    assert "below the threshold (0.60)" in far.text() and "learner differs" in far.text()
    assert warm.pool.summary.text().startswith("Learns from 2 studies")

    shown["b"].setCheckState(Qt.CheckState.Unchecked)
    assert doc.spec.experience.exclude == ["b"]
    assert items(panel)["b"].checkState() == Qt.CheckState.Unchecked
    assert "unticked" in items(panel)["b"].text()
    assert warm.pool.summary.text().startswith("Learns from 1 study")
    doc.undo_stack.undo()
    assert doc.spec.experience.exclude == []
    assert items(panel)["b"].checkState() == Qt.CheckState.Checked
    doc.undo_stack.undo()
    assert doc.spec.warm_start == [] and warm.mode() == "cold" and warm.pool.isHidden()


def test_the_pool_settings_edit_the_experience_and_show_what_applies(
    qtbot: QtBot, panel: StrategyPanel
) -> None:
    doc, pool = panel.doc, panel.warm_start.pool
    panel.warm_start.buttons["auto"].click()
    ranked(qtbot, panel)
    assert pool.settings.is_field_visible("initial_configs")
    pool.settings.editor("initial_design").click()
    assert doc.spec.experience.initial_design is False
    assert not pool.settings.is_field_visible("initial_configs")
    assert pool.settings.is_field_visible("pruning_quantile")
    # A higher threshold leaves "b" (0.93) out, without ranking the studies again.
    doc.set_value("experience.min_similarity", 0.95)
    assert not pool.busy
    assert [r.status for r in pool.rows()] == ["used", "below", "below"]
    assert "below the threshold (0.95)" in items(panel)["b"].text()
    doc.set_value("experience.min_similarity", 0.5)
    doc.set_value("experience.max_studies", 1)
    assert [r.status for r in pool.rows()] == ["used", "beyond", "below"]
    assert items(panel)["b"].checkState() == Qt.CheckState.Checked  # allowed, not used
    doc.undo_stack.undo()
    assert [r.status for r in pool.rows()] == ["used", "used", "below"]


def test_the_ranking_follows_the_experiment(qtbot: QtBot, panel: StrategyPanel) -> None:
    panel.warm_start.buttons["auto"].click()
    assert ranked(qtbot, panel) == ["a", "b", "far"]
    panel.doc.set_value("taskset.k_shot", 20)  # now "b" has the same shape, "a" not
    qtbot.waitUntil(lambda: panel.warm_start.pool.busy, timeout=WAIT_MS)
    assert ranked(qtbot, panel) == ["b", "a", "far"]


def test_the_list_decides_as_the_runner_does(history: Path) -> None:
    with HistoryWriter(history) as writer:  # a study with no complete trial yet
        study = writer.create_study("running", experiment().model_dump_json(), "minimize", "tpe", 0)
        writer.start_trial(study, 0, {"algorithm.inner_lr": 0.1, "optimizer.lr": 1e-3})
    for settings in (
        {},
        {"min_similarity": 0.95},
        {"min_similarity": 0.3},
        {"max_studies": 1},
        {"exclude": ["a"], "min_similarity": 0.3},
    ):
        spec = experiment(warm_start="auto", experience=settings)
        rows = pool_rows(rank_history(history, spec), spec.experience)
        with HistoryReader(history) as reader:
            chosen, _ = choose_pool(reader, spec, "minimize")
        assert [r.name for r in rows if r.used] == [s.name for s in chosen], settings
        assert {r.name: r.status for r in rows}["running"] == "unfinished"


def test_a_history_not_there_yet_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    doc = ExperimentDocument(experiment(warm_start="auto"))
    missing = tmp_path / "none.sqlite"
    panel = StrategyPanel(doc, history_provider=lambda: missing)
    qtbot.addWidget(panel)
    panel.show()
    pool = panel.warm_start.pool
    qtbot.waitUntil(lambda: pool.ranking() is not None, timeout=WAIT_MS)
    assert "No history yet" in pool.summary.text() and pool.list.count() == 0
    assert not missing.exists()  # looking never creates a history


def test_a_file_with_warm_start_auto_opens_in_the_window(
    qtbot: QtBot, history: Path, tmp_path: Path
) -> None:
    path = tmp_path / "auto.yaml"
    save_experiment(experiment(warm_start="auto", experience={"exclude": ["b"]}), path)
    window = MainWindow(database=history, restore=False)
    qtbot.addWidget(window)
    window.persist_settings = False
    window.show()
    try:
        assert window.open_experiment(path)
        window.show_setup("strategy")
        warm = window.strategy_panel.warm_start
        assert warm.mode() == "auto" and warm.buttons["auto"].isChecked()
        assert warm.named.list.count() == 0  # not the letters of "auto"
        assert ranked(qtbot, window.strategy_panel) == ["a", "b", "far"]
        assert [r.status for r in warm.pool.rows()] == ["used", "unticked", "below"]
    finally:
        window.close()
    assert warm.pool.loader.active_threads() == 0


# -- seeded trials in the views, what a study learned from -----------------------------------
RECORD = {
    "version": 1,
    "mode": "auto",
    "studies": [
        {
            "id": 3,
            "name": "a",
            "similarity": 1.0,
            "explanation": "same family and shape, same data",
            "last_trial": 2,
            "trials_used": 3,
        }
    ],
    "initial_design": True,
    "initial_configs": 5,
    "prior": True,
    "pruning": False,
    "note": "warm_start auto: learning from 'a' (1.00) (min_similarity 0.60)",
}


@pytest.fixture
def seeded(history: Path) -> tuple[Path, int]:
    """A study whose trial 0 ran the pool's "a #0" settings, trial 1 its own."""
    study = past_study(history, "new", {0.21: 0.5, 0.1: 0.4}, seeded={0: "a #0"}, experience=RECORD)
    return history, study


@pytest.fixture
def model(seeded: tuple[Path, int]) -> Any:
    history = HistoryModel()
    history.open(seeded[0])
    yield history
    history.close()


def test_a_seeded_trial_is_marked_in_the_trials_table(
    qtbot: QtBot, seeded: tuple[Path, int], model: HistoryModel
) -> None:
    table = TrialsTable(model)
    qtbot.addWidget(table)
    table.show()
    table.set_study(seeded[1])
    table.redraw()
    tooltip = Qt.ItemDataRole.ToolTipRole
    cells = [
        (table.proxy.index(r, NUMBER).data(), table.proxy.index(r, 0).data(tooltip)) for r in (0, 1)
    ]
    assert cells[0][0] == "0 ↺" and "Seeded from the pool: a #0" in cells[0][1]
    assert cells[1][0] == "★ 1" and "Seeded" not in cells[1][1]


def test_a_seeded_trial_is_marked_in_the_trajectory_plot(
    qtbot: QtBot, seeded: tuple[Path, int], model: HistoryModel
) -> None:
    view = TrajectoryPlot(model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_study(seeded[1])
    view.set_param("algorithm.inner_lr")
    view.redraw()
    assert list(view.seeded_points.xData) == [0.0]
    assert list(view.seeded_points.yData) == [0.21]
    labels = [label.text for _, label in view.sampled_legend.items]
    assert SEEDED_LABEL in labels
    view.set_study(next(s for s, d in model.studies.items() if d.name == "a"))
    view.redraw()
    assert view.seeded_points.xData is None or len(view.seeded_points.xData) == 0
    assert SEEDED_LABEL not in [label.text for _, label in view.sampled_legend.items]


def test_the_history_browser_says_what_a_study_learned_from(
    qtbot: QtBot, seeded: tuple[Path, int]
) -> None:
    browser = HistoryBrowser()
    qtbot.addWidget(browser)
    browser.resize(1200, 800)
    browser.show()
    try:
        assert browser.open(seeded[0])
        browser.select_studies([seeded[1]])
        label = browser.experience_label
        assert label.isVisible()
        assert label.text().startswith("Learned from 1 past study: “a” (1.00)")
        assert "their best 5 settings run first, a prior for the sampler" in label.text()
        assert "pruning" not in label.text()
        assert "same family and shape" in label.toolTip()
        others = [s for s in browser.study_ids() if s != seeded[1]]
        browser.select_studies(others[:1])
        assert not label.isVisible()  # it learned from none
    finally:
        browser.close_database()


def test_describing_what_a_study_learned_from() -> None:
    assert describe_experience(None) is None
    assert describe_experience({"mode": "named"}) is None
    described = describe_experience(
        {"mode": "auto", "studies": [], "note": "warm_start auto: no study is similar enough"}
    )
    assert described is not None
    assert described[0] == "Learned from no past study: no study is similar enough"
