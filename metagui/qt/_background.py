"""The app's one way to run Python work off the GUI thread.

Every background job — a study run (:mod:`~metagui.qt._worker`), a task-set preview, the
warm-start ranking, parameter importance (:mod:`~metagui.qt._latest`) — is started with
:func:`start_in` on a :func:`single_thread_pool` that its owner holds as a child:

- one thread per owner: an owner's jobs never run side by side, and waiting for them is the
  pool's ``waitForDone`` (which also joins the thread), so an owner lets none outlive it;
- every job runs inside :func:`~metagui.qt._gc.worker_thread`: while it does, garbage is freed
  in the GUI thread only;
- results travel as signals of a QObject that lives in the GUI thread, emitted from the job's
  thread: Qt queues them, so their receivers (``@Slot`` methods) run in the GUI thread, in the
  order the job emitted them.

superqt's workers (napari's idiom) were a declared dependency and are not used: its
``GeneratorWorker`` leaves the generator open when aborted (the study runner's clean-up, which
records the running trial as interrupted and closes the history, must run at the yield, in the
worker thread, before ``finished``), polls a paused generator with ``sleep`` where an event can
block, swaps the process-wide warning filters from the worker thread (``catch_warnings`` around
``work``, racing the GUI thread's own), and starts on the application-wide pool.
``qdebounced`` debounces, but dropping the stale result of a request already being computed
needs the generation count of :class:`~metagui.qt._latest.LatestLoader` anyway. What would be
left after overriding all that is this module.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool

from metagui.qt._gc import worker_thread

__all__ = ["single_thread_pool", "start_in"]


def single_thread_pool(parent: QObject) -> QThreadPool:
    """A pool of one thread for ``parent``'s jobs, run one after the other. The thread ends
    with the last job, as a ``QThread`` would (no expiry delay): none idles between jobs,
    which come seconds apart at most, and starting one costs far less than any job."""
    pool = QThreadPool(parent)
    pool.setMaxThreadCount(1)
    pool.setExpiryTimeout(0)
    return pool


class _Job(QRunnable):
    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__()
        self._work = work

    def run(self) -> None:
        with worker_thread():
            self._work()


def start_in(pool: QThreadPool, work: Callable[[], None]) -> None:
    """Call ``work()`` in ``pool``'s thread, after the jobs queued before it. ``work`` reports
    through signals (see above), must not touch widgets, and handles its own exceptions."""
    pool.start(_Job(work))
