"""A program that opens the main window and ends without closing it ends cleanly: exit code 0,
no "Exception ignored" (torch's finalizers after its modules were cleared) and no segfault
(pyqtgraph's items destroyed by PySide at interpreter exit). Each case runs in its own
process, as a user's script would, several times: the crashes were intermittent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, time
from metagui.qt._settings import AppSettings
from metagui.qt.app import create_application
from metagui.qt.main_window import MainWindow

app = create_application(offscreen=True)
window = MainWindow(AppSettings(), restore=False)
window.show()
app.processEvents()
case = sys.argv[1]
if case == "running":
    window.open_copy(sys.argv[2])
    window.start_run()
    assert window.is_running()
# "preview": end while the task-set preview is being built in its thread (importing torch).
end = time.monotonic() + {"at-once": 0.0, "preview": 0.7, "running": 1.5, "closed": 0.0}[case]
while time.monotonic() < end:
    app.processEvents()
    time.sleep(0.02)
if case == "closed":
    window.close()
print("end of script", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["at-once", "at-once", "at-once", "at-once", "preview", "preview", "running", "closed"],
)
def test_a_script_that_leaves_the_window_open_exits_cleanly(tmp_path: Path, case: str) -> None:
    script = tmp_path / "leave_it_open.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "METAGUI_CONFIG_DIR": str(tmp_path / "config"),
        "METAGUI_DATA_DIR": str(tmp_path / "data"),
        "QT_QPA_PLATFORM": "offscreen",
        "OMP_NUM_THREADS": "1",
    }
    demo = ROOT / "resources" / "examples" / "demo-study.yaml"
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(script), case, str(demo)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert (done.returncode, done.stdout) == (0, "end of script\n"), done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Fatal Python error" not in done.stderr, done.stderr
