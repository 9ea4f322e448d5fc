"""The strategy panel: strategy, pruner, budget, objective, seed, device, name, warm start."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from test_panels_support import type_into

from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import StrategyPanel

STUDIES = ["omniglot-search", "sinusoid-search", "older-study"]


@pytest.fixture
def panel(qtbot, doc: ExperimentDocument) -> StrategyPanel:
    widget = StrategyPanel(doc, studies_provider=lambda: list(STUDIES))
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.mark.parametrize(
    ("pruner", "shown", "hidden"),
    [
        ("none", set(), {"startup_trials", "warmup_steps", "percentile", "patience"}),
        ("median", {"startup_trials", "warmup_steps"}, {"percentile", "lower", "patience"}),
        ("percentile", {"percentile", "startup_trials"}, {"min_resource", "patience"}),
        ("asha", {"min_resource", "reduction_factor"}, {"percentile", "warmup_steps", "lower"}),
        ("hyperband", {"min_resource", "reduction_factor"}, {"patience", "upper"}),
        ("threshold", {"lower", "upper", "warmup_steps"}, {"startup_trials", "percentile"}),
        ("patient", {"patience", "startup_trials"}, {"lower", "min_resource"}),
    ],
)
def test_only_the_options_of_the_pruner_show(panel, doc, pruner, shown, hidden) -> None:
    panel.pruner.editor("name").setCurrentText(pruner)
    assert doc.spec.pruner.name == pruner
    visible = set(panel.visible_fields(panel.pruner))
    assert shown <= visible and not hidden & visible
    assert panel.pruner_note.text()


def test_only_the_options_of_the_strategy_show(panel, doc) -> None:
    assert panel.visible_fields(panel.strategy) == ["name", "startup_trials"]
    doc.set_value("strategy.name", "pso")
    assert panel.visible_fields(panel.strategy) == ["name", "population_size"]
    doc.set_value("strategy.name", "cmaes")
    assert panel.visible_fields(panel.strategy) == ["name", "startup_trials", "population_size"]
    doc.set_value("strategy.name", "grid")
    assert panel.visible_fields(panel.strategy) == ["name"]


def test_strategy_follows_the_document_and_undo(panel, doc) -> None:
    combo = panel.strategy.editor("name")
    doc.set_value("strategy.name", "nsga2")
    assert combo.currentText() == "nsga2"
    doc.undo_stack.undo()
    assert combo.currentText() == "tpe"
    combo.setCurrentText("sobol")
    assert doc.spec.strategy.name == "sobol"


def test_population_size_empty_means_library_default(qtbot, panel, doc) -> None:
    doc.set_value("strategy.name", "de")
    field = panel.strategy.editor("population_size")
    type_into(qtbot, field, "12")
    assert doc.spec.strategy.population_size == 12
    type_into(qtbot, field, "1")
    assert field.property("invalid") is True and not doc.is_valid
    field.clear()
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert doc.spec.strategy.population_size is None and doc.is_valid


def test_name_seed_and_objective(qtbot, panel, doc) -> None:
    type_into(qtbot, panel.experiment.editor("name"), "my study")
    type_into(qtbot, panel.experiment.editor("seed"), "12345678901")
    panel.objective.editor("direction").setCurrentText("maximize")
    assert (doc.spec.name, doc.spec.seed) == ("my study", 12345678901)
    assert doc.spec.objective.direction == "maximize"
    type_into(qtbot, panel.experiment.editor("seed"), "-1")
    assert panel.experiment.editor("seed").property("invalid") is True
    assert panel.experiment.error("seed") == "must be at least 0"
    for _ in range(3):
        doc.undo_stack.undo()
    assert panel.experiment.editor("name").text() == "sinusoid-search"
    assert panel.experiment.editor("seed").text() == "0" and doc.is_valid


def test_budget_trials_and_wall_time(panel, doc) -> None:
    budget = panel.budget
    assert budget.limit_trials.isChecked() and budget.trials.value() == 40
    assert not budget.limit_time.isChecked() and not budget.minutes.isEnabled()
    budget.limit_trials.setChecked(False)  # no budget at all: refused
    assert budget.limit_trials.property("invalid") is True
    assert budget.limit_time.property("invalid") is True
    assert "tick Trials, Wall time or both" in budget.error.text() and not doc.is_valid
    assert doc.spec.budget.trials == 40
    budget.limit_time.setChecked(True)
    budget.minutes.setValue(90.0)
    assert (doc.spec.budget.trials, doc.spec.budget.timeout_s) == (None, 5400.0)
    assert doc.is_valid and budget.error.isHidden()
    assert budget.limit_trials.property("invalid") is False
    budget.minutes.setValue(0.0)  # a wall time of nothing: the number is refused
    assert budget.minutes.property("invalid") is True and not doc.is_valid
    budget.minutes.setValue(90.0)
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert budget.limit_trials.isChecked() and not budget.limit_time.isChecked()


def test_budget_keeps_exact_seconds_it_does_not_show(panel, doc) -> None:
    doc.set_value("budget", {"trials": 10, "timeout_s": 100.0})
    assert panel.budget.minutes.value() == pytest.approx(1.7)
    panel.budget.trials.setValue(12)
    assert (doc.spec.budget.trials, doc.spec.budget.timeout_s) == (12, 100.0)


def test_device_lists_this_machine_and_names_it(qtbot, panel, doc) -> None:
    import torch

    device = panel.device
    qtbot.waitUntil(lambda: device.combo.count() >= 2 and device.description.text() != "…")
    items = [device.combo.itemText(i) for i in range(device.combo.count())]
    assert items[:2] == ["auto", "cpu"]
    assert [i for i in items if i.startswith("cuda:")] == [
        f"cuda:{i}" for i in range(torch.cuda.device_count())
    ]
    assert device.description.text().startswith("→ ")
    device.combo.setCurrentText("cpu")
    assert doc.spec.device == "cpu"
    assert device.description.text().startswith("cpu (") and "threads" in device.description.text()
    doc.undo_stack.undo()
    assert device.combo.currentText() == "auto"


def test_unavailable_device_from_a_file_is_flagged(qtbot, panel, doc) -> None:
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    qtbot.waitUntil(lambda: panel.device.description.text() != "…")
    doc.set_value("device", "cuda:7")
    assert panel.device.combo.currentText() == "cuda:7"
    assert panel.device.description.property("warning") is True
    assert panel.device.combo.property("invalid") is True


def test_warm_start_is_a_checkable_list_of_studies(panel, doc) -> None:
    assert panel.warm_start.mode() == "cold" and panel.warm_start.named.isHidden()
    panel.warm_start.buttons["named"].click()
    assert panel.warm_start.mode() == "named" and doc.spec.warm_start == []
    warm = panel.warm_start.named
    assert warm.isVisible() and panel.warm_start.pool.isHidden()
    names = [warm.list.item(i).text() for i in range(warm.list.count())]
    assert names == STUDIES
    warm.list.item(2).setCheckState(Qt.CheckState.Checked)
    warm.list.item(0).setCheckState(Qt.CheckState.Checked)
    assert doc.spec.warm_start == ["omniglot-search", "older-study"]
    doc.set_value("warm_start", ["sinusoid-search", "gone"])
    assert warm.chosen() == ["sinusoid-search", "gone"]
    assert warm.list.item(3).text() == "gone  (not in this history)"
    doc.undo_stack.undo()
    assert warm.chosen() == ["omniglot-search", "older-study"]


def test_warm_start_without_a_history(qtbot, doc) -> None:
    def broken() -> list[str]:
        raise OSError("database is locked")

    panel = StrategyPanel(doc, studies_provider=broken)
    qtbot.addWidget(panel)
    panel.show()
    panel.warm_start.buttons["named"].click()  # the studies are read when first shown
    assert "database is locked" in panel.warm_start.named.hint.text()
    assert panel.warm_start.named.list.count() == 0
    plain = StrategyPanel(doc)
    qtbot.addWidget(plain)
    plain.show()
    plain.warm_start.buttons["named"].click()
    assert not plain.warm_start.named.reload_button.isEnabled()
    assert "No earlier studies" in plain.warm_start.named.hint.text()
