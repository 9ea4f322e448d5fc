"""The GUI thread's load meter: the share of recent wall time it ran."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from metagui.qt._load import GuiThreadLoad, gui_thread_load


def test_an_idle_gui_thread_is_hardly_busy_and_a_working_one_is(qtbot: QtBot) -> None:
    load = GuiThreadLoad(window_s=0.5)
    try:
        load.busy_fraction()
        qtbot.wait(600)  # nothing to do: the loop sleeps
        assert load.busy_fraction() < 0.2

        # A timer that computes 40 ms out of every 50 (sleeping would not count).
        def work() -> None:
            until = time.perf_counter() + 0.04
            while time.perf_counter() < until:
                pass

        timer = QTimer()
        timer.setInterval(50)
        timer.timeout.connect(work)
        timer.start()
        for _ in range(7):  # the views sample as they tick
            qtbot.wait(100)
            busy = load.busy_fraction()
        timer.stop()
        assert 0.5 < busy <= 1.0

        for _ in range(7):  # idle again: the busy time leaves the window
            qtbot.wait(100)
            idle = load.busy_fraction()
        assert idle < 0.2
    finally:
        load.deleteLater()


def test_one_meter_per_application(qtbot: QtBot) -> None:
    first = gui_thread_load()
    assert first is not None and gui_thread_load() is first
