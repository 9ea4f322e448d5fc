"""What ``metagui run`` shows while it runs: on a terminal, the running trial's steps and the
study's best so far and time left, redrawn in place; anywhere else, few plain lines."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from metagui.cli import main
from metagui.cli._progress import LineProgress, open_progress
from metagui.core.reports import EvalResult, StepReport, Tick
from metagui.core.runner import StudyStarted, TrialEnded, TrialStarted, TrialStep

EXPERIMENT = {
    "name": "progress",
    "taskset": {"family": "sinusoid", "k_shot": 4, "q_query": 4},
    "model": {"hidden_sizes": [8]},
    "training": {
        "iterations": 60,
        "meta_batch_size": 2,
        "eval_every": 30,
        "eval_tasks": 4,
        "test_tasks": 4,
        "log_every": 5,
    },
    "search_space": {
        "params": [
            {"name": "algorithm.inner_lr", "type": "float", "low": 0.001, "high": 0.1, "log": True}
        ]
    },
    "strategy": {"name": "random"},
    "budget": {"trials": 2},
    "device": "cpu",
}


def _experiment(tmp_path: Path) -> Path:
    path = tmp_path / "progress.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT))
    return path


def _run_in_a_terminal(command: list[str], cwd: Path, timeout_s: float = 240) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal of 120 columns as its stdout and stderr; its
    exit code and everything it wrote."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm", "OMP_NUM_THREADS": "1"}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the other end closed: the process ended
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_terminal_shows_the_running_trials_steps_and_the_best_so_far(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    command = [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", "h.sqlite"]
    code, out = _run_in_a_terminal(command, tmp_path)
    assert code == 0, out
    redraws = out.split("\r")
    # Each trial's bar: its step of the total, the loss, and later the validation value.
    for number in (0, 1):
        steps = [r for r in redraws if re.search(rf"trial {number}: .*step \d+/60, loss ", r)]
        assert steps, out
    assert any(re.search(r"step \d+/60, loss [\d.]+, val [\d.]+", r) for r in redraws), out
    # The study's bar: trials done, then the best so far and the time left once one ended.
    assert any(re.search(r"trials: .*0/2 .*best –, ETA", r) for r in redraws), out
    assert any(
        re.search(r"trials: .*1/2 .*best [\d.]+ \(trial 0\), ETA \d+:\d\d", r) for r in redraws
    ), out
    assert re.search(r"trial +0 COMPLETE value", out) and "study 'progress' ended" in out


def test_outside_a_terminal_the_output_is_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = _experiment(tmp_path)
    assert main(["run", str(exp), "--db", str(tmp_path / "h.sqlite")]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "\x1b[" not in out + err
    lines = out.splitlines()
    ended = [line for line in lines if re.match(r"  trial +\d COMPLETE", line)]
    assert len(ended) == 2, out
    assert re.search(r"\[1/2 trials done, best [\d.]+ \(trial 0\), ETA \d+:\d\d\]$", ended[0])
    assert re.search(r"\[2/2 trials done, best [\d.]+ \(trial [01]\), ETA 0:00\]$", ended[1])
    assert len(lines) <= 6, out  # the header, two trials, the summary and the export hint


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _step(step: int, total: int, loss: float, validation: float | None = None) -> StepReport:
    value = None if validation is None else EvalResult("mse", (validation,), (0.0,), 4)
    return StepReport(step, total, loss, None, validation=value)


def _started(planned: int | None, timeout_s: float | None = None) -> StudyStarted:
    return StudyStarted("s", 1, "h.sqlite", False, "minimize", planned, 0, 0, timeout_s)


def _ended(
    number: int, value: float, duration_s: float, best: int, best_value: float
) -> TrialEnded:
    return TrialEnded(
        number, number + 1, "COMPLETE", value, value, None, None, None, duration_s, best, best_value
    )


def test_plain_lines_come_once_a_minute_and_once_per_trial() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = LineProgress(out, clock)
    feed = [
        (0, _started(planned=4)),
        (1, TrialStarted(0, 1, {}, 0)),
        (30, TrialStep(0, 1, _step(50, 100, 0.5))),
        (59, Tick(0)),
        (61, Tick(0)),  # a minute: where the running trial is
        (62, TrialStep(0, 1, _step(60, 100, 0.4, validation=0.45))),
        (100, _ended(0, 0.25, 99.0, 0, 0.25)),  # a trial ended
        (101, TrialStarted(1, 2, {}, 1)),
        (150, Tick(0)),  # less than a minute since the last line
    ]
    for at, report in feed:
        clock.now = at
        progress.handle(report)
    assert out.getvalue().splitlines() == [
        # Half of one trial of four in 61 s: 3.5 trials to go at that pace.
        "  [1:01] trial 0 step 50/100, loss 0.5  [0/4 trials done, best –, ETA 7:07]",
        "  trial   0 COMPLETE value     0.25    99.0 s  [1/4 trials done, best 0.25 (trial 0), "
        "ETA 5:00]",
    ]
    clock.now = 160
    progress.handle(TrialStep(1, 2, _step(100, 100, 0.3)))
    # One trial done and one at its last step in 160 s: two to go at that pace.
    assert out.getvalue().splitlines()[-1] == (
        "  [2:40] trial 1 meta-testing after 100 steps  [1/4 trials done, best 0.25 (trial 0), "
        "ETA 2:40]"
    )


def test_a_time_budget_bounds_the_time_left() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = LineProgress(out, clock)
    progress.handle(_started(planned=None, timeout_s=600))
    assert progress.eta() == "ETA 10:00"
    clock.now = 90
    progress.handle(TrialStarted(0, 1, {}, 0))
    assert (progress.eta(), progress.trials_done()) == ("ETA 8:30", "0")
    progress2 = LineProgress(io.StringIO(), clock)
    clock.now = 0
    progress2.handle(_started(planned=100, timeout_s=60))
    clock.now = 10
    progress2.handle(TrialStarted(0, 1, {}, 0))
    progress2.handle(_ended(0, 1.0, 10.0, 0, 1.0))
    assert progress2.eta() == "ETA 0:50"  # 99 trials at 10 s each, but only 50 s are left


def test_a_terminal_gets_bars_and_anything_else_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert type(open_progress(Terminal())).__name__ == "TerminalProgress"
    assert type(open_progress(io.StringIO())).__name__ == "LineProgress"
    monkeypatch.setenv("TERM", "dumb")
    assert type(open_progress(Terminal())).__name__ == "LineProgress"
