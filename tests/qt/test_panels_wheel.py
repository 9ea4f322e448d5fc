"""The mouse wheel over the setup panels scrolls them; it changes a spin box, combo box or
slider only while that widget has the keyboard focus."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QScrollArea, QSlider, QSpinBox, QWidget
from pytestqt.qtbot import QtBot
from test_panels_support import field

from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import SearchPanel, guard_wheel
from metagui.qt.panels._search_table import TYPE


def _wheel(widget: QWidget, steps: int) -> QWheelEvent:
    """One notch of the wheel per step (negative: towards the user, scrolling down)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)
    return event


@pytest.fixture
def scrolled(qtbot: QtBot) -> tuple[QScrollArea, SearchPanel, ExperimentDocument]:
    doc = ExperimentDocument()
    assert doc.set_value("training.meta_batch_size", 2) is None
    panel = SearchPanel(doc)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    scroll.resize(520, 320)  # much shorter than the panel: it scrolls
    guard_wheel(scroll)
    qtbot.addWidget(scroll)
    scroll.show()
    qtbot.waitExposed(scroll)
    return scroll, panel, doc


def test_the_wheel_scrolls_the_panel_past_a_spin_box_without_changing_it(
    qtbot: QtBot, scrolled: tuple[QScrollArea, SearchPanel, ExperimentDocument]
) -> None:
    scroll, panel, doc = scrolled
    spin = field(panel.training, "meta_batch_size")
    assert isinstance(spin, QSpinBox) and not spin.hasFocus()
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus  # a wheel does not focus it
    scroll.ensureWidgetVisible(spin)
    bar = scroll.verticalScrollBar()
    bar.setValue(bar.value() // 2)
    before = bar.value()
    for _ in range(3):
        _wheel(spin, -1)
    assert spin.value() == 2 and doc.spec.training.meta_batch_size == 2
    assert bar.value() > before  # the panel scrolled instead

    combo = field(panel.optimizer, "name")
    assert isinstance(combo, QComboBox)
    scroll.ensureWidgetVisible(combo)
    before = bar.value()
    _wheel(combo, 1)
    assert doc.spec.optimizer.name == "adam" and combo.currentText() == "adam"
    assert bar.value() < before


def test_with_the_focus_the_wheel_changes_the_value(
    qtbot: QtBot, scrolled: tuple[QScrollArea, SearchPanel, ExperimentDocument]
) -> None:
    scroll, panel, doc = scrolled
    spin = field(panel.training, "meta_batch_size")
    scroll.ensureWidgetVisible(spin)
    scroll.activateWindow()
    spin.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(spin.hasFocus)
    bar = scroll.verticalScrollBar()
    before = bar.value()
    _wheel(spin, 1)
    assert spin.value() == 3 and doc.spec.training.meta_batch_size == 3
    assert bar.value() == before


def test_widgets_added_later_are_guarded_too(
    qtbot: QtBot, scrolled: tuple[QScrollArea, SearchPanel, ExperimentDocument]
) -> None:
    scroll, panel, doc = scrolled
    table = panel.search_space
    table.add_row()  # a row with a setting and a type combo, made after guard_wheel
    kind = table.table.cellWidget(0, TYPE)
    assert isinstance(kind, QComboBox)
    scroll.ensureWidgetVisible(kind)
    qtbot.waitUntil(lambda: kind.focusPolicy() == Qt.FocusPolicy.StrongFocus)
    chosen = kind.currentText()
    _wheel(kind, -1)
    _wheel(kind, -1)
    assert kind.currentText() == chosen
    assert doc.spec.search_space.params[0].type == chosen


def test_a_slider_is_guarded(qtbot: QtBot) -> None:
    holder = QScrollArea()
    slider = QSlider(Qt.Orientation.Horizontal)
    holder.setWidget(slider)
    guard_wheel(holder)
    qtbot.addWidget(holder)
    _wheel(slider, 2)
    assert slider.value() == 0


def test_the_main_window_guards_every_setup_panel(qtbot: QtBot) -> None:
    from metagui.qt._settings import AppSettings
    from metagui.qt.main_window import MainWindow

    window = MainWindow(AppSettings(), restore=False)
    window.persist_settings = False
    qtbot.addWidget(window)
    window.show()
    for panel in (window.taskset_panel, window.search_panel, window.strategy_panel):
        values = panel.findChildren(QSpinBox) + panel.findChildren(QComboBox)
        assert values and all(w.focusPolicy() == Qt.FocusPolicy.StrongFocus for w in values)
    window.setup_tabs.setCurrentWidget(window.setup_tabs.widget(1))
    spin = field(window.search_panel.training, "meta_batch_size")
    before = window.doc.spec.training.meta_batch_size
    _wheel(spin, -2)
    assert spin.value() == before == window.doc.spec.training.meta_batch_size
    window.close()
