"""Run (F5, the toolbar button, the menu) and Save while the user is still typing in a field
of the setup: the command uses the typed value, which is committed first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QApplication, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from test_main_window import tiny_spec
from test_panels_support import make_image_folder, type_into, with_taskset

from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment
from metagui.qt._settings import AppSettings
from metagui.qt.main_window import MainWindow
from metagui.qt.panels._search_table import HIGH


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow(AppSettings(), restore=False)
    win.persist_settings = False
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()  # shortcuts and the focus work in the active window only
    qtbot.waitUntil(win.isActiveWindow)
    yield win
    win.close()


@pytest.fixture
def runs(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> list[ExperimentSpec]:
    """The specs the window hands to its run controller (no study is started)."""
    started: list[ExperimentSpec] = []
    monkeypatch.setattr(window.run, "start", lambda spec, _db, **_kw: started.append(spec))
    return started


def _focus_and_type(qtbot: QtBot, window: MainWindow, widget: QWidget, text: str) -> None:
    """Type ``text`` over the field's text and stay in the field (no Enter, no Tab)."""
    window.setup_tabs.setCurrentWidget(_tab_of(window, widget))
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() in (widget, _line_of(widget)))
    type_into(qtbot, widget, text, finish=False)


def _line_of(widget: QWidget) -> QLineEdit:
    line = widget.lineEdit() if isinstance(widget, QAbstractSpinBox) else widget
    assert isinstance(line, QLineEdit)
    return line


def _tab_of(window: MainWindow, widget: QWidget) -> QWidget:
    tabs = window.setup_tabs
    for i in range(tabs.count()):
        if tabs.widget(i).isAncestorOf(widget):
            return tabs.widget(i)
    raise AssertionError(f"{widget} is on no setup tab")


def _press_f5(qtbot: QtBot, window: MainWindow) -> None:
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, Qt.Key.Key_F5)


def _click_toolbar_run(qtbot: QtBot, window: MainWindow) -> None:
    button = window.toolbar.widgetForAction(window.commands.run)
    assert isinstance(button, QAbstractButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _menu_run(qtbot: QtBot, window: MainWindow) -> None:
    window.commands.run.trigger()  # what choosing Run > Run does


HOW: dict[str, Callable[[QtBot, MainWindow], None]] = {
    "F5": _press_f5,
    "toolbar": _click_toolbar_run,
    "menu": _menu_run,
}


@pytest.mark.parametrize("how", list(HOW))
def test_run_uses_the_root_folder_being_typed(
    qtbot: QtBot, window: MainWindow, runs: list[ExperimentSpec], tmp_path: Path, how: str
) -> None:
    old = make_image_folder(tmp_path / "old")
    new = make_image_folder(tmp_path / "new")
    spec = with_taskset(
        tiny_spec("typed"), family="image_folder", root=str(old), n_way=2, k_shot=1, q_query=1
    )
    window.doc.reset(spec)
    root = window.taskset_panel.forms["image_folder"].editor("root")
    _focus_and_type(qtbot, window, root, str(new))
    assert window.doc.spec.taskset.root == str(old)  # not committed yet: still typing

    HOW[how](qtbot, window)

    assert [s.taskset.root for s in runs] == [str(new)]  # type: ignore[union-attr]
    assert window.doc.spec.taskset.root == str(new)
    assert QApplication.focusWidget() is root  # the user can go on typing


def test_run_uses_a_number_being_typed_in_a_spin_box(
    qtbot: QtBot, window: MainWindow, runs: list[ExperimentSpec]
) -> None:
    window.doc.reset(tiny_spec("typed", iterations=6))
    iterations = window.search_panel.training.editor("iterations")
    assert isinstance(iterations, QAbstractSpinBox)
    _focus_and_type(qtbot, window, iterations, "42")
    assert window.doc.spec.training.iterations == 6

    _press_f5(qtbot, window)

    assert [s.training.iterations for s in runs] == [42]


def test_run_uses_a_search_space_cell_being_edited(
    qtbot: QtBot, window: MainWindow, runs: list[ExperimentSpec]
) -> None:
    window.doc.reset(tiny_spec("typed"))  # one parameter: optimizer.lr in [0.001, 0.01]
    table = window.search_panel.search_space.table
    window.setup_tabs.setCurrentWidget(_tab_of(window, table))
    item = table.item(0, HIGH)
    assert item is not None and item.text() == "0.01"
    table.setFocus()
    table.setCurrentItem(item)
    table.editItem(item)
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit))
    cell = QApplication.focusWidget()
    assert isinstance(cell, QLineEdit) and table.isAncestorOf(cell)
    type_into(qtbot, cell, "0.05", finish=False)

    _press_f5(qtbot, window)

    assert [s.search_space.get("optimizer.lr").high for s in runs] == [0.05]  # type: ignore[union-attr]
    assert QApplication.focusWidget() is table  # the cell's editor closed, as after Enter


def test_text_that_does_not_validate_runs_nothing(
    qtbot: QtBot, window: MainWindow, runs: list[ExperimentSpec], tmp_path: Path
) -> None:
    window.doc.reset(tiny_spec("typed"))
    name = window.strategy_panel.experiment.editor("name")
    _focus_and_type(qtbot, window, name, "")
    qtbot.keyClick(name, Qt.Key.Key_Backspace)  # an empty name is refused as it is typed
    assert not window.doc.is_valid

    window.start_run()

    assert runs == [] and window.doc.spec.name == "typed"


def test_save_writes_the_value_being_typed(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    path = tmp_path / "experiment.yaml"
    window.doc.reset(tiny_spec("before"))
    assert window.save_experiment_to(path)
    name = window.strategy_panel.experiment.editor("name")
    _focus_and_type(qtbot, window, name, "after")

    qtbot.keyClick(name, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    assert load_experiment(path).name == "after"
