"""``metagui bench --history``: what a big history costs the app, the CLI and the writer.

A synthetic history (:func:`~metagui.core.bench_history.generate_history`: one study of
``trials`` finished trials x ``steps`` steps of one metric) is generated, or reused from
``db``, and then measured, each part in a new process of its own so that one part's imports,
caches and memory do not flatter the next:

- **startup**: process start to a shown main window (CPU time, the interpreter's start
  included), and which heavy modules (pandas, torch, Optuna, SciPy, Ray, ...) that loaded;
- **open**: the main window, shown at 1600x1000 with its History tab in front, opens the
  history: CPU time and extra peak memory until the first useful paint (the studies and
  trials tables filled and the loss overlay drawn, the window painted); then, in the same
  process, the loss overlay built again from nothing, the best-so-far tab drawn, one trial
  selected (its full-resolution curve drawn bold) and the trials table sorted by value;
- **live**: the same window follows the history (a copy of it) while another process
  appends trials to it as a run would (200 steps a second); each refresh (read what changed,
  redraw the views shown, repaint the whole window) is timed in GUI-thread CPU time;
- **cli**: ``metagui history --db`` in a new process;
- **writer**: :meth:`HistoryWriter.add_metrics` rows per second, two metrics per step,
  default flushing.

Times are CPU times (this project's machines are shared; wall time would measure the
neighbours), except the writer's rows per wall second, which include waiting for the disk.
Run as ``python -m metagui.qt.bench_history_gui PROBE ...`` a process measures one probe and
prints its figures as one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metagui.core.bench_history import cpu_seconds

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from metagui.qt.main_window import MainWindow

__all__ = ["GOALS", "HEAVY_MODULES", "PARTS", "format_summary", "run_history_benchmark"]

PARTS = ("startup", "open", "live", "cli", "writer")
HEAVY_MODULES = ("pandas", "torch", "optuna", "scipy", "ray", "nevergrad", "sqlite_utils")
"""Modules the first paint of the window does not need: none of them may load at start-up."""
GOALS: dict[str, tuple[str, float]] = {
    "startup_cpu_s": ("<", 1.5),
    "open_cpu_s": ("<", 1.0),
    "open_extra_mb": ("<", 300.0),
    "overlay_cpu_s": ("<", 1.0),
    "live_refresh_max_ms": ("<", 100.0),
    "cli_history_cpu_s": ("<", 2.0),
    "writer_rows_per_s": (">", 50_000.0),
}
"""Issue 11's bars for the 10,000-trial x 1,000-step history."""
WINDOW_SIZE = (1600, 1000)
_LIVE_POLL_S = 0.25  # the HistoryModel's own polling interval
_DRAW_TIMEOUT_S = 600.0
_TMP_PREFIX = "metagui-bench-history-"


def run_history_benchmark(
    trials: int = 10_000,
    steps: int = 1_000,
    *,
    db: str | Path | None = None,
    parts: tuple[str, ...] = PARTS,
    live_seconds: float = 10.0,
    writer_steps: int = 50_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Generate (or reuse ``db``: generated there when missing) the history and measure
    ``parts`` of it; return the figures as one JSON-ready dict (see the module's
    documentation). Nothing but ``db`` outlives the call."""
    from metagui.core.bench_history import generate_history, measure_cli_history, measure_writer
    from metagui.core.errors import MetaguiError

    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise MetaguiError(f"bench --history: no part {unknown[0]!r} (have {', '.join(PARTS)})")
    result: dict[str, Any] = {"name": "history", "trials": trials, "steps": steps}
    with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX) as scratch:
        env = dict(
            os.environ,
            QT_QPA_PLATFORM="offscreen",
            METAGUI_CONFIG_DIR=str(Path(scratch) / "config"),
            METAGUI_DATA_DIR=str(Path(scratch) / "data"),
        )
        path = Path(db) if db is not None else Path(scratch) / "history.sqlite"
        if not path.exists():
            made = generate_history(path, trials, steps, seed=seed)
            result |= {"generate_cpu_s": made.cpu_s, "generate_wall_s": made.wall_s}
        result["metric_rows"] = _metric_rows(path)
        result["file_mb"] = path.stat().st_size / 2**20
        if "startup" in parts:
            result |= _probe("startup", env)
        if "open" in parts:
            result |= _probe("open", env, str(path))
        if "live" in parts:
            copy = Path(scratch) / "live.sqlite"
            shutil.copyfile(path, copy)
            result |= _probe("live", env, str(copy), str(live_seconds))
        if "cli" in parts:
            cli = measure_cli_history(path, env)
            result |= {"cli_history_cpu_s": cli["cpu_s"], "cli_history_wall_s": cli["wall_s"]}
        if "writer" in parts:
            writer = measure_writer(writer_steps, scratch)
            result |= {f"writer_{key}": value for key, value in writer.items()}
    return result


def _metric_rows(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT MAX(id) FROM metrics").fetchone()[0] or 0)
    finally:
        conn.close()


def _probe(name: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run probe ``name`` in a new process and return the figures it printed."""
    from metagui.core.errors import MetaguiError

    done = subprocess.run(
        [sys.executable, "-m", "metagui.qt.bench_history_gui", name, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise MetaguiError(f"bench --history: the {name} probe failed: {' | '.join(tail)}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def format_summary(result: dict[str, Any]) -> str:
    """The figures as a table for a terminal, each against its goal where it has one."""
    rows = [
        ("start-up to a shown window", "startup_cpu_s", "CPU s"),
        ("open: first useful paint", "open_cpu_s", "CPU s"),
        ("open: extra peak memory", "open_extra_mb", "MB"),
        ("loss overlay, every trial", "overlay_cpu_s", "CPU s"),
        ("best-so-far tab", "best_so_far_cpu_s", "CPU s"),
        ("select a trial (full curve)", "select_cpu_s", "CPU s"),
        ("sort the trials table", "sort_cpu_s", "CPU s"),
        ("live refresh, median", "live_refresh_median_ms", "ms GUI CPU"),
        ("live refresh, max", "live_refresh_max_ms", "ms GUI CPU"),
        ("metagui history", "cli_history_cpu_s", "CPU s"),
        ("writer", "writer_rows_per_s", "rows/s"),
        ("writer, per CPU second", "writer_rows_per_cpu_s", "rows/CPU s"),
    ]
    lines = [
        f"history of {result['trials']:,} trials x {result['steps']:,} steps "
        f"({result.get('metric_rows', 0):,} metric rows, {result.get('file_mb', 0):,.0f} MB)"
    ]
    for label, key, unit in rows:
        if key not in result:
            continue
        goal = GOALS.get(key)
        bar = f"  (goal {goal[0]} {goal[1]:g})" if goal else ""
        lines.append(f"  {label:30s} {result[key]:12,.3f} {unit}{bar}")
    if "startup_heavy_modules" in result:
        heavy = ", ".join(result["startup_heavy_modules"]) or "none"
        lines.append(f"  {'heavy modules at start-up':30s} {heavy}")
    return "\n".join(lines)


# -- the probes (each in a process of its own) -----------------------------------------------


def _application() -> QApplication:
    from metagui.qt.app import create_application

    return create_application(offscreen=True)


def _rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _window() -> MainWindow:
    from metagui.qt._settings import AppSettings
    from metagui.qt.main_window import MainWindow

    window = MainWindow(AppSettings(), restore=False)
    window.persist_settings = False
    window.resize(*WINDOW_SIZE)
    window.show()
    _settle()
    # The task-set preview is built in a thread (torch imported, episodes sampled): over
    # before anything is measured, whose CPU time and memory it would otherwise count.
    _wait(lambda: not window.taskset_panel.loader.busy)
    _settle()
    return window


def _settle(rounds: int = 3) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    for _ in range(rounds):
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def _wait(done: Callable[[], bool]) -> None:
    """Run the event loop until ``done()``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.monotonic() + _DRAW_TIMEOUT_S
    while not done() and time.monotonic() < deadline:
        QTimer.singleShot(5, loop.quit)
        loop.exec()


def _wait_drawn(*views: Any) -> None:
    """Run the event loop until every view has drawn what its model holds."""
    _wait(lambda: not any(v.needs_redraw() for v in views))


def _probe_startup() -> dict[str, Any]:
    import metagui.cli  # noqa: F401  (the console script's first import)

    app = _application()
    from metagui.qt.main_window import MainWindow

    window = MainWindow()
    window.persist_settings = False
    window.show()
    app.processEvents()
    cpu = cpu_seconds()
    heavy = [name for name in HEAVY_MODULES if name in sys.modules]
    window.close()
    return {"startup_cpu_s": cpu, "startup_heavy_modules": heavy}


def _open(db: str) -> tuple[MainWindow, dict[str, Any]]:
    """A shown window that opened ``db`` and drew its first useful paint, with the cost."""
    from PySide6.QtWidgets import QApplication

    _application()
    window = _window()
    window.centre.setCurrentWidget(window.history)  # where one opens a history
    _settle()
    views = window.history.views
    rss0, cpu0 = _rss_mb(), cpu_seconds()
    window.open_history(db)
    _wait_drawn(views.plots["loss"], views.table)
    QApplication.processEvents()  # what the event loop does next: lay out, paint
    window.grab()
    cpu = cpu_seconds() - cpu0
    return window, {"open_cpu_s": cpu, "open_extra_mb": _peak_mb() - rss0}


def _probe_open(db: str) -> dict[str, Any]:
    from PySide6.QtCore import Qt

    from metagui.qt.views import LossPlot

    window, figures = _open(db)
    views = window.history.views
    study_id = views.study_id
    study = views.study()
    assert study_id is not None and study is not None
    figures["study_trials"] = len(study.trials)

    loss = views.plots["loss"]
    assert isinstance(loss, LossPlot)
    loss.set_study(None)
    loss.redraw()
    cpu0 = cpu_seconds()
    loss.set_study(study_id)
    loss.redraw()
    loss.grab()
    figures["overlay_cpu_s"] = cpu_seconds() - cpu0

    best = views.plots["best_so_far"]
    cpu0 = cpu_seconds()
    views.show_plot("best_so_far")
    _wait_drawn(best)
    best.grab()
    figures["best_so_far_cpu_s"] = cpu_seconds() - cpu0

    views.show_plot("loss")
    _wait_drawn(loss)
    chosen = max(study.trials)  # the newest trial: not the best, not drawn bold yet
    cpu0 = cpu_seconds()
    loss.set_trial(chosen)
    loss.redraw()
    loss.grab()
    figures["select_cpu_s"] = cpu_seconds() - cpu0

    cpu0 = cpu_seconds()
    views.table.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # by value
    views.table.grab()
    figures["sort_cpu_s"] = cpu_seconds() - cpu0
    window.close()
    return figures


def _probe_live(db: str, seconds: str) -> dict[str, Any]:
    import time as clock

    from PySide6.QtWidgets import QApplication

    window, _ = _open(db)
    views = window.history.views
    model = window.history.model
    model._timer.stop()  # polled here instead, each poll timed with what follows it
    shown = [views.plots["loss"], views.table]
    appender = subprocess.Popen(
        [sys.executable, "-m", "metagui.core.bench_history", "append", db, seconds],
        stdout=subprocess.PIPE,
        text=True,
    )
    refreshes: list[float] = []
    parts: dict[str, list[float]] = {"poll": [], "redraw": [], "paint": []}
    try:
        while appender.poll() is None:
            clock.sleep(_LIVE_POLL_S)
            start = clock.thread_time()
            if not model.poll():
                continue
            polled = clock.thread_time()
            for view in shown:
                if view.needs_redraw():
                    view.redraw()
            redrawn = clock.thread_time()
            QApplication.processEvents()  # the repaint of what changed, as the event loop does
            painted = clock.thread_time()
            refreshes.append((painted - start) * 1000)
            for part, (a, b) in zip(
                parts, ((start, polled), (polled, redrawn), (redrawn, painted)), strict=True
            ):
                parts[part].append((b - a) * 1000)
    finally:
        appender.wait()
    steps = int((appender.stdout.read() if appender.stdout else "0").strip() or 0)
    if appender.stdout is not None:
        appender.stdout.close()
    window.close()
    refreshes.sort()
    return {
        "live_seconds": float(seconds),
        "live_steps_appended": steps,
        "live_refreshes": len(refreshes),
        "live_refresh_median_ms": statistics.median(refreshes) if refreshes else 0.0,
        "live_refresh_p95_ms": refreshes[int(0.95 * (len(refreshes) - 1))] if refreshes else 0.0,
        "live_refresh_max_ms": refreshes[-1] if refreshes else 0.0,
        **{
            f"live_{part}_median_ms": statistics.median(times) if times else 0.0
            for part, times in parts.items()
        },
    }


def _main(argv: list[str]) -> int:
    probes: dict[str, Callable[..., dict[str, Any]]] = {
        "startup": _probe_startup,
        "open": _probe_open,
        "live": _probe_live,
    }
    if not argv or argv[0] not in probes:
        print(f"usage: python -m {__name__} {{{','.join(probes)}}} ...", file=sys.stderr)
        return 2
    figures = probes[argv[0]](*argv[1:])
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    code = _main(sys.argv[1:])
    sys.stdout.flush()
    # A probe is a measurement, not an app: skip the interpreter's teardown of the window
    # and the QApplication (whose order PySide does not guarantee at exit).
    os._exit(code)
