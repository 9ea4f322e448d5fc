"""A two-objective study in the rest of the app: the export dialog offers the trials of the
front, the status bar counts them instead of naming a best, and the setup form sets the second
objective (and greys out what cannot search two)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pareto_data import OBJECTIVES, write_pareto_study
from PySide6.QtWidgets import QComboBox
from pytestqt.qtbot import QtBot
from test_views_data import Clock, History

from metagui.core.experiment import MULTI_OBJECTIVE_STRATEGIES, STRATEGIES
from metagui.core.experiment_io import load_experiment, save_experiment
from metagui.core.history import HistoryReader
from metagui.core.pareto import front_trials
from metagui.qt._document import ExperimentDocument
from metagui.qt._history_model import HistoryModel
from metagui.qt._run_controller import RunController, RunProgress
from metagui.qt._status import RunStatus, best_text
from metagui.qt.export_dialog import ExportDialog
from metagui.qt.panels import StrategyPanel

DIRECTIONS = [o.direction for o in OBJECTIVES]


@pytest.fixture
def pareto(tmp_path: Path, clock: Clock) -> Iterator[History]:
    built = write_pareto_study(tmp_path / "pareto.db", clock, excluded=(5,))
    yield built
    built.writer.close()


def front_numbers(path: Path) -> list[int]:
    """The oracle: the core's front of the stored study, by accuracy (best first)."""
    with HistoryReader(path) as reader:
        study = reader.study("omniglot-size")
        assert study is not None
        front = front_trials(reader.trials(study.id), DIRECTIONS)
    return [t.number for t in sorted(front, key=lambda t: (-(t.value or 0.0), t.number))]


# -- export --------------------------------------------------------------------------------------
def test_the_export_dialog_offers_the_front_first_and_picks_its_best(
    qtbot: QtBot, pareto: History
) -> None:
    dialog = ExportDialog(pareto.path, "omniglot-size")
    qtbot.addWidget(dialog)
    front = front_numbers(pareto.path)
    assert dialog.multi_objective and dialog.front_choices() == front
    items = [dialog.trial_box.itemText(i) for i in range(dialog.trial_box.count())]
    assert items[0].startswith(f"#{front[0]} — validation accuracy ")
    assert ", parameters " in items[0] and "," in items[0].rsplit("parameters ", 1)[1]
    assert "Best trial" not in items  # two objectives have no one best
    assert [dialog.trial_box.itemData(i) for i in range(len(front))] == front
    # The others follow, below a separator (an empty, unselectable row).
    assert items[len(front)] == "" and dialog.trial_box.itemData(len(front)) is None
    assert len(items) == len(front) + 1 + 31 - len(front)
    assert dialog.trial == front[0]
    assert dialog.path_edit.text().endswith(f"omniglot-size-trial{front[0]}.yaml")


def test_the_export_dialog_starts_at_the_trial_it_was_asked_for(
    qtbot: QtBot, pareto: History
) -> None:
    front = front_numbers(pareto.path)
    on_front = ExportDialog(pareto.path, "omniglot-size", front[-1])
    off_front = ExportDialog(pareto.path, "omniglot-size", 4)  # a pruned trial
    for dialog in (on_front, off_front):
        qtbot.addWidget(dialog)
    assert on_front.trial == front[-1] and off_front.trial == 4
    assert "pruned" in off_front.trial_box.currentText()


def test_exporting_a_trial_of_the_front_writes_that_trial(
    qtbot: QtBot, pareto: History, tmp_path: Path
) -> None:
    front = front_numbers(pareto.path)
    dialog = ExportDialog(pareto.path, "omniglot-size", start_dir=str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.trial_box.setCurrentIndex(1)
    written = dialog.export()
    assert written is not None, dialog.message.text()
    exported = yaml.safe_load(written.read_text())
    assert exported["_meta"]["trial"] == front[1]
    assert exported["objective"]["second"]["metric"] == "parameters"


def test_the_plots_of_a_two_objective_study_export_with_its_front(
    qtbot: QtBot, pareto: History, tmp_path: Path
) -> None:
    from metagui.qt._study_views import StudyViews

    model = HistoryModel()
    model.open(pareto.path)
    views = StudyViews(model)
    qtbot.addWidget(views)
    views.resize(900, 700)
    views.show()
    views.set_study(pareto.study_id)
    dialog = ExportDialog(pareto.path, "omniglot-size", plots=views.plots)
    qtbot.addWidget(dialog)
    for view in views.plots.values():
        view.redraw()
    written = dialog.export_plots(tmp_path / "plots", "svg")
    assert "omniglot-size-pareto.svg" in [p.name for p in written]
    svg = (tmp_path / "plots" / "omniglot-size-pareto.svg").read_text()
    assert "Pareto front" in svg and "parameters" in svg
    model.close()


# -- status --------------------------------------------------------------------------------------
def test_the_status_counts_the_front_of_a_two_objective_study(
    qtbot: QtBot, pareto: History
) -> None:
    from PySide6.QtWidgets import QStatusBar

    model = HistoryModel()
    model.open(pareto.path)
    study = model.studies[pareto.study_id]
    n = len(front_numbers(pareto.path))
    progress = RunProgress(study_id=pareto.study_id, best_value=0.97, best_number=22)
    text, tip = best_text(progress, study)
    assert text == f"Front: {n} trials"
    assert all(f"#{number}" in tip for number in front_numbers(pareto.path))
    assert best_text(progress) == ("Best 0.97 (#22)", "best objective value so far (trial)")

    bar = QStatusBar()
    qtbot.addWidget(bar)
    controller = RunController()
    status = RunStatus(controller, bar, model)
    controller.progress.study_id = pareto.study_id
    controller.progress.started_at = 0.0
    status.refresh()
    assert status.best.text() == f"Front: {n} trials"
    # A trial that joins the front reaches the status with the history's next poll.
    pareto.writer.finish_trial(pareto.ids[30], "COMPLETE", value=0.999, values=(0.999, 100.0))
    assert model.refresh()
    assert status.best.text() == "Front: 1 trial"
    model.close()


# -- setup ---------------------------------------------------------------------------------------
@pytest.fixture
def panel(qtbot: QtBot, doc: ExperimentDocument) -> StrategyPanel:
    widget = StrategyPanel(doc, studies_provider=list)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def choose(combo: QComboBox, value: str) -> None:
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def test_the_second_objective_is_set_once_the_pruner_allows_it(
    panel: StrategyPanel, doc: ExperimentDocument, tmp_path: Path
) -> None:
    editor = panel.second_objective
    assert doc.spec.objective.second is None and doc.spec.pruner.name == "median"
    assert panel.strategy_choices(enabled_only=True) == list(STRATEGIES)
    editor.set_choice("parameters")
    # The median pruner ranks trials by one value: refused, said, and nothing run until fixed.
    assert doc.spec.objective.second is None and not doc.is_valid
    assert editor.pending() and editor.metric_box.property("invalid") is True
    assert "median pruner" in editor.error.text() and editor.error.isVisibleTo(panel)
    assert panel.pruner_choices(enabled_only=True) == ["none"]
    assert panel.strategy_choices(enabled_only=True) == [
        s for s in STRATEGIES if s in MULTI_OBJECTIVE_STRATEGIES
    ]
    choose(panel.pruner.editor("name"), "none")  # type: ignore[arg-type]
    second = doc.spec.objective.second
    assert second is not None and (second.metric, second.direction) == ("parameters", "auto")
    assert doc.is_valid and not editor.pending() and not editor.error.isVisibleTo(panel)
    choose(editor.direction_box, "maximize")
    assert doc.spec.objective.second.direction == "maximize"  # type: ignore[union-attr]
    # Saved and read back as it was set.
    path = tmp_path / "two.yaml"
    save_experiment(doc.spec, path)
    assert load_experiment(path).objective.second == doc.spec.objective.second
    doc.undo_stack.undo()
    assert editor.direction_box.currentData() == "auto"
    editor.set_choice(None)
    assert doc.spec.objective.second is None and not editor.direction_box.isEnabled()
    assert panel.strategy_choices(enabled_only=True) == list(STRATEGIES)


def test_a_one_objective_strategy_is_refused_beside_a_second_objective(
    panel: StrategyPanel, doc: ExperimentDocument
) -> None:
    doc.set_value("pruner.name", "none")
    panel.second_objective.set_choice("training_time")
    assert doc.spec.objective.second is not None and doc.is_valid
    strategy = panel.strategy.editor("name")
    assert isinstance(strategy, QComboBox)
    choose(strategy, "cmaes")
    assert doc.spec.strategy.name == "tpe" and not doc.is_valid
    assert "searches one objective" in (panel.strategy.error("name") or "")
    choose(strategy, "nsga2")
    assert doc.spec.strategy.name == "nsga2" and doc.is_valid


def test_a_new_document_forgets_a_refused_second_objective(
    panel: StrategyPanel, doc: ExperimentDocument
) -> None:
    panel.second_objective.set_choice("adaptation_time")
    assert panel.second_objective.pending()
    spec = doc.spec.model_copy()
    doc.reset(spec.model_copy(update={"name": "other"}))
    doc.set_value("pruner.name", "none")  # would have made the old choice valid
    assert doc.spec.objective.second is None and doc.is_valid
    assert panel.second_objective.choice() is None


# -- the History tab's list of studies -----------------------------------------------------------


def test_the_study_list_counts_the_front_where_a_single_study_shows_its_best(
    qtbot: QtBot, pareto: History
) -> None:
    from metagui.qt.history_browser import HistoryBrowser

    pareto.writer.flush()
    browser = HistoryBrowser()
    qtbot.addWidget(browser)
    assert browser.open(pareto.path)
    qtbot.waitUntil(lambda: browser.studies.rowCount() == 1)
    headers = [browser.studies.horizontalHeaderItem(c).text() for c in range(3, 4)]
    assert headers == ["Best"]
    assert browser.studies.item(0, 3).text() == f"front {len(front_numbers(pareto.path))}"
    with HistoryReader(pareto.path) as reader:
        (summary,) = reader.studies()
    assert summary.front_size == len(front_numbers(pareto.path))
