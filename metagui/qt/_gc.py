"""Cyclic garbage is freed in the GUI thread only, while worker threads run Python code."""

from __future__ import annotations

import functools
import gc
import threading

from PySide6.QtCore import QObject, QTimer, Slot

__all__ = ["GuiThreadGarbageCollector", "collect_in_gui_thread"]


class GuiThreadGarbageCollector(QObject):
    """While started, no collection outside the GUI thread frees anything.

    Why: a collection frees the wrappers of Qt objects left in reference cycles (pyqtgraph
    makes many) and so destroys those objects in whichever thread runs it. A QObject destroyed
    outside its own thread leaves its timers registered (a later timer event then reaches freed
    memory: a crash) or waits for a Qt lock that the GUI thread holds while it waits for the GIL
    (both threads hang). Python collects in any thread that allocates: the study worker and the
    preview and plot threads allocate a lot. So, while started:

    - automatic collection stays as it is; in the GUI thread it works as usual (frequent, small
      collections of the young generation, so the event loop never waits long);
    - a collection that starts in another thread first freezes every tracked object
      (``gc.freeze``, which only relinks lists), so it finds nothing to free;
    - every ``interval_ms`` the timer unfreezes what such collections set aside and collects it
      in the GUI thread: one full collection, a few tens of milliseconds, rarely.

    Starting collects everything once; several collectors may run at once (each stop undoes its
    own start)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 15_000) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._callback = functools.partial(_freeze_outside, threading.get_ident())

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        if self._timer.isActive():
            return
        gc.collect()
        gc.callbacks.append(self._callback)
        self._timer.start()

    def stop(self) -> None:
        if not self._timer.isActive():
            return
        self._timer.stop()
        gc.callbacks.remove(self._callback)
        self.check()

    @Slot()
    def check(self) -> None:
        """Collect, in this (the GUI) thread, what collections in other threads set aside."""
        if gc.get_freeze_count():
            gc.unfreeze()
            gc.collect()


def _freeze_outside(gui_thread: int, phase: str, _info: dict[str, int]) -> None:
    """A ``gc.callbacks`` entry: a collection starting outside the GUI thread frees nothing."""
    if phase == "start" and threading.get_ident() != gui_thread:
        gc.freeze()


def collect_in_gui_thread(app: QObject) -> GuiThreadGarbageCollector:
    """The collector of ``app`` (the QApplication), started for as long as ``app`` lives; one
    per application however often this is called."""
    collector = app.findChild(GuiThreadGarbageCollector)
    if collector is None:
        collector = GuiThreadGarbageCollector(app)
        collector.start()
    return collector
