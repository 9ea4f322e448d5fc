"""Drives a study off the GUI thread: the core runner generator, stepped in a job of the app's
one kind (:mod:`metagui.qt._background`) on the worker's own single-thread pool.

A study run is no request/response job (:class:`~metagui.qt._latest.LatestLoader`): it lasts
minutes or hours, streams its reports, can be held and resumed, and must end by closing its
generator. Those are this module's; the thread, its garbage-collection rule and the way reports
reach the GUI thread are the same as every other background job's.

Stop, pause and resume take effect at the generator's next yield (the engine yields at least
every ~100 ms); a paused run blocks on an event at that yield, and a stopped or failed one is
closed there (``GeneratorExit``: the runner records the running trial and closes the history)
before ``finished``. Reports cross to the GUI thread as queued ``Signal(object)`` emits of the
worker, which lives there; ``Tick`` reports are not forwarded at all, so the GUI thread only
sees what it draws. Every receiver of these signals must be a ``@Slot`` (PySide6 6.8+ requires
it for cross-thread delivery).
"""

from __future__ import annotations

import threading
import traceback
import weakref
from collections.abc import Callable, Generator
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from metagui.core.reports import Tick
from metagui.qt._background import single_thread_pool, start_in

__all__ = ["StudyWorker", "running_workers"]

_WORKERS: weakref.WeakSet[StudyWorker] = weakref.WeakSet()


def running_workers() -> int:
    """How many study workers are running (tests check none is left behind)."""
    return sum(1 for w in list(_WORKERS) if shiboken6.isValid(w) and w.is_running())


def _described(exc: Exception) -> tuple[str, str]:
    """What the user reads of ``exc``: an error a user can cause or meet (a
    :class:`MetaguiError`: a full disk, a read-only or damaged history, a study run elsewhere)
    is its own one-line message and nothing else; anything else is a bug, shown with its type
    and its traceback as the details."""
    from metagui.core.errors import MetaguiError

    if isinstance(exc, MetaguiError):
        return str(exc), ""
    return f"{type(exc).__name__}: {exc}", traceback.format_exc()


class StudyWorker(QObject):
    """Runs ``make_generator()`` (e.g. ``StudyRunner(...).run``) in its own thread, once.

    Signals: ``report(object)`` for every non-tick report, ``failed(str, str)`` with the
    message and the details of an exception (see :func:`_described`), ``finished()`` when the
    run is done (normally, stopped or failed; its generator closed), last;
    ``paused_changed(bool)``."""

    report = Signal(object)
    failed = Signal(str, str)
    finished = Signal()
    paused_changed = Signal(bool)

    def __init__(
        self,
        make_generator: Callable[[], Generator[Any, None, None]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._make = make_generator
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._pool = single_thread_pool(self)
        self._started = False

    # -- control (GUI thread) ------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError("a study worker runs once")
        self._started = True
        _WORKERS.add(self)
        start_in(self._pool, self._work)

    def pause(self) -> None:
        self._running.clear()
        self.paused_changed.emit(True)

    def resume(self) -> None:
        self._running.set()
        self.paused_changed.emit(False)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        """Ask the run to stop at its next yield (a paused run stops too)."""
        self._stop.set()
        self._running.set()

    def is_running(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the run's thread has ended (False if it did not within ``ms``)."""
        return self._pool.waitForDone(ms)

    # -- the thread ----------------------------------------------------------------------------
    def _work(self) -> None:
        generator: Generator[Any, None, None] | None = None
        try:
            generator = self._make()
            for item in generator:
                if self._stop.is_set():
                    break
                if not isinstance(item, Tick):
                    self.report.emit(item)
                if not self._running.is_set():
                    # Paused: the generator stays suspended at this yield until resumed.
                    self._running.wait()
                    if self._stop.is_set():
                        break
        except Exception as exc:
            self.failed.emit(*_described(exc))
        finally:
            if generator is not None:
                try:
                    # Closing raises GeneratorExit at the yield: the runner marks the running
                    # trial and closes the database before this thread ends.
                    generator.close()
                except Exception as exc:
                    self.failed.emit(*_described(exc))
            self.finished.emit()
