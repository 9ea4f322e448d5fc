"""GUI tests: offscreen Qt, isolated settings, and no thread, timer or window left behind."""

from __future__ import annotations

import os

# Before any QApplication exists: render offscreen, never on a real display.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QUICK_BACKEND", "software")

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's settings, recent files and databases."""
    monkeypatch.setenv("METAGUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("METAGUI_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session", autouse=True)
def _gui_thread_collection(qapp: object) -> None:
    """As in the app (``create_application``): garbage cycles, Qt wrappers among them, are
    freed in the GUI thread only, never in the preview, plot or study threads."""
    from PySide6.QtWidgets import QApplication

    from metagui.qt._gc import collect_in_gui_thread

    app = QApplication.instance()
    assert app is not None
    collect_in_gui_thread(app)


def _visible_windows() -> dict[int, object]:
    """The visible top-level windows, by the address of their ``QWindow``.

    ``QGuiApplication.topLevelWindows()``, not ``QApplication.topLevelWidgets()``: the latter
    wraps every parentless widget Qt knows of, hidden ones and Qt's own internal popups
    included, and it crashed the suite now and then (a segfault inside PySide's wrapper
    lookup of such a widget, seen at random points of a run, before this project's parallel
    trials existed too). A window the user could see has a ``QWindow``; that is all this checks.
    """
    import shiboken6
    from PySide6.QtGui import QGuiApplication

    return {
        shiboken6.getCppPointer(w)[0]: w for w in QGuiApplication.topLevelWindows() if w.isVisible()
    }


@pytest.fixture(autouse=True)
def _no_leaks(qapp: object) -> Iterator[None]:
    """Fail a test that leaves a top-level window open or a QThread running."""
    from PySide6.QtWidgets import QApplication

    from metagui.qt._gc import collect_in_gui_thread
    from metagui.qt._worker import running_workers

    before = set(_visible_windows())
    yield
    QApplication.processEvents()
    # As the app's next timer tick would: automatic collection back on once no worker runs.
    app = QApplication.instance()
    assert app is not None
    collect_in_gui_thread(app).check()
    leaked = [w for key, w in _visible_windows().items() if key not in before]
    names = [w.title() or w.objectName() or type(w).__name__ for w in leaked]  # type: ignore[attr-defined]
    for w in leaked:
        w.close()  # type: ignore[attr-defined]
    assert not leaked, f"windows left open: {names}"
    assert running_workers() == 0, "a study worker thread is still running"
