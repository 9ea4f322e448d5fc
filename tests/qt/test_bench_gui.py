"""``metagui bench --gui``: both paths train, the figures are complete and consistent, and
nothing (window, study thread, temporary database, disabled garbage collection) outlives it.
Timings are never asserted: this machine's speed is not the code's behaviour."""

from __future__ import annotations

import gc
import json
import math
import tempfile
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from metagui.cli import main
from metagui.qt._worker import running_workers
from metagui.qt.bench_gui import run_gui_benchmark
from metagui.qt.main_window import MainWindow

KEYS = (
    "name",
    "device",
    "headless_tasks_per_s",
    "app_tasks_per_s",
    "ratio",
    "cost_percent",
    "stall_p50_ms",
    "stall_p99_ms",
    "stall_max_ms",
)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the benchmark's temporary databases go (checked empty afterwards)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def assert_nothing_left(scratch: Path) -> None:
    QApplication.processEvents()
    assert running_workers() == 0
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    assert not [w for w in windows if w.isVisible()], "the benchmark's window is still open"
    assert not list(scratch.glob("metagui-bench-gui-*")), "a temporary database was left"
    assert gc.isenabled(), "garbage collection was left off"


@pytest.mark.slow
def test_both_paths_train_and_the_figures_are_consistent(scratch: Path) -> None:
    result = run_gui_benchmark(2.0, device="cpu", switch_tabs=True)

    for key in KEYS:
        assert key in result, key
    assert result["name"] == "gui" and result["switch_tabs"] is True
    assert isinstance(result["device"], str) and result["device"]
    for key in KEYS[2:]:
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
    assert result["headless_tasks"] > 0 and result["app_tasks"] > 0
    assert result["common_tasks"] == min(result["headless_tasks"], result["app_tasks"])
    assert result["headless_tasks_per_s"] > 0 and result["app_tasks_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["app_tasks_per_s"] / result["headless_tasks_per_s"]
    )
    assert result["cost_percent"] == pytest.approx((1 - result["ratio"]) * 100)
    assert result["same_trials"], "the same seed must sample the same trials on both paths"
    assert result["stall_samples"] > 0
    assert 0 <= result["stall_p50_ms"] <= result["stall_p99_ms"] <= result["stall_max_ms"]
    json.dumps(result)  # JSON-ready as it is
    assert_nothing_left(scratch)


@pytest.mark.slow
def test_the_cli_prints_one_json_object(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1.5 s windows: a cold first run may record its second step late (its first history
    # flush, a loaded machine), and a window must hold two recorded steps of each path.
    argv = ["bench", "--gui", "--seconds", "1.5", "--json", "--device", "cpu", "--repeats", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    result = json.loads(lines[0])
    assert result["name"] == "gui" and result["seconds"] == 1.5
    # Two pairs in alternating order, then the stall run; the median pair's figures count.
    assert result["order"] == "headless, app, app, headless, stalls"
    assert result["repeats"] == 2 and len(result["ratios"]) == 2
    assert result["ratio"] == min(result["ratios"])  # the lower median of two
    for key in KEYS:
        assert key in result, key
    assert_nothing_left(scratch)


def test_the_cli_rejects_what_the_gui_benchmark_cannot_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "--gui", "--only", "sinusoid-maml"]) == 2
    assert main(["bench", "--gui", "--seconds", "0"]) == 2
    assert main(["bench", "--gui", "--repeats", "0"]) == 2
    assert main(["bench", "--repeats", "2"]) == 2
    assert main(["bench", "--switch-tabs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("metagui: error: bench") for line in err)
