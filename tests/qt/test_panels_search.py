"""The algorithm and search-space panel: forms over algorithm/model/optimizer/training, and
the search-space table."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from test_panels_support import type_into

from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import SearchPanel
from metagui.qt.panels._search_table import (
    CHOICES,
    CONDITION,
    HIGH,
    LOG,
    LOW,
    STEP,
    SearchSpaceTable,
)


@pytest.fixture
def panel(qtbot, doc: ExperimentDocument) -> SearchPanel:
    widget = SearchPanel(doc)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _names(doc: ExperimentDocument) -> list[str]:
    return doc.spec.search_space.names


def _set_cell(table: SearchSpaceTable, row: int, column: int, text: str) -> None:
    """Edit a cell the way the table's editor commits it."""
    table.table.item(row, column).setText(text)


# -- the settings forms --------------------------------------------------------------------------
def test_algorithm_picker_follows_the_document_and_undo(panel: SearchPanel, doc) -> None:
    combo = panel.algorithm.editor("name")
    assert combo.currentText() == "maml"
    assert "inner_lr" in panel.visible_fields(panel.algorithm)
    doc.set_value("algorithm.name", "protonet")
    assert combo.currentText() == "protonet"
    assert panel.visible_fields(panel.algorithm) == ["name"]
    assert "Prototypical" in panel.algorithm_note.text()
    doc.undo_stack.undo()
    assert combo.currentText() == "maml"
    assert "first_order" in panel.visible_fields(panel.algorithm)


def test_only_the_settings_of_the_chosen_algorithm_show(panel: SearchPanel) -> None:
    combo = panel.algorithm.editor("name")
    expected = {
        "mamlpp": {"inner_lr", "inner_steps", "first_order", "msl_iterations"},
        "reptile": {"inner_lr", "inner_steps", "eval_inner_steps"},
        "cnp": {"cnp_hidden"},
    }
    for name, fields in expected.items():
        combo.setCurrentText(name)
        visible = set(panel.visible_fields(panel.algorithm))
        assert fields <= visible, name
    combo.setCurrentText("reptile")
    assert "first_order" not in panel.visible_fields(panel.algorithm)
    assert "cnp_hidden" not in panel.visible_fields(panel.algorithm)


def test_choosing_an_algorithm_edits_the_document(panel: SearchPanel, doc) -> None:
    panel.algorithm.editor("name").setCurrentText("reptile")
    assert doc.spec.algorithm.name == "reptile"
    doc.undo_stack.undo()
    assert doc.spec.algorithm.name == "maml"


def test_typed_settings_reach_the_document(qtbot, panel: SearchPanel, doc) -> None:
    type_into(qtbot, panel.algorithm.editor("inner_lr"), "0.05")
    type_into(qtbot, panel.optimizer.editor("lr"), "3e-4")
    type_into(qtbot, panel.training.editor("iterations"), "250")
    type_into(qtbot, panel.model.editor("hidden_sizes"), "64, 32, 16")
    assert doc.spec.algorithm.inner_lr == 0.05
    assert doc.spec.optimizer.lr == 3e-4
    assert doc.spec.training.iterations == 250
    assert doc.spec.model.hidden_sizes == [64, 32, 16]
    assert panel.optimizer.editor("lr").text() == "0.0003"
    for _ in range(4):
        doc.undo_stack.undo()
    assert doc.spec.model.hidden_sizes == [40, 40] and doc.spec.algorithm.inner_lr == 0.01


def test_network_settings_follow_the_kind(panel: SearchPanel, doc) -> None:
    assert panel.visible_fields(panel.model) == ["kind", "hidden_sizes", "activation"]
    doc.set_value("model.kind", "conv4")
    assert panel.visible_fields(panel.model) == ["kind", "filters", "norm"]
    panel.model.editor("norm").setCurrentText("group")
    assert doc.spec.model.norm == "group"
    assert panel.visible_fields(panel.model) == ["kind", "filters", "norm", "groups"]


def test_momentum_shows_only_for_momentum_optimizers(panel: SearchPanel, doc) -> None:
    assert "momentum" not in panel.visible_fields(panel.optimizer)
    panel.optimizer.editor("name").setCurrentText("nesterov")
    assert doc.spec.optimizer.name == "nesterov"
    assert "momentum" in panel.visible_fields(panel.optimizer)


def test_the_training_form_offers_the_precision(panel: SearchPanel, doc) -> None:
    combo = panel.training.editor("precision")
    assert [combo.itemText(i) for i in range(combo.count())] == ["fp32", "bf16", "fp16"]
    assert "precision" in panel.visible_fields(panel.training)
    combo.setCurrentText("bf16")
    assert doc.spec.training.precision == "bf16"
    doc.undo_stack.undo()
    assert combo.currentText() == "fp32" and doc.spec.training.precision == "fp32"


def test_cross_field_rule_turns_the_edited_field_red(qtbot, panel: SearchPanel, doc) -> None:
    doc.set_value("model.kind", "conv4")
    panel.model.editor("norm").setCurrentText("group")
    spin = panel.model.editor("filters")
    type_into(qtbot, spin, "30")
    assert spin.property("invalid") is True
    assert "must divide filters" in (panel.model.error("filters") or "")
    assert not doc.is_valid and doc.spec.model.filters == 64
    type_into(qtbot, spin, "32")
    assert doc.is_valid and doc.spec.model.filters == 32


def test_unparsable_list_is_refused_with_the_reason(qtbot, panel: SearchPanel, doc) -> None:
    field = panel.model.editor("hidden_sizes")
    type_into(qtbot, field, "40, x")
    assert field.property("invalid") is True
    assert "whole number" in (panel.model.error("hidden_sizes") or "")
    assert not doc.is_valid
    doc.set_value("model.hidden_sizes", [8])  # an edit of the field elsewhere replaces the text
    assert field.text() == "8" and doc.is_valid


# -- the search-space table ----------------------------------------------------------------------
def test_table_shows_the_document_and_follows_undo(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    rows = table.rows()
    assert [r.name for r in rows] == _names(doc)
    lr = rows[1]
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", "0.001", "0.1", True)
    assert lr.condition.startswith("algorithm.name in maml, fomaml")
    assert rows[0].choices.startswith("maml, fomaml, metasgd")
    data = doc.data()
    data["search_space"]["params"] = data["search_space"]["params"][:2]
    spec, _ = doc.try_data(data)
    doc.replace(spec)
    assert len(table.rows()) == 2 and table.table.rowCount() == 2
    doc.undo_stack.undo()
    assert [r.name for r in table.rows()] == _names(doc) and table.table.rowCount() == 5


def test_name_combo_lists_every_setting(panel: SearchPanel) -> None:
    combo = panel.search_space.name_combo(0)
    items = {combo.itemText(i) for i in range(combo.count())}
    assert {"algorithm.inner_lr", "model.filters", "optimizer.lr", "taskset.k_shot"} <= items
    assert {"training.iterations", "seed", "model.hidden_sizes"} <= items
    assert "taskset.family" not in items


def test_editing_a_cell_is_one_undoable_step(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    _set_cell(table, 3, HIGH, "0.05")
    assert doc.spec.search_space.get("optimizer.lr").high == 0.05
    table.table.item(3, LOG).setCheckState(Qt.CheckState.Unchecked)
    assert doc.spec.search_space.get("optimizer.lr").log is False
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.spec.search_space.get("optimizer.lr").high == 0.01
    assert table.rows()[3].high == "0.01" and table.rows()[3].log is True


def test_invalid_row_turns_red_until_fixed(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    _set_cell(table, 1, LOW, "1")  # above high = 0.1
    assert "must not exceed high" in (table.row_error(1) or "")
    assert table.name_combo(1).property("invalid") is True
    assert table.table.item(1, LOW).background().color().red() > 0
    assert "Row 2 (algorithm.inner_lr)" in table.message.text() and not table.message.isHidden()
    assert not doc.is_valid
    assert doc.spec.search_space.get("algorithm.inner_lr").low == 0.001
    _set_cell(table, 1, HIGH, "2")
    assert table.row_error(1) is None and doc.is_valid and table.message.isHidden()
    param = doc.spec.search_space.get("algorithm.inner_lr")
    assert (param.low, param.high) == (1.0, 2.0)
    doc.undo_stack.undo()  # both cells in one step
    param = doc.spec.search_space.get("algorithm.inner_lr")
    assert (param.low, param.high) == (0.001, 0.1)


def test_bad_text_in_a_cell_names_the_cell(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    _set_cell(table, 2, LOW, "one")
    assert (table.row_error(2) or "").startswith("low: enter a whole number")
    _set_cell(table, 2, LOW, "1")
    _set_cell(table, 0, CHOICES, "maml, nonsense")
    assert "not one of" in (table.row_error(0) or "")
    assert not doc.is_valid


def test_condition_is_parsed_and_written_back(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    _set_cell(table, 4, CONDITION, "algorithm.name in maml, reptile")
    condition = doc.spec.search_space.get("model.activation").condition
    assert condition is not None
    assert (condition.param, condition.in_) == ("algorithm.name", ["maml", "reptile"])
    _set_cell(table, 4, CONDITION, "algorithm.name maml")
    assert "condition:" in (table.row_error(4) or "")
    _set_cell(table, 4, CONDITION, "")
    assert doc.spec.search_space.get("model.activation").condition is None


def test_add_duplicate_remove(qtbot, panel: SearchPanel, doc) -> None:
    table = panel.search_space
    table.table.clearSelection()
    assert not table.remove_button.isEnabled() and not table.duplicate_button.isEnabled()
    qtbot.mouseClick(table.add_button, Qt.MouseButton.LeftButton)
    assert len(_names(doc)) == 6 and table.table.rowCount() == 6
    added = _names(doc)[-1]
    assert added not in _names(doc)[:-1] and table.row_error(5) is None

    table.table.selectRow(3)  # optimizer.lr
    qtbot.mouseClick(table.duplicate_button, Qt.MouseButton.LeftButton)
    assert table.table.rowCount() == 7 and table.rows()[4].name == "optimizer.lr"
    assert "appears twice" in (table.row_error(4) or "") and not doc.is_valid
    assert len(_names(doc)) == 6
    combo = table.name_combo(4)
    combo.setCurrentIndex(combo.findText("optimizer.weight_decay"))
    assert table.row_error(4) is None and doc.is_valid
    assert _names(doc)[4] == "optimizer.weight_decay"
    assert doc.spec.search_space.get("optimizer.weight_decay").type == "float"

    table.table.selectRow(0)
    qtbot.mouseClick(table.remove_button, Qt.MouseButton.LeftButton)
    assert "algorithm.name" not in _names(doc) and table.table.rowCount() == 6
    doc.undo_stack.undo()
    assert _names(doc)[0] == "algorithm.name" and table.table.rowCount() == 7


def test_removing_an_invalid_draft_clears_its_mark(qtbot, panel: SearchPanel, doc) -> None:
    table = panel.search_space
    table.table.selectRow(0)
    qtbot.mouseClick(table.duplicate_button, Qt.MouseButton.LeftButton)
    assert not doc.is_valid
    table.table.selectRow(1)
    qtbot.mouseClick(table.remove_button, Qt.MouseButton.LeftButton)
    assert doc.is_valid and table.table.rowCount() == 5


def test_changing_the_type_converts_the_row(panel: SearchPanel, doc) -> None:
    table = panel.search_space
    table.type_combo(3).setCurrentText("categorical")
    param = doc.spec.search_space.get("optimizer.lr")
    assert param.type == "categorical" and param.choices == [0.0001, 0.01]
    # The choices take the range cells of the row, Low to Step.
    assert table.table.columnSpan(3, CHOICES) == STEP - LOW + 1
    assert table.table.item(3, CHOICES).text() == "0.0001, 0.01"
    assert table.table.item(3, CHOICES).flags() & Qt.ItemFlag.ItemIsEditable
    assert not table.table.item(3, HIGH).flags() & Qt.ItemFlag.ItemIsEditable
    table.type_combo(3).setCurrentText("float")  # back to a range: the cells come apart
    assert table.table.columnSpan(3, LOW) == 1 and table.table.item(3, LOW).text()
    table.type_combo(3).setCurrentText("fixed")
    assert doc.spec.search_space.get("optimizer.lr").value == 0.001


def test_defaults_for_the_algorithm(qtbot, panel: SearchPanel, doc) -> None:
    table = panel.search_space
    assert table.defaults_button.text() == "Defaults for maml"
    qtbot.mouseClick(table.defaults_button, Qt.MouseButton.LeftButton)
    assert _names(doc) == [
        "algorithm.inner_lr",
        "algorithm.inner_steps",
        "optimizer.lr",
        "model.activation",
    ]
    inner = doc.spec.search_space.get("algorithm.inner_lr")
    assert (inner.low, inner.high, inner.log) == (0.001, 1.0, True)
    assert table.table.rowCount() == 4

    doc.set_value("algorithm.name", "protonet")
    doc.set_value("model.kind", "conv4")
    assert table.defaults_button.text() == "Defaults for protonet"
    qtbot.mouseClick(table.defaults_button, Qt.MouseButton.LeftButton)
    assert _names(doc) == ["optimizer.lr", "model.filters", "model.norm"]
    doc.undo_stack.undo()
    assert _names(doc)[0] == "algorithm.inner_lr"


def test_the_table_fits_the_dock_of_a_laptop_screen(qtbot, doc) -> None:
    # As wide as in the setup dock beside the plots on a 1280x800 screen: every column in
    # view (test_window_size checks the dock itself).
    table = SearchSpaceTable(doc)
    qtbot.addWidget(table)
    table.resize(527, 300)
    table.show()
    qtbot.waitUntil(lambda: table.table.viewport().width() > 500)
    view = table.table
    right = view.columnViewportPosition(CONDITION) + view.columnWidth(CONDITION)
    assert right <= view.viewport().width()
    assert view.columnWidth(CONDITION) >= 80
    assert not view.horizontalScrollBar().isVisible()
    categorical = next(i for i, r in enumerate(table.rows()) if r.type == "categorical")
    assert view.columnSpan(categorical, CHOICES) == 4  # its choices in plain view
