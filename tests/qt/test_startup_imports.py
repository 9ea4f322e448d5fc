"""The window opens fast: creating and showing the main window imports nothing its first paint
does not need. Checked in a new process, the way ``metagui`` starts (this test session has
imported torch and the rest long ago)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from metagui.qt.bench_history_gui import HEAVY_MODULES

START_THE_WINDOW = textwrap.dedent(
    """
    import json, os, sys
    import metagui.cli  # what the console script imports first
    from metagui.qt.app import create_application
    app = create_application(offscreen=True)
    from metagui.qt.main_window import MainWindow
    window = MainWindow()
    window.show()
    app.processEvents()
    print(json.dumps(sorted(sys.modules)), flush=True)
    os._exit(0)  # no teardown: only what the start imported is of interest
    """
)


def test_creating_the_main_window_imports_nothing_heavy(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        METAGUI_CONFIG_DIR=str(tmp_path / "config"),
        METAGUI_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [sys.executable, "-c", START_THE_WINDOW],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"metagui.qt.main_window", "pyqtgraph"} <= modules  # the window was built
    assert set(HEAVY_MODULES) >= {"pandas", "torch", "optuna", "scipy", "ray"}
    loaded = sorted(name for name in HEAVY_MODULES if name in modules)
    assert loaded == [], f"imported while the window opened: {loaded}"
