"""``metagui bench --history`` at a small size: every part measured, figures complete, the
generated history kept for the next run; and ``metagui --screenshot --show history``. Timings
are never asserted: this machine's speed is not the code's behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QImage, QPixmap

from metagui.cli import main
from metagui.core.bench_history import STUDY_NAME, generate_history
from metagui.core.history import HistoryReader, HistoryWriter
from metagui.qt.main_window import MainWindow

FIGURES = (
    "startup_cpu_s",
    "open_cpu_s",
    "open_extra_mb",
    "overlay_cpu_s",
    "best_so_far_cpu_s",
    "select_cpu_s",
    "sort_cpu_s",
    "live_refresh_median_ms",
    "live_refresh_max_ms",
    "cli_history_cpu_s",
    "writer_rows_per_s",
    "writer_rows_per_cpu_s",
)


@pytest.mark.slow
def test_every_part_is_measured_on_a_small_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "big.sqlite"
    args = ["bench", "--history", "--trials", "30", "--steps", "40", "--seconds", "3"]
    assert main([*args, "--json", "--db", str(db)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["name"], result["trials"], result["steps"]) == ("history", 30, 40)
    assert result["metric_rows"] == 30 * 40 and result["study_trials"] == 30
    for key in FIGURES:
        assert isinstance(result[key], float) and result[key] >= 0, key
    assert result["startup_heavy_modules"] == []
    assert result["live_steps_appended"] > 0
    assert result["writer_rows"] == 100_000
    with HistoryReader(db) as reader:  # kept, and the live part wrote to a copy of it
        (study,) = reader.studies()
        assert (study.name, study.n_trials) == (STUDY_NAME, 30)
    # Reused: not generated again; the text summary names the goals.
    assert main([*args, "--db", str(db), "--only", "open"]) == 0
    text = capsys.readouterr().out
    assert "open: first useful paint" in text and "(goal < 1)" in text
    assert "generate_cpu_s" not in text


def test_the_cli_refuses_what_the_history_benchmark_cannot_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["bench", "--history", "--gui"],
        ["bench", "--trials", "5"],
        ["bench", "--history", "--trials", "0"],
        ["bench", "--history", "--repeats", "2"],
        ["bench", "--history", "--only", "nothing", "--trials", "2", "--steps", "2"],
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("metagui: error: bench"), argv


def test_a_screenshot_shows_the_history_tab_with_the_newest_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "history.sqlite"
    generate_history(db, 40, 300)
    with HistoryWriter(db) as writer:  # a study made later: the newest, the one shown
        writer.create_study("newer", "{}", "minimize", "random")
    seen: dict[str, object] = {}
    grab = MainWindow.grab

    def look(window: MainWindow, *args: object) -> QPixmap:
        views = window.history.views
        seen["tab"] = window.centre.currentWidget() is window.history
        seen["study"] = views.study().name if views.study() else None  # type: ignore[union-attr]
        seen["plot"] = views.tabs.currentWidget() is views.plots["best_so_far"]
        seen["drawn"] = not views.plots["best_so_far"].needs_redraw()
        return grab(window, *args)

    monkeypatch.setattr(MainWindow, "grab", look)
    shot = tmp_path / "shot.png"
    argv = ["--db", str(db), "--screenshot", str(shot), "--show", "history"]
    assert main([*argv, "--plot", "best_so_far"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {shot}"
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1600, 1000)
    assert seen == {"tab": True, "study": "newer", "plot": True, "drawn": True}
    assert main(["--screenshot", str(shot), "--show", "history"]) == 2
    assert "--db" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "none.sqlite"), "--screenshot", str(shot), *argv[4:]]) == 2
