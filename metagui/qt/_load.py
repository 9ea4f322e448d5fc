"""How busy the GUI thread is: the share of recent wall time it spent running."""

from __future__ import annotations

import threading
import time
from collections import deque

from PySide6.QtCore import QCoreApplication, QObject

__all__ = ["GuiThreadLoad", "gui_thread_load"]


class GuiThreadLoad(QObject):
    """The GUI thread's recent load: the processor time it used (``time.thread_time``) over
    the last ``window_s`` seconds of wall time, from the samples its calls to
    :meth:`busy_fraction` take (only the GUI thread may call it).

    Live views use it to pace their redraws while a study trains in another thread: with both
    threads running Python, each millisecond the GUI thread runs is one the training does not
    get (see :class:`~metagui.qt.views.LiveView`)."""

    def __init__(self, parent: QObject | None = None, window_s: float = 2.0) -> None:
        super().__init__(parent)
        self.window_s = window_s
        self._thread = threading.get_ident()
        self._samples: deque[tuple[float, float]] = deque([self._sample()])  # (wall, cpu)

    def busy_fraction(self) -> float:
        """The share (0..1) of the wall time since the oldest sample in the window that this
        thread ran; 0 until a tenth of a second has been sampled."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("GuiThreadLoad.busy_fraction() is for the GUI thread only")
        now, cpu = self._sample()
        samples = self._samples
        samples.append((now, cpu))
        while len(samples) > 2 and samples[1][0] <= now - self.window_s:
            samples.popleft()
        then, cpu_then = samples[0]
        if now - then < 0.1:
            return 0.0
        return min(1.0, max(0.0, (cpu - cpu_then) / (now - then)))

    @staticmethod
    def _sample() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()


def gui_thread_load() -> GuiThreadLoad | None:
    """The application's load meter (made on first use), or None without an application."""
    app = QCoreApplication.instance()
    if app is None:
        return None
    load = app.findChild(GuiThreadLoad)
    if load is None:
        load = GuiThreadLoad(app)
    return load
