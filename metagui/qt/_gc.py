"""Cyclic garbage is freed in the GUI thread only, while worker threads run Python code."""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QTimer, Slot

__all__ = ["GuiThreadGarbageCollector", "collect_in_gui_thread", "worker_thread"]

_lock = threading.Lock()
_workers = 0  # worker threads now inside ``worker_thread()``
_active: list[GuiThreadGarbageCollector] = []  # started collectors
_suspended = False  # automatic collection is off because workers run (and only then)


class GuiThreadGarbageCollector(QObject):
    """While started, no collection outside the GUI thread frees anything.

    Why: a collection frees the wrappers of Qt objects left in reference cycles (pyqtgraph
    makes many) and so destroys those objects in whichever thread runs it. A QObject destroyed
    outside its own thread leaves its timers registered (a later timer event then reaches freed
    memory: a crash) or waits for a Qt lock that the GUI thread holds while it waits for the GIL
    (both threads hang). Python collects in whichever thread allocates, and the study, preview
    and importance threads allocate a lot (torch's pytree helpers alone leave about 60,000
    objects in cycles per second of meta-training). So, while started:

    - while no worker thread runs (none is inside :func:`worker_thread`), automatic collection
      works as usual: only the GUI thread runs Python code;
    - while one does, automatic collection is off, and every ``interval_ms`` the GUI thread
      collects as Python itself would have (:meth:`collect_young`): the young generation when
      enough objects were allocated, the middle one every ``threshold1`` of those, the whole
      heap only when the old generation grew by a quarter since the last full collection.
      Garbage of the training dies young, so each of these takes about a millisecond. The
      first check after the last worker left turns automatic collection back on;
    - a collection that starts in another thread anyway (a library calling ``gc.collect()``, a
      thread that is not marked) first freezes every tracked object (``gc.freeze``, which only
      relinks lists), so it finds nothing to free; the next tick unfreezes them and collects
      the whole heap in the GUI thread. That is the one long pause (a few hundred ms for the
      app's heap), and it happens only when something bypasses :func:`worker_thread`.

    Starting collects everything once; several collectors may be started (each stop undoes its
    own start; automatic collection comes back when the last one stops)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 50) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._callback = functools.partial(_freeze_outside, threading.get_ident())
        self._long_lived = 0  # objects in the oldest generation after the last full collection
        self._promoted = 0  # objects moved into it since (by the collections made here)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        global _suspended
        if self._timer.isActive():
            return
        self._collect(2)
        gc.callbacks.append(self._callback)
        with _lock:
            _active.append(self)
            if _workers and gc.isenabled():
                gc.disable()
                _suspended = True
        self._timer.start()

    def stop(self) -> None:
        global _suspended
        if not self._timer.isActive():
            return
        self._timer.stop()
        gc.callbacks.remove(self._callback)
        self.check()
        with _lock:
            _active.remove(self)
            if not _active and _suspended:
                gc.enable()
                _suspended = False

    @Slot()
    def check(self) -> None:
        """In this (the GUI) thread: collect what collections in other threads set aside;
        while workers run, collect as automatic collection would; once none runs any more,
        turn automatic collection back on."""
        global _suspended
        if gc.get_freeze_count():
            gc.unfreeze()
            self._collect(2)
        if not _suspended:
            return
        self.collect_young()
        with _lock:
            # Only here, in the GUI thread, and just after a collection: a worker that has just
            # left would otherwise start the first automatic collection itself.
            if not _workers and _suspended:
                gc.enable()
                _suspended = False

    def collect_young(self) -> int | None:
        """Collect the generation that Python's automatic collection would collect now, if
        any (see ``gc.set_threshold``); return it, or None."""
        counts = gc.get_count()
        thresholds = gc.get_threshold()
        if thresholds[0] == 0 or counts[0] <= thresholds[0]:
            return None
        generation = 0
        if counts[1] > thresholds[1]:
            generation = 1
        # As CPython does: the whole heap only once the objects moved into the oldest
        # generation since the last full collection are a quarter of those it left there, so
        # that full collections stay rare (each walks every object: ~200 ms for the app).
        if counts[2] > thresholds[2] and self._promoted > self._long_lived // 4:
            generation = 2
        self._collect(generation)
        return generation

    def _collect(self, generation: int) -> None:
        if generation == 1:
            # What survives a collection of the two young generations moves to the oldest.
            young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
            self._promoted += max(0, young - gc.collect(1))
            return
        gc.collect(generation)
        if generation == 2:
            self._long_lived = len(gc.get_objects(generation=2))
            self._promoted = 0


def _freeze_outside(gui_thread: int, phase: str, _info: dict[str, int]) -> None:
    """A ``gc.callbacks`` entry: a collection starting outside the GUI thread frees nothing."""
    if phase == "start" and threading.get_ident() != gui_thread:
        gc.freeze()


@contextmanager
def worker_thread() -> Iterator[None]:
    """Wrap the Python work of a worker thread (every job of
    :func:`metagui.qt._background.start_in` runs inside it): while any worker is inside,
    automatic collection is off and a started :class:`GuiThreadGarbageCollector` collects in
    the GUI thread instead (and turns it back on, at its next check after the last worker
    left). Without a started collector, or with automatic collection turned off by someone
    else, this only counts the workers."""
    global _workers, _suspended
    with _lock:
        _workers += 1
        if _active and gc.isenabled():
            gc.disable()
            _suspended = True
    try:
        yield
    finally:
        with _lock:
            _workers -= 1


def collect_in_gui_thread(app: QObject) -> GuiThreadGarbageCollector:
    """The collector of ``app`` (the QApplication), started for as long as ``app`` lives; one
    per application however often this is called."""
    collector = app.findChild(GuiThreadGarbageCollector)
    if collector is None:
        collector = GuiThreadGarbageCollector(app)
        collector.start()
    return collector
