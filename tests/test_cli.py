"""The ``metagui`` command line: version, demo, bench, one-line errors, and the installed entry
point. (``predict`` is covered in ``tests/core/test_predict.py``.)"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from metagui import __version__
from metagui.cli import main


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("metagui: error: ")
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"metagui {__version__}\n"


def test_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / "metagui"
    assert script.is_file(), "the metagui entry point is not installed next to this Python"
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"metagui {__version__}\n", "")


def test_help_lists_the_commands_and_the_app_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("demo", "run", "export", "history", "bench", "predict", "--screenshot"):
        assert word in out


def test_no_command_without_a_display_says_so_instead_of_aborting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "--screenshot" in err


def test_app_options_before_a_command_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--demo", "history"])
    assert exit_info.value.code == 2
    assert "options of the app" in capsys.readouterr().err


def test_demo_prints_the_meta_test_after_k_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--iterations", "30"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("meta-test")]
    assert len(lines) == 1, out
    assert "after k steps" in lines[0]
    entries = re.findall(r"(\d+): ([^\s,]+) ?± ?([^\s,]+)", lines[0].split("after k steps:", 1)[1])
    steps = [int(k) for k, _, _ in entries]
    assert steps[:2] == [0, 1] and steps == sorted(set(steps)), lines[0]
    for _, mean, ci in entries:
        assert math.isfinite(float(mean)) and float(mean) >= 0
        assert math.isfinite(float(ci)) and float(ci) >= 0


def test_demo_with_negative_iterations_fails_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--iterations", "-1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "training.iterations" in _one_error_line(err)


def test_bench_json_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--json", "--only", "sinusoid-maml", "--seconds", "0.6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    result = json.loads(lines[0])
    assert (result["name"], result["algorithm"]) == ("sinusoid-maml", "maml")
    assert isinstance(result["device"], str) and result["device"]
    for key in ("meta_iters_per_s", "tasks_per_s", "loop_meta_iters_per_s"):
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
        assert result[key] > 0, key


def test_bench_unknown_name_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = _one_error_line(err)
    assert "'nope'" in line and "sinusoid-maml" in line
