"""The strategy panel's execution editor: parallel trials on Ray, bound to the document's
``execution`` section with undo, and absent from the file while everything is at its default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from test_panels_support import type_into

from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import StrategyPanel
from metagui.qt.panels._execution_editor import ExecutionEditor, execution_hint


@pytest.fixture
def editor(qtbot: QtBot, doc: ExperimentDocument) -> ExecutionEditor:
    widget = ExecutionEditor(doc)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_the_default_editor_leaves_execution_absent(
    editor: ExecutionEditor, doc: ExperimentDocument, tmp_path: Path
) -> None:
    assert doc.spec.execution is None
    assert editor.parallel.value() == 1 and editor.parallel.text() == "1 (in this process)"
    assert editor.address.text() == "local"
    assert not editor.cpus.isEnabled() and not editor.retry.isEnabled()  # Ray's settings
    editor.retry.setChecked(False)  # a "change" to what is already shown: no edit
    editor.address.editingFinished.emit()
    assert doc.spec.execution is None and not doc.undo_stack.canUndo()
    doc.save(tmp_path / "e.yaml")
    assert "execution" not in yaml.safe_load((tmp_path / "e.yaml").read_text(encoding="utf-8"))
    assert "in this process" in editor.hint.text()


def test_editing_writes_the_section_and_undo_restores_it(
    qtbot: QtBot, editor: ExecutionEditor, doc: ExperimentDocument, tmp_path: Path
) -> None:
    editor.parallel.setValue(4)
    execution = doc.spec.execution
    assert execution is not None and execution.parallel == 4 and execution.address == "local"
    assert editor.gpus.isEnabled() and editor.retry.isEnabled()
    assert "4 trials at once" in editor.hint.text() and "this machine" in editor.hint.text()
    editor.gpus.setValue(0.25)
    editor.cpus.setValue(2.0)
    editor.retry.setChecked(True)
    type_into(qtbot, editor.address, "10.0.0.5:6379")
    execution = doc.spec.execution
    assert execution is not None
    assert (execution.gpus_per_trial, execution.cpus_per_trial) == (0.25, 2.0)
    assert execution.retry_lost_trials and execution.address == "10.0.0.5:6379"
    assert "10.0.0.5:6379" in editor.hint.text()
    doc.save(tmp_path / "e.yaml")
    saved = yaml.safe_load((tmp_path / "e.yaml").read_text(encoding="utf-8"))["execution"]
    assert saved == {
        "parallel": 4,
        "address": "10.0.0.5:6379",
        "cpus_per_trial": 2.0,
        "gpus_per_trial": 0.25,
        "retry_lost_trials": True,
    }

    for _ in range(4):  # address, retry, cpus, gpus
        doc.undo_stack.undo()
    execution = doc.spec.execution
    assert execution is not None and execution.parallel == 4 and execution.gpus_per_trial == 0
    assert editor.address.text() == "local" and editor.gpus.value() == 0.0
    doc.undo_stack.undo()
    assert doc.spec.execution is None
    assert editor.parallel.value() == 1 and not editor.gpus.isEnabled()
    doc.undo_stack.redo()
    assert editor.parallel.value() == 4


def test_back_to_the_defaults_removes_the_section(
    qtbot: QtBot, editor: ExecutionEditor, doc: ExperimentDocument
) -> None:
    editor.parallel.setValue(2)
    assert doc.spec.execution is not None
    editor.parallel.setValue(1)
    assert doc.spec.execution is None
    # An empty address means local: back at the defaults, the section goes again.
    type_into(qtbot, editor.address, "ray://head:10001")
    assert doc.spec.execution is not None and doc.spec.execution.address == "ray://head:10001"
    editor.address.clear()
    qtbot.keyClick(editor.address, Qt.Key.Key_Return)
    assert doc.spec.execution is None and editor.address.text() == "local"


def test_the_editor_follows_the_document(editor: ExecutionEditor, doc: ExperimentDocument) -> None:
    doc.set_value("execution", {"parallel": 3, "gpus_per_trial": 0.125})
    assert editor.parallel.value() == 3 and editor.gpus.isEnabled()
    # Shown to two decimals, kept exact: another edit does not round 0.125 to 0.13.
    editor.retry.setChecked(True)
    execution = doc.spec.execution
    assert execution is not None
    assert execution.gpus_per_trial == 0.125 and execution.retry_lost_trials


def test_the_strategy_panel_has_the_execution_group(qtbot: QtBot, doc: ExperimentDocument) -> None:
    panel = StrategyPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    panel.execution.parallel.setValue(2)
    assert doc.spec.execution is not None and doc.spec.execution.parallel == 2


def test_the_hint_says_where_trials_run() -> None:
    assert "one trial at a time" in execution_hint(None).lower()
    assert "Ray" in execution_hint(None)
    assert execution_hint({"parallel": 1, "address": "head:6379"}) == (
        "Runs one trial at a time on the Ray cluster at head:6379."
    )
