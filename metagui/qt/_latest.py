"""Request/response work off the GUI thread, debounced, newest request wins.

An owner asks for something that may take a while each time the user edits or the data
changes: a task-set preview reads a whole dataset, ranking the studies of a history
fingerprints the experiment (which may hash its data files), parameter importance fits a model
over the completed trials. :class:`LatestLoader` runs the work the app's one way
(:mod:`metagui.qt._background`): on its own single-thread pool, the outcome carried to the GUI
thread by a sink's queued signal. The newest request wins (a queued older one is dropped, a
running one finishes and its result is ignored), and :meth:`LatestLoader.shutdown` waits for
the thread so none outlives the owner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

from metagui.core.errors import MetaguiError
from metagui.qt._background import single_thread_pool, start_in

__all__ = ["LatestLoader"]


class _Sink(QObject):
    """Carries a job's result to the GUI thread (it lives there: emits are queued)."""

    done = Signal(int, object)
    failed = Signal(int, str)


def _call(generation: int, work: Callable[[], object], sink: _Sink) -> None:
    """In the pool's thread: ``work()``, its outcome emitted through ``sink``."""
    outcome: tuple[bool, object]
    try:
        outcome = (True, work())
    except MetaguiError as exc:  # a message written for the user (names field or file)
        outcome = (False, str(exc))
    except Exception as exc:  # any other failure still belongs where the result goes
        outcome = (False, f"{type(exc).__name__}: {exc}")
    try:
        if outcome[0]:
            sink.done.emit(generation, outcome[1])
        else:
            sink.failed.emit(generation, str(outcome[1]))
    except RuntimeError:  # the owner is gone: nobody is waiting for this result
        pass


class LatestLoader(QObject):
    """``submit(work)`` calls ``work()`` in a worker thread ``delay_ms`` after the last
    request; ``ready(result)`` or ``failed(message)`` report the newest request's outcome,
    ``started()`` that a call began. ``work`` must not touch widgets."""

    ready = Signal(object)
    failed = Signal(str)
    started = Signal()

    def __init__(self, delay_ms: int = 400, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Created before the sink, so that on destruction the pool (whose destructor waits
        # for its thread) goes first and no job can emit through a deleted sink.
        self._pool = single_thread_pool(self)
        self._sink = _Sink(self)
        self._sink.done.connect(self._on_done)
        self._sink.failed.connect(self._on_failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)
        self._work: Callable[[], object] | None = None
        self._generation = 0
        self._running = 0  # generation of the job whose outcome has not arrived yet, or 0
        app = QCoreApplication.instance()
        if app is not None:  # no job outlives the application, whoever owns the loader
            app.aboutToQuit.connect(self.shutdown)

    def submit(self, work: Callable[[], object], *, now: bool = False) -> None:
        """Call ``work`` after the debounce delay (``now``: at once)."""
        self._work = work
        if now:
            self._timer.stop()
            self._start()
        else:
            self._timer.start()

    def cancel(self) -> None:
        """Forget the pending request and ignore the outcome of a running one."""
        self._timer.stop()
        self._work = None
        self._generation += 1
        self._running = 0
        self._pool.clear()

    @property
    def busy(self) -> bool:
        """A request waits for its delay or its result."""
        return self._timer.isActive() or self._running != 0

    def active_threads(self) -> int:
        return self._pool.activeThreadCount()

    def shutdown(self) -> None:
        """Stop pending work and wait for a running call (call before the owner goes)."""
        self.cancel()
        self._pool.waitForDone()

    def accept(self, result: object) -> bool:
        """Whether ``result`` is what this loader's work returns (a subclass checks)."""
        return True

    @Slot()
    def _start(self) -> None:
        if self._work is None:
            return
        work, self._work = self._work, None
        self._generation += 1
        self._running = self._generation
        self._pool.clear()  # a job still queued is stale now
        start_in(self._pool, functools.partial(_call, self._generation, work, self._sink))
        self.started.emit()

    @Slot(int, object)
    def _on_done(self, generation: int, result: object) -> None:
        if generation == self._generation:
            self._running = 0
            assert self.accept(result)
            self.ready.emit(result)

    @Slot(int, str)
    def _on_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._running = 0
            self.failed.emit(message)
