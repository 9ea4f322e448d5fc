"""Starting the desktop app: the QApplication (after checking that Qt can open a window here),
the stylesheet, the error hook, the window; and the screenshot mode (``metagui --screenshot``)
that renders the window offscreen. How it ends is ``_shutdown``'s.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from metagui._resources import resources_dir
from metagui.qt import error_dialog
from metagui.qt._gc import collect_in_gui_thread
from metagui.qt._shutdown import install_shutdown

__all__ = ["DEMO_EXPERIMENT", "create_application", "load_stylesheet", "run_app"]

log = logging.getLogger(__name__)

DEMO_EXPERIMENT = resources_dir() / "examples" / "demo-study.yaml"
SCREENSHOT_SIZE = (1600, 1000)
PREVIEW_WAIT_S = 15.0  # the longest a screenshot waits for the task-set preview


def load_stylesheet() -> str:
    """The one application stylesheet, ``resources/style.qss`` (empty if it is missing), with
    ``@icons/`` in its ``url(...)`` replaced by the icons folder (Qt resolves a relative url
    against the working directory, not the sheet)."""
    path = resources_dir() / "style.qss"
    try:
        sheet = path.read_text(encoding="utf-8")
    except OSError:
        log.warning("no stylesheet at %s", path)
        return ""
    return sheet.replace("url(@icons/", f"url({(resources_dir() / 'icons').as_posix()}/")


def create_application(
    argv: Sequence[str] | None = None, *, offscreen: bool = False
) -> QApplication:
    """The QApplication (the existing one if there is one), styled.

    ``offscreen`` selects Qt's offscreen platform; it must be decided before the first
    QApplication exists, which is why this sets the environment variable first. Where Qt could
    not open a window (no display, or system libraries missing for its X11 plugin: Qt would
    abort the process), this raises a ``MetaguiError`` that says what to do instead. A
    QApplication made here is shut down in order when its loop quits and at exit."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        from metagui.core.errors import MetaguiError
        from metagui.qt._display import window_problem

        problem = window_problem()
        if problem is not None:
            raise MetaguiError(problem)
        app = QApplication([sys.argv[0] if sys.argv else "metagui", *(argv or [])])
        install_shutdown(app)
    app.setApplicationName("metagui")
    # Worker threads (the study, plot computations, previews) run Python code all the time:
    # garbage with Qt objects in it must be freed in this thread only.
    collect_in_gui_thread(app)
    app.setOrganizationName("metagui")
    app.setApplicationDisplayName("metagui")
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "app.svg")))
    app.setStyle("Fusion")
    app.setStyleSheet(load_stylesheet())
    return app


def run_app(
    *,
    experiment: str | None = None,
    database: str | None = None,
    demo: bool = False,
    screenshot: str | None = None,
    run_seconds: float | None = None,
    plot: str | None = None,
    show: str | None = None,
    setup: str | None = None,
) -> int:
    """Open the main window (``metagui`` without a command) and return the exit code.

    With ``screenshot``, render it offscreen instead: open ``experiment`` (or the demo), run it
    for ``run_seconds`` if given, save the window as a PNG, stop the run cleanly and return.
    ``show="history"``: the History tab in front, ``database`` open in it (the newest study
    selected, ``plot`` its plot in front). ``setup``: the setup tab in front in the picture
    (``"taskset"``, ``"search"`` or ``"strategy"``)."""
    app = create_application(offscreen=screenshot is not None)
    if screenshot is not None:
        return _screenshot(
            app, screenshot, experiment, database, demo, run_seconds, plot, show, setup
        )
    return _interactive(app, experiment, database, demo, run_seconds, show)


def _interactive(
    app: QApplication,
    experiment: str | None,
    database: str | None,
    demo: bool,
    run_seconds: float | None,
    show: str | None = None,
) -> int:
    from metagui.qt.main_window import MainWindow

    window = MainWindow(database=database)
    previous = error_dialog.install_excepthook(lambda: window)
    try:
        window.show()
        if show == "history" and database is not None:
            window.open_history(database)
        if experiment or demo:
            opened = (
                window.open_experiment(experiment)
                if experiment
                else window.open_copy(DEMO_EXPERIMENT)
            )
            if opened and (demo or run_seconds):
                window.start_run()
                if run_seconds:
                    QTimer.singleShot(round(run_seconds * 1000), window, window.stop_run)
        return int(app.exec())
    finally:
        sys.excepthook = previous


def _screenshot(
    app: QApplication,
    output: str,
    experiment: str | None,
    database: str | None,
    demo: bool,
    run_seconds: float | None,
    plot: str | None = None,
    show: str | None = None,
    setup: str | None = None,
) -> int:
    from metagui.core.errors import MetaguiError
    from metagui.qt._settings import AppSettings
    from metagui.qt.main_window import MainWindow

    error_dialog.set_interactive(False)  # nobody can close a dialog offscreen: log errors
    scratch = None
    if database is None and (run_seconds or demo):
        # A picture is not an experiment: keep its run out of the user's history.
        scratch = tempfile.TemporaryDirectory(prefix="metagui-screenshot-")
        database = str(Path(scratch.name) / "history.sqlite")
    window = MainWindow(AppSettings(), database=database, restore=False)
    window.persist_settings = False
    previous = error_dialog.install_excepthook(lambda: window)
    try:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        path = experiment or (str(DEMO_EXPERIMENT) if demo else None)
        if path is not None:
            try:
                window.doc.open(path)  # no dialog can be answered here: report errors
            except (MetaguiError, OSError) as exc:
                print(f"metagui: error: {exc}", file=sys.stderr)
                return 2
        views = window.live
        if show == "history" and database is not None:
            if not window.open_history(database):
                print(f"metagui: error: {window.history.path_label.text()}", file=sys.stderr)
                return 2
            views = window.history.views
        if plot is not None:
            views.show_plot(plot)
        if setup is not None:
            window.show_setup(setup)
        loop = QEventLoop()
        if run_seconds or demo:
            window.start_run()
            deadline = time.monotonic() + (run_seconds or 0.0)
            while time.monotonic() < deadline and window.is_running():
                QTimer.singleShot(100, loop.quit)
                loop.exec()
            if plot is not None:
                # Again: a tab shown only for some studies (the Pareto front of a study of two
                # objectives) is there once the run has made its study.
                views.show_plot(plot)
        # The task-set preview and the warm-start ranking are made in threads: a picture
        # shows them, not "Loading…".
        deadline = time.monotonic() + PREVIEW_WAIT_S
        pool = window.strategy_panel.warm_start.pool
        while (window.taskset_panel.loader.busy or pool.busy) and time.monotonic() < deadline:
            QTimer.singleShot(50, loop.quit)
            loop.exec()
        # Let the views' redraw timers and the history poll catch up before the picture.
        for _ in range(6):
            QTimer.singleShot(60, loop.quit)
            loop.exec()
            app.processEvents()
        # A big study takes longer: until the plot in front and the trials table are drawn.
        shown = [views.table, views.tabs.currentWidget()]
        deadline = time.monotonic() + PREVIEW_WAIT_S
        while any(getattr(v, "needs_redraw", bool)() for v in shown):
            if time.monotonic() > deadline:
                break
            QTimer.singleShot(50, loop.quit)
            loop.exec()
        app.processEvents()
        target = Path(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(target), "PNG"):
            print(f"metagui: error: cannot write {target}", file=sys.stderr)
            return 2
        print(f"wrote {target}")
        return 0
    finally:
        window.run.stop_and_wait()
        window.close()
        window.deleteLater()
        app.processEvents()
        error_dialog.set_interactive(True)
        sys.excepthook = previous
        if scratch is not None:
            scratch.cleanup()
