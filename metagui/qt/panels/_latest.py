"""Work for a panel done off the GUI thread, debounced, newest request wins.

A panel asks for something that may take a while (a task-set preview reads a whole dataset;
ranking the studies of a history fingerprints the experiment, which may hash its data files)
each time the user edits. :class:`LatestLoader` runs the work in its own single-thread
``QThreadPool``: the newest request wins (a queued older one is dropped, a running one
finishes and its result is ignored), and :meth:`LatestLoader.shutdown` waits for the thread
so none outlives the panel.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from metagui.core.errors import MetaguiError
from metagui.qt._gc import worker_thread

__all__ = ["LatestLoader"]


class _Sink(QObject):
    """Carries a job's result to the GUI thread (it lives there: emits are queued)."""

    done = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    def __init__(self, generation: int, work: Callable[[], object], sink: _Sink) -> None:
        super().__init__()
        self._generation, self._work, self._sink = generation, work, sink

    def run(self) -> None:
        with worker_thread():
            self._run()

    def _run(self) -> None:
        outcome: tuple[bool, object]
        try:
            outcome = (True, self._work())
        except MetaguiError as exc:  # a message written for the user (names field or file)
            outcome = (False, str(exc))
        except Exception as exc:  # any other failure still belongs where the result goes
            outcome = (False, f"{type(exc).__name__}: {exc}")
        try:
            if outcome[0]:
                self._sink.done.emit(self._generation, outcome[1])
            else:
                self._sink.failed.emit(self._generation, str(outcome[1]))
        except RuntimeError:  # the panel is gone: nobody is waiting for this result
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
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
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
        self._pool.start(_Job(self._generation, work, self._sink))
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
