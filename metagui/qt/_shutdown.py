"""Ending the app in a defined order, however the program ends.

Left to itself, PySide destroys the Qt objects still alive at interpreter exit in no particular
order while Python is already tearing its modules down: pyqtgraph's items then call back into
a half-finalised interpreter (a segfault, exit code 139), and a preview thread that is still
importing torch creates finalizers that run after torch's modules are cleared ("Exception
ignored ... torch/library.py _del_library TypeError"). So the QApplication that
``create_application`` makes is shut down while Python is still whole: its windows when the
event loop quits (``aboutToQuit``), and everything at exit (``atexit``), for a program that
never ran the loop or left windows open. In this order:

1. the study running in a window stops (recorded as interrupted, as by Stop: it can resume);
2. the windows close (their own clean-up: the preview thread, the history connections);
3. they are deleted, and Qt's thread pool is waited for;
4. the GUI-thread garbage collector stops and the QApplication is deleted.
"""

from __future__ import annotations

import atexit
import logging
import weakref

from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool
from PySide6.QtWidgets import QApplication, QMainWindow

__all__ = ["close_windows", "install_shutdown", "shut_down"]

log = logging.getLogger(__name__)

_installed: list[QApplication] = []


def install_shutdown(app: QApplication) -> None:
    """Shut ``app`` down in order when its event loop quits and at exit (once per process)."""
    if _installed:
        return
    _installed.append(app)
    # weakref.finalize registers its own at-exit hook (which runs pending finalizers while
    # modules are intact) the first time a finalizer is created. Torch creates its first ones
    # on import, which may happen in a preview thread while shut_down waits for it; a hook
    # registered during exit is never called. One finalizer now registers the hook before
    # ours, so that it runs after ours.
    weakref.finalize(shut_down, int).detach()
    atexit.register(shut_down)
    app.aboutToQuit.connect(close_windows)


def _windows(app: QApplication) -> list[QMainWindow]:
    """The application's main windows (open or closed but not yet deleted). Only these:
    other parentless widgets (pyqtgraph's menus, Qt's tooltips) belong to something else."""
    return [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow) and w.parent() is None]


def close_windows() -> bool:
    """Stop the study running in any main window, close and delete the windows. False if a
    run did not stop (its window is then left alone: deleting it would end a running thread)."""
    from metagui.qt import error_dialog

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return True
    error_dialog.set_interactive(False)  # nobody is left to close a dialog
    stopped = True
    try:
        windows = _windows(app)
        for window in windows:
            run = getattr(window, "run", None)
            stop_and_wait = getattr(run, "stop_and_wait", None)
            if callable(stop_and_wait) and not stop_and_wait():
                log.warning("the run of %s did not stop; leaving its window", window)
                stopped = False
                continue
            if window.isVisible():  # a closed window has had its clean-up
                window.close()
            window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    finally:
        error_dialog.set_interactive(True)
    return stopped


def shut_down() -> None:
    """Close the windows, wait for Qt's threads and delete the QApplication (at exit)."""
    from metagui.qt._gc import GuiThreadGarbageCollector

    app = QApplication.instance()
    if not isinstance(app, QApplication) or app not in _installed:
        return
    if not close_windows():
        return
    app.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QThreadPool.globalInstance().waitForDone()
    for collector in app.findChildren(GuiThreadGarbageCollector):
        collector.stop()
    _installed.clear()
    import shiboken6

    shiboken6.delete(app)
