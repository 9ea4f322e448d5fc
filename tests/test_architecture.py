"""The core must never import Qt: checked in a fresh interpreter and with import-linter."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import metagui.core

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "superqt", "shiboken6", "metagui.qt")


def _core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(metagui.core.__path__, prefix="metagui.core.")]


def test_core_modules_import_no_qt() -> None:
    modules = _core_modules()
    assert "metagui.core.training" in modules and "metagui.core.tasksets.omniglot" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"qt = {QT_MODULES!r}\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in qt or m.startswith('metagui.qt'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core pulled in Qt modules: {result.stdout.strip()}"


def test_import_linter_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is part of the test extras"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout
