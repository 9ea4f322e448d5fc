"""Import rules: the core never imports Qt (a fresh interpreter and import-linter check it), and
the main window's helpers never import the window."""

from __future__ import annotations

import ast
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


# The window's helpers depend on the narrow protocols in their own modules, never on the window:
# the window imports them, so an import back (even under TYPE_CHECKING) would close a circle.
WINDOW_MODULE = "metagui.qt.main_window"
WINDOW_HELPERS = ("_actions", "_experiment_files", "_trial_actions")


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module ``source`` imports, anywhere in it (``if TYPE_CHECKING:`` blocks and
    function bodies too); ``from a import b`` counts as both ``a`` and ``a.b``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_import_finder_sees_type_checking_and_relative_imports() -> None:
    hidden = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .main_window import X\n"
    assert WINDOW_MODULE in _imported_modules(hidden, "metagui.qt")
    assert WINDOW_MODULE in _imported_modules("from metagui.qt import main_window", "metagui.qt")
    assert WINDOW_MODULE not in _imported_modules("import metagui.qt._document", "metagui.qt")


def test_window_helpers_do_not_import_the_window() -> None:
    for name in WINDOW_HELPERS:
        path = ROOT / "metagui" / "qt" / f"{name}.py"
        imported = _imported_modules(path.read_text(encoding="utf-8"), "metagui.qt")
        assert WINDOW_MODULE not in imported, f"{path.name} imports the main window"
