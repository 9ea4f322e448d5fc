"""Starting the app: ``metagui`` without a command, ``--demo``, ``--screenshot``, the
stylesheet, and the error hook for exceptions in slots."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from metagui.cli import main
from metagui.core.history import HistoryReader
from metagui.qt import error_dialog
from metagui.qt._worker import running_workers
from metagui.qt.app import DEMO_EXPERIMENT, create_application, load_stylesheet
from metagui.qt.error_dialog import ErrorDialog
from metagui.qt.main_window import MainWindow

LEARNING_RATE = {"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2, "log": True}
TINY = {
    "name": "shot",
    "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
    "model": {"hidden_sizes": [8]},
    "training": {
        "iterations": 6,
        "meta_batch_size": 2,
        "eval_every": 3,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 1,
    },
    "search_space": {
        "params": [
            {"name": "optimizer.lr", "type": "float", "low": 1e-3, "high": 1e-2, "log": True}
        ]
    },
    "strategy": {"name": "random"},
    "budget": {"trials": 2},
    "device": "cpu",
}


@pytest.fixture(autouse=True)
def _restore_the_application(qapp: QApplication) -> Iterator[None]:
    """The app code styles the shared QApplication: give the next tests the one they had."""
    sheet, style = qapp.styleSheet(), qapp.style().name()
    yield
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)


@pytest.fixture
def tiny_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "shot.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_the_one_stylesheet_styles_invalid_fields(qapp: QApplication) -> None:
    sheet = load_stylesheet()
    assert '*[invalid="true"]' in sheet and "#fdecea" in sheet
    app = create_application()
    assert app is qapp  # the running QApplication is reused
    assert app.styleSheet() == sheet and app.applicationName() == "metagui"
    # The arrows drawn for invalid spin and combo boxes point at files that exist.
    urls = re.findall(r"url\(([^)]+)\)", sheet)
    assert urls and all(Path(url).is_absolute() and Path(url).is_file() for url in urls)


def test_screenshot_of_the_window_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "shots" / "main.png"
    assert main(["--screenshot", str(target)]) == 0
    image = QImage(str(target))
    assert not image.isNull() and (image.width(), image.height()) == (1600, 1000)
    assert not any(isinstance(w, MainWindow) and w.isVisible() for w in qapp_widgets())


def test_screenshot_shows_the_chosen_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metagui.qt.history_browser import StudyViews

    shown: list[str] = []
    original = StudyViews.show_plot

    def spy(self: StudyViews, key: str) -> None:
        original(self, key)
        shown.append(self.tabs.tabText(self.tabs.currentIndex()))

    monkeypatch.setattr(StudyViews, "show_plot", spy)
    target = tmp_path / "parallel.png"
    assert main(["--screenshot", str(target), "--plot", "parallel_coordinates"]) == 0
    assert shown == ["Parallel coordinates"] and not QImage(str(target)).isNull()


def qapp_widgets() -> list[Any]:
    return list(QApplication.topLevelWidgets())


def test_screenshot_after_running_an_experiment(tmp_path: Path, tiny_experiment: Path) -> None:
    target = tmp_path / "run.png"
    db = tmp_path / "history.sqlite"
    argv = ["--screenshot", str(target), "--experiment", str(tiny_experiment)]
    assert main([*argv, "--run-seconds", "120", "--db", str(db)]) == 0
    assert not QImage(str(target)).isNull()
    assert running_workers() == 0
    with HistoryReader(db) as reader:
        (study,) = reader.studies()
        assert study.name == "shot" and study.counts["COMPLETE"] == 2


def test_app_options_before_a_command_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--screenshot", "x.png", "history"])
    assert exit_.value.code == 2
    assert "options of the app" in capsys.readouterr().err


def test_a_missing_experiment_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--screenshot", str(tmp_path / "x.png"), "--experiment", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "metagui: error: nope.yaml: no such experiment file\n"
    assert not (tmp_path / "x.png").exists()


def close_when(qtbot: QtBot, ready: Callable[[MainWindow], bool], seen: list[MainWindow]) -> QTimer:
    """Poll for the app's window; once ``ready(window)``, record it and close it."""
    timer = QTimer()

    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        visible = [w for w in windows if w.isVisible()]
        if visible and ready(visible[0]):
            timer.stop()
            seen.append(visible[0])
            visible[0].close()

    timer.timeout.connect(poll)
    timer.start(50)
    QTimer.singleShot(240_000, QApplication.quit)  # never hang the suite
    return timer


def test_metagui_without_a_command_opens_the_window_on_the_experiment(
    qtbot: QtBot, tiny_experiment: Path
) -> None:
    seen: list[MainWindow] = []
    timer = close_when(qtbot, lambda w: w.doc.path is not None, seen)
    hook = sys.excepthook
    assert main(["--experiment", str(tiny_experiment)]) == 0
    timer.stop()
    (window,) = seen
    assert window.doc.path == tiny_experiment and window.doc.spec.name == "shot"
    assert not window.is_running()  # opening is not running
    assert sys.excepthook is hook  # the app's error hook is gone with the app


def test_metagui_demo_opens_the_demo_and_runs_it(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def yes(*args: Any, **_: Any) -> QMessageBox.StandardButton:
        asked.append(args[1])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    seen: list[MainWindow] = []
    timer = close_when(qtbot, lambda w: w.run.progress.step > 0, seen)
    db = tmp_path / "demo.sqlite"
    assert main(["--demo", "--db", str(db)]) == 0
    timer.stop()
    (window,) = seen
    # the demo opens as an untitled copy: Save never overwrites the bundled file
    assert window.doc.path is None and window.doc.spec.name == "demo-study"
    assert DEMO_EXPERIMENT.is_file()
    assert asked == ["Stop the run?"]  # it was training when closed
    assert running_workers() == 0
    with HistoryReader(db) as reader:
        (study,) = reader.studies()
        assert study.name == "demo-study" and study.status == "stopped"


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_the_error_dialog(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[ErrorDialog] = []
    monkeypatch.setattr(ErrorDialog, "exec", lambda self: shown.append(self) or 0)
    previous = error_dialog.install_excepthook()
    try:

        def broken_slot() -> None:
            raise ValueError("a slot went wrong")

        QTimer.singleShot(0, broken_slot)
        qtbot.waitUntil(lambda: bool(shown))
    finally:
        sys.excepthook = previous
    (dialog,) = shown
    assert dialog.text() == "ValueError: a slot went wrong"
    assert "Traceback" in dialog.detailedText() and "broken_slot" in dialog.detailedText()
    assert dialog.icon() == QMessageBox.Icon.Critical


def test_errors_are_only_logged_when_nobody_can_answer_a_dialog(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ErrorDialog, "exec", lambda self: pytest.fail("a dialog was shown"))
    error_dialog.set_interactive(False)
    try:
        error_dialog.show_error("Title", "the message", "the details")
    finally:
        error_dialog.set_interactive(True)
    assert "the message" in caplog.text and "the details" in caplog.text


def test_without_a_display_the_app_says_so_instead_of_aborting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metagui: error: no display") and err.count("\n") == 1
