"""The main window's size: from the screen's available area on first start, the saved geometry
only where it fits the screen, and the setup dock's share of the width."""

from __future__ import annotations

import base64

import pytest
from PySide6.QtCore import QRect, QSize
from pytestqt.qtbot import QtBot

from metagui.qt import main_window as main_window_module
from metagui.qt._settings import AppSettings
from metagui.qt._window_size import PREFERRED_SIZE, first_geometry, fits, setup_dock_width
from metagui.qt.main_window import MainWindow

LAPTOP = QRect(0, 0, 1280, 800)


def test_first_geometry_fits_a_small_screen_and_keeps_the_preferred_size_on_a_large_one() -> None:
    small = first_geometry(LAPTOP)
    assert LAPTOP.contains(small) and small.width() <= 1280 - 16 and small.height() <= 800 - 40
    assert small.width() >= 1200 and small.height() >= 700  # and uses the room it has
    large = first_geometry(QRect(0, 0, 1920, 1080))
    assert large.size() == PREFERRED_SIZE
    assert abs(large.center().x() - 960) <= 1
    offset = first_geometry(QRect(1920, 24, 1280, 776))  # a second screen, a top panel
    assert QRect(1920, 24, 1280, 776).contains(offset)


def test_fits_needs_the_whole_frame_on_the_screen() -> None:
    assert fits(QRect(10, 10, 1200, 700), LAPTOP)
    assert not fits(QRect(0, 0, 1440, 900), LAPTOP)
    assert not fits(QRect(-20, 0, 800, 600), LAPTOP)
    assert not fits(QRect(), LAPTOP)


def test_the_setup_dock_gets_about_two_fifths_within_bounds() -> None:
    assert setup_dock_width(1264) == 581
    assert setup_dock_width(800) == 460
    assert setup_dock_width(2560) == 700


def _fake_screen(monkeypatch: pytest.MonkeyPatch, rect: QRect) -> None:
    monkeypatch.setattr(main_window_module, "available_geometry", lambda _widget=None: rect)


def test_first_start_sizes_the_window_for_the_screen(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_screen(monkeypatch, LAPTOP)
    window = MainWindow(AppSettings())
    window.persist_settings = False
    qtbot.addWidget(window)
    window.show()
    assert LAPTOP.contains(window.frameGeometry()), window.frameGeometry()
    assert window.size() == first_geometry(LAPTOP).size()
    # Everything the user needs is inside: the status bar at the bottom of the window.
    status = window.statusBar()
    assert status.isVisible() and status.geometry().bottom() <= window.height()
    qtbot.waitUntil(lambda: abs(window.setup_dock.width() - setup_dock_width(window.width())) < 8)
    window.close()


def _saved(geometry: QRect) -> AppSettings:
    """Settings holding the geometry of a window that had ``geometry``."""
    donor = MainWindow(AppSettings(), restore=False)
    donor.persist_settings = False
    donor.setGeometry(geometry)
    encoded = base64.b64encode(donor.saveGeometry().data()).decode("ascii")
    donor.deleteLater()
    return AppSettings(geometry=encoded)


def test_a_saved_geometry_is_restored_only_where_it_fits(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Smaller than the 800x800 offscreen screen, which Qt itself clamps a restore to.
    small_screen = QRect(0, 0, 780, 560)
    _fake_screen(monkeypatch, small_screen)
    fitting = QRect(20, 30, 740, 500)
    restored = MainWindow(_saved(fitting))
    restored.persist_settings = False
    qtbot.addWidget(restored)
    assert restored.geometry() == fitting

    too_big = MainWindow(_saved(QRect(0, 0, 1440, 900)))
    too_big.persist_settings = False
    qtbot.addWidget(too_big)
    assert small_screen.contains(too_big.geometry())
    assert too_big.size() == first_geometry(small_screen).size()
    assert too_big.size() != QSize(1440, 900)
