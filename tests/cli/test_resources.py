"""metagui's own files (``resources/``) are found in a source checkout, in an editable install
and in an installed wheel, always through ``metagui._resources``; and the wheel carries them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import metagui
from metagui._resources import locate_resources, resource, resources_dir

ROOT = Path(__file__).resolve().parents[2]
#: In the repository only: the README's pictures.
NOT_SHIPPED = ("screenshots/",)


def _shipped() -> list[str]:
    """What a wheel must carry: every file under resources/ but the README's screenshots."""
    files = [p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*")]
    return sorted(
        f for f in files if (ROOT / "resources" / f).is_file() and not f.startswith(NOT_SHIPPED)
    )


def test_a_checkout_finds_its_top_level_folder() -> None:
    if Path(metagui.__file__).resolve().parents[1] != ROOT:
        pytest.skip("metagui is imported from an installed wheel here, not from this checkout")
    assert resources_dir() == ROOT / "resources"
    assert resource("examples/demo-study.yaml").is_file()
    assert resource("style.qss").is_file()


def test_the_installed_package_folder_comes_first(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "metagui"
    (package / "resources").mkdir(parents=True)
    (tmp_path / "checkout" / "resources").mkdir(parents=True)
    assert locate_resources(package, tmp_path / "checkout") == package / "resources"


def test_without_one_in_the_package_the_checkout_is_used(tmp_path: Path) -> None:
    package = tmp_path / "checkout" / "metagui"
    package.mkdir(parents=True)
    (tmp_path / "checkout" / "resources").mkdir()
    assert locate_resources(package, tmp_path / "checkout") == tmp_path / "checkout" / "resources"
    # Neither: the installed location, so that an error names where the file was looked for.
    assert locate_resources(package, tmp_path / "elsewhere") == package / "resources"


def test_every_caller_finds_resources_through_the_helper() -> None:
    """No second way to find resources/: no module but the helper spells the folder's name
    or climbs out of the package with ``__file__``."""
    offenders = []
    for path in sorted((ROOT / "metagui").rglob("*.py")):
        if path.name == "_resources.py":
            continue
        code = path.read_text(encoding="utf-8")
        if re.search(r"[\"']resources[\"']|parents\[\d\]", code):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built offline (no build isolation: hatchling comes with
    the test extras)."""
    pytest.importorskip("hatchling", reason="hatchling (in the test extras) builds the wheel")
    out = tmp_path_factory.mktemp("wheel")
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("metagui-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_resources_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in _shipped() if f"metagui/resources/{f}" not in names]
    assert missing == []
    assert "metagui/resources/examples/demo-study.yaml" in names  # the list was not empty
    assert not [n for n in names if n.startswith("metagui/resources/screenshots/")]
    assert not [n for n in names if n.startswith("resources/")]  # nothing at the top level
    assert {"metagui/_resources.py", "metagui/py.typed"} <= names


@pytest.mark.slow
def test_an_installed_wheel_finds_its_resources(wheel: Path, tmp_path: Path) -> None:
    """The wheel unpacked as site-packages would hold it, imported from outside the checkout:
    the app's stylesheet, icons and demo study come from the installed package."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import metagui, metagui._resources as r\n"
        "from metagui.qt.app import DEMO_EXPERIMENT, load_stylesheet\n"
        "from metagui.qt._actions import icon\n"
        "print(metagui.__file__)\nprint(r.resources_dir())\nprint(DEMO_EXPERIMENT.is_file())\n"
        "print(r.resources_dir().joinpath('icons').as_posix() + '/' in load_stylesheet())\n"
        "print(not icon('run').isNull())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    package, folder, demo, sheet, run_icon = done.stdout.splitlines()
    assert Path(package).is_relative_to(site)
    assert Path(folder) == site / "metagui" / "resources"
    assert (demo, sheet, run_icon) == ("True", "True", "True")
