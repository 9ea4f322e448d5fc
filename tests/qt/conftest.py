"""GUI tests: offscreen Qt, isolated settings, and no thread, timer or window left behind; and
the fixtures several test files share (the views' study, the panels' document)."""

from __future__ import annotations

import os

# Before any QApplication exists: render offscreen, never on a real display.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QUICK_BACKEND", "software")

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_views_data import Clock, History

    from metagui.qt._document import ExperimentDocument
    from metagui.qt._history_model import HistoryModel


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


# -- the view tests' study (tests/qt/test_views_data.py writes it) ------------------------------
@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The history writer's wall clock, faked: trials take realistic minutes."""
    from test_views_data import Clock

    from metagui.core.history import _writer as writer_module

    fake = Clock()
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def history(tmp_path: Path, clock: Clock) -> Iterator[History]:
    """The realistic study of :func:`test_views_data.write_study`, its writer still open
    (tests write on, as a running study would). Files whose ``history`` is another thing
    define their own."""
    from test_views_data import write_study

    built = write_study(tmp_path / "history.db", clock)
    yield built
    built.writer.close()


@pytest.fixture
def model(history: History) -> Iterator[HistoryModel]:
    """A history model over :func:`history`."""
    from metagui.qt._history_model import HistoryModel

    hm = HistoryModel()
    hm.open(history.path)
    yield hm
    hm.close()


# -- the panel tests' document -------------------------------------------------------------------
@pytest.fixture
def doc() -> ExperimentDocument:
    """The sinusoid search example, open as a document (the task-set panel's tests start from
    an empty one: their own ``doc``)."""
    from test_panels_support import EXAMPLES

    from metagui.core.experiment_io import load_experiment
    from metagui.qt._document import ExperimentDocument

    return ExperimentDocument(load_experiment(EXAMPLES / "sinusoid-search.yaml"))
