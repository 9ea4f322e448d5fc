"""Before Qt loads its X11 plugin (and aborts the process when system libraries are missing),
metagui checks the plugin's libraries itself and says, in one line, what to install on this
distribution. The missing libraries come from a copy of PySide6's real plugin whose needed
names are rewritten into libraries no system has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from metagui.cli import main
from metagui.qt import _xcb
from metagui.qt._xcb import (
    check_plugin,
    install_command,
    package_manager,
    read_os_release,
    uses_xcb,
    xcb_problem,
)

PLATFORMS = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
REAL_PLUGIN = PLATFORMS / "libqxcb.so"
#: Needed libraries of the real plugin, and the names no system has that the fake needs instead.
GONE = {"libxcb-cursor.so.0": "libmg-gone-1.so.0", "libxcb-image.so.0": "libmg-gone2.so.0"}

needs_the_plugin = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not REAL_PLUGIN.is_file(),
    reason="PySide6's xcb plugin is Linux's",
)

OS_RELEASES = {
    "debian": ('ID=debian\nVERSION_ID="12"\n', "apt"),
    "ubuntu": ('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n', "apt"),
    "mint": ("ID=linuxmint\nID_LIKE='ubuntu debian'\n", "apt"),
    "fedora": ('NAME="Fedora Linux"\nID=fedora\n', "dnf"),
    "rocky": ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "dnf"),
    "arch": ('NAME="Arch Linux"\nID=arch\n', "pacman"),
    "manjaro": ("ID=manjaro\nID_LIKE=arch\n", "pacman"),
    "alpine": ("ID=alpine\n", None),
}
USUAL = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@pytest.fixture
def fake_plugin(tmp_path: Path) -> Path:
    """A copy of PySide6's ``libqxcb.so`` laid out as in PySide6 (its RUNPATH,
    ``$ORIGIN/../../lib``, finds Qt's own libraries through a link), whose DT_NEEDED entries
    for two xcb libraries name libraries that do not exist."""
    qt = tmp_path / "Qt"
    platforms = qt / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (qt / "lib").symlink_to(REAL_PLUGIN.parents[2] / "lib", target_is_directory=True)
    data = REAL_PLUGIN.read_bytes()
    for old, new in GONE.items():
        # Same place in the string table, NUL-padded: offsets elsewhere stay valid.
        needle = b"\0" + old.encode() + b"\0"
        assert data.count(needle) == 1, old
        data = data.replace(needle, b"\0" + new.encode().ljust(len(old), b"\0") + b"\0")
    plugin = platforms / "libqxcb.so"
    plugin.write_bytes(data)
    return plugin


@needs_the_plugin
def test_every_missing_library_of_the_plugin_is_named(fake_plugin: Path) -> None:
    missing, error = check_plugin(fake_plugin)
    assert error is not None
    assert set(GONE.values()) <= set(missing)
    assert len(missing) == len(set(missing))  # each once, though several libraries need it
    assert not [name for name in missing if name.startswith("libQt6")]  # found via RUNPATH


@needs_the_plugin
def test_without_ldd_the_loader_names_the_first(
    fake_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything, _ = check_plugin(fake_plugin)
    monkeypatch.setattr(_xcb.shutil, "which", lambda _name: None)
    missing, error = check_plugin(fake_plugin)
    assert error is not None and len(missing) == 1 and missing[0] in everything


@needs_the_plugin
def test_a_plugin_that_loads_has_nothing_missing() -> None:
    # The offscreen plugin loads wherever these tests run: they run on it.
    assert check_plugin(PLATFORMS / "libqoffscreen.so") == ([], None)


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb:display=:1"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux", False),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_a_platform_that_will_be_xcb_is_checked(
    environ: dict[str, str], platform: str, expected: bool
) -> None:
    assert uses_xcb(environ, platform) is expected


@pytest.mark.parametrize("distro", sorted(OS_RELEASES))
def test_the_package_manager_comes_from_os_release(tmp_path: Path, distro: str) -> None:
    text, manager = OS_RELEASES[distro]
    path = tmp_path / "os-release"
    path.write_text(text)
    assert package_manager(read_os_release(path)) == manager


def test_no_os_release_is_no_package_manager(tmp_path: Path) -> None:
    assert read_os_release(tmp_path / "none") == {}
    assert package_manager({}) is None


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        ("apt", "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"),
        ("dnf", "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms"),
        ("pacman", "sudo pacman -S --needed xcb-util-cursor xcb-util-wm xcb-util-keysyms"),
    ],
)
def test_the_install_command_names_each_distributions_packages(manager: str, expected: str) -> None:
    assert install_command(manager, USUAL) == expected
    assert install_command(manager, USUAL, root=True) == expected.removeprefix("sudo ")


def test_libraries_of_one_package_name_it_once_and_unknown_ones_are_looked_up() -> None:
    both = ["libxcb-randr.so.0", "libxcb-shape.so.0"]  # both in Fedora's and Arch's libxcb
    assert install_command("dnf", both) == "sudo dnf install libxcb"
    assert install_command("pacman", both) == "sudo pacman -S --needed libxcb"
    assert install_command("apt", both) == "sudo apt-get install libxcb-randr0 libxcb-shape0"
    odd = ["libxcb-icccm.so.4", "libodd.so.3"]
    assert install_command("dnf", odd) == "sudo dnf install xcb-util-wm 'libodd.so.3()(64bit)'"
    apt = install_command("apt", odd)
    assert apt.startswith("sudo apt-get install libxcb-icccm4 ")
    assert "apt-file search libodd.so.3" in apt
    assert install_command("pacman", ["libodd.so.3"]) == "pacman -F libodd.so.3"


@needs_the_plugin
@pytest.mark.parametrize("distro", sorted(OS_RELEASES))
def test_the_message_is_one_line_with_the_command_of_the_distribution(
    fake_plugin: Path, tmp_path: Path, distro: str
) -> None:
    text, manager = OS_RELEASES[distro]
    (tmp_path / "os-release").write_text(text)
    release = read_os_release(tmp_path / "os-release")
    message = xcb_problem({"DISPLAY": ":0"}, plugin=fake_plugin, os_release=release, root=False)
    assert message is not None and "\n" not in message
    assert message.startswith("Qt cannot open a window: its X11 platform plugin needs ")
    for name in GONE.values():
        assert name in message
    command = {
        "apt": "sudo apt-get install ",
        "dnf": "sudo dnf install ",
        "pacman": "sudo pacman -S --needed ",
        None: "your system's package manager (on Debian or Ubuntu: sudo apt-get install ",
    }[manager]
    assert command in message
    assert message.endswith("or render the window offscreen: metagui --screenshot PATH")


@needs_the_plugin
def test_no_message_where_qt_will_not_load_the_plugin(fake_plugin: Path) -> None:
    assert xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, plugin=fake_plugin) is None
    assert xcb_problem({"DISPLAY": ":0"}, plugin=PLATFORMS / "libqoffscreen.so") is None


@needs_the_plugin
def test_the_app_says_what_to_install_instead_of_aborting(
    fake_plugin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(_xcb, "default_plugin", lambda _environ=None: fake_plugin)
    monkeypatch.setattr(_xcb, "read_os_release", lambda: {"ID": "ubuntu", "ID_LIKE": "debian"})
    assert main([]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("metagui: error: Qt cannot open a window: ")
    assert "libmg-gone-1.so.0" in line and "apt-get install" in line and "--screenshot" in line


@needs_the_plugin
def test_create_application_raises_before_qt_can_abort(fake_plugin: Path) -> None:
    """The same check guards every QApplication metagui makes: a script gets an exception
    with the message, not Qt's abort (exit code 134)."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(
        DISPLAY=":99", XDG_SESSION_TYPE="x11", QT_QPA_PLATFORM_PLUGIN_PATH=str(fake_plugin.parent)
    )
    script = (
        "from metagui.core.errors import MetaguiError\n"
        "from metagui.qt.app import create_application\n"
        "try:\n    create_application()\n"
        "except MetaguiError as exc:\n    print(exc)\n    raise SystemExit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert "libmg-gone-1.so.0" in done.stdout and "libmg-gone2.so.0" in done.stdout
