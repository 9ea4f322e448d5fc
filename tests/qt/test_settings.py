"""The app's settings file: defaults, round trip, recent files, damaged files, and what two
windows in a row remember (geometry, the last experiment, unsaved edits)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import save_experiment
from metagui.core.paths import default_history_path
from metagui.qt._settings import (
    MAX_RECENT,
    SETTINGS_VERSION,
    AppSettings,
    load_settings,
    save_settings,
    settings_path,
)
from metagui.qt.main_window import MainWindow


def test_the_settings_live_in_the_configured_folder(tmp_path: Path) -> None:
    # conftest points METAGUI_CONFIG_DIR / METAGUI_DATA_DIR into tmp_path
    assert settings_path() == tmp_path / "config" / "settings.json"
    assert default_history_path() == tmp_path / "data" / "history.sqlite"
    assert AppSettings().run_database() == default_history_path()
    assert AppSettings(database="/x/h.sqlite").run_database() == Path("/x/h.sqlite")


def test_without_a_file_the_defaults_come_back_silently(caplog: pytest.LogCaptureFixture) -> None:
    settings, warning = load_settings()
    assert settings == AppSettings() and warning is None
    assert not caplog.records


def test_settings_round_trip_through_the_versioned_file() -> None:
    settings = AppSettings(last_experiment="/a/b.yaml", database="/d/h.sqlite")
    settings.add_recent("/a/b.yaml")
    save_settings(settings)
    stored = json.loads(settings_path().read_text())
    assert stored["version"] == SETTINGS_VERSION
    loaded, warning = load_settings()
    assert warning is None
    assert loaded == settings


def test_recent_files_are_unique_newest_first_and_at_most_ten(tmp_path: Path) -> None:
    settings = AppSettings()
    for i in range(MAX_RECENT + 3):
        settings.add_recent(tmp_path / f"e{i}.yaml")
    settings.add_recent(tmp_path / "e5.yaml")
    assert len(settings.recent_files) == MAX_RECENT
    assert settings.recent_files[0] == str(tmp_path / "e5.yaml")
    assert settings.recent_files.count(str(tmp_path / "e5.yaml")) == 1
    assert settings.recent_files[1] == str(tmp_path / f"e{MAX_RECENT + 2}.yaml")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not hold a settings object"),
        (json.dumps({"version": 99, "geometry": None}), "version 99"),
        (json.dumps({"geometry": "AAAA"}), "version None"),
        (json.dumps({"version": 1, "recent_files": "oops"}), "recent_files"),
    ],
    ids=["not-json", "not-an-object", "unknown-version", "no-version", "bad-field"],
)
def test_a_damaged_settings_file_falls_back_to_the_defaults_with_a_warning(
    content: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        settings, warning = load_settings()
    assert settings == AppSettings()
    assert warning is not None and why in warning and "using the defaults" in warning
    assert any(why in r.getMessage() for r in caplog.records)


def _experiment(path: Path, name: str) -> Path:
    save_experiment(ExperimentSpec(name=name), path)
    return path


def test_two_windows_in_a_row_remember_geometry_and_the_last_experiment(
    qtbot: QtBot, tmp_path: Path
) -> None:
    exp = _experiment(tmp_path / "remembered.yaml", "remembered")
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    assert first.open_experiment(exp)
    first.setup_dock.hide()

    def resized() -> bool:  # once the hidden dock no longer holds the minimum width up
        first.resize(760, 520)  # inside the 800x800 offscreen screen
        return first.width() == 760

    qtbot.waitUntil(resized)
    first.close()

    stored = json.loads(settings_path().read_text())
    assert stored["last_experiment"] == str(exp.resolve())
    assert stored["recent_files"] == [str(exp.resolve())]

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert second.doc.path == exp.resolve()
    assert second.doc.spec.name == "remembered"
    assert (second.size().width(), second.size().height()) == (760, 520)
    assert not second.setup_dock.isVisible()  # saveState came back too
    assert second.settings.recent_files == [str(exp.resolve())]
    second.close()


def test_unsaved_edits_come_back_after_a_restart(qtbot: QtBot, tmp_path: Path) -> None:
    exp = _experiment(tmp_path / "draft.yaml", "draft")
    first = MainWindow()
    qtbot.addWidget(first)
    assert first.open_experiment(exp)
    assert first.doc.set_value("training.iterations", 77) is None
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    assert second.doc.path == exp.resolve()
    assert second.doc.spec.training.iterations == 77
    assert not second.doc.undo_stack.isClean() and second.isWindowModified()
    second.doc.undo_stack.undo()  # the file's own value is underneath
    assert second.doc.spec.training.iterations == ExperimentSpec().training.iterations
    second.close()


def test_a_corrupt_settings_file_opens_the_window_with_defaults_and_says_so(
    qtbot: QtBot,
) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{ this is : not json")
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.settings == AppSettings()
    assert window.doc.path is None
    assert "using the defaults" in window.statusBar().currentMessage()
    window.close()
    # closing writes good settings over the damaged file
    assert load_settings()[1] is None


def test_a_vanished_last_experiment_is_reported_not_fatal(qtbot: QtBot, tmp_path: Path) -> None:
    save_settings(AppSettings(last_experiment=str(tmp_path / "gone.yaml")))
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.doc.path is None
    assert "could not reopen the last experiment" in window.statusBar().currentMessage()
    window.close()
