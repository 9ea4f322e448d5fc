"""Whether Qt's X11 platform plugin (``xcb``, Linux's default) can load on this machine, and if
it cannot, one line that names the missing system libraries and the command that installs them.

Qt aborts the whole process (exit 134, "Could not load the Qt platform plugin xcb") when the
plugin does not load, most often because a minimal Linux lacks ``libxcb-cursor0`` or
``libxcb-icccm4``. This asks first, without importing Qt: it loads the plugin with the dynamic
loader (about a millisecond, and Qt loads the same file next anyway); only when that fails does
it run ``ldd`` to list every missing library, and it reads ``/etc/os-release`` to name the
packages of that system.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "PLUGIN_FILE",
    "check_plugin",
    "default_plugin",
    "install_command",
    "package_manager",
    "read_os_release",
    "uses_xcb",
    "xcb_problem",
]

PLUGIN_FILE = "libqxcb.so"

#: The packages that hold the system libraries of the xcb plugin and of the Qt libraries it
#: loads (Qt's own libraries come with PySide6), per package manager: apt, dnf, pacman.
_PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": (
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
    ),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libXau.so.6": ("libxau6", "libXau", "libxau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libpng16.so.16": ("libpng16-16", "libpng", "libpng"),
}
_MANAGERS = ("apt", "dnf", "pacman")
#: How to install packages with each manager, and how to find the package of an unknown file.
_INSTALL = {"apt": "apt-get install", "dnf": "dnf install", "pacman": "pacman -S --needed"}
_SEARCH = {"apt": "apt-file search", "pacman": "pacman -F"}


def uses_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a QApplication created now would load the xcb plugin: on Linux, unless
    ``QT_QPA_PLATFORM`` names another platform (``offscreen``, ``wayland``...) or, with none
    named, a Wayland session makes Qt try Wayland first."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        # "xcb", "xcb:option=value", or a fallback list "wayland;xcb" (the first one counts).
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    return not (env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland")


def default_plugin(environ: Mapping[str, str] | None = None) -> Path | None:
    """PySide6's ``libqxcb.so`` (or the one in ``QT_QPA_PLATFORM_PLUGIN_PATH``), if there is
    one; found without importing PySide6."""
    env = os.environ if environ is None else environ
    folders = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    return next((f / PLUGIN_FILE for f in folders if (f / PLUGIN_FILE).is_file()), None)


def check_plugin(plugin: Path) -> tuple[list[str], str | None]:
    """The shared libraries that ``plugin`` needs and this machine lacks (``ldd`` lists them
    all; without ``ldd``, the loader's error names the first), and the loader's error; an
    empty list and None when the plugin loads."""
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        error = str(exc)
    else:
        return [], None
    missing = _not_found_by_ldd(plugin)
    if not missing:
        missing = re.findall(r"([^\s:/]+\.so[.\d]*): cannot open shared object file", error)
    return missing, error


def _not_found_by_ldd(plugin: Path) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        done = subprocess.run(
            [ldd, str(plugin)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    found = re.findall(r"^\s*(\S+) => not found", done.stdout, flags=re.MULTILINE)
    return list(dict.fromkeys(found))  # a library two others need is listed twice


def read_os_release(path: Path | None = None) -> dict[str, str]:
    """The fields of ``/etc/os-release`` (or ``/usr/lib/os-release``, or ``path``); empty if
    there is none."""
    candidates = (
        [path] if path is not None else [Path("/etc/os-release"), Path("/usr/lib/os-release")]
    )
    for candidate in candidates:
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                fields[key] = value.strip().strip("'\"")
        return fields
    return {}


def package_manager(os_release: Mapping[str, str]) -> str | None:
    """``apt``, ``dnf`` or ``pacman`` for the distribution (or one it derives from), or None."""
    ids = {os_release.get("ID", "").lower(), *os_release.get("ID_LIKE", "").lower().split()}
    if ids & {"debian", "ubuntu"}:
        return "apt"
    if ids & {"fedora", "rhel", "centos"}:
        return "dnf"
    if ids & {"arch", "archlinux"}:
        return "pacman"
    return None


def install_command(manager: str, libraries: Sequence[str], *, root: bool = False) -> str:
    """The command that installs the packages holding ``libraries`` with ``manager``; a library
    of no known package is asked for by file (dnf), or named with the command that finds its
    package."""
    column = _MANAGERS.index(manager)
    packages = list(dict.fromkeys(_PACKAGES[lib][column] for lib in libraries if lib in _PACKAGES))
    unknown = [lib for lib in libraries if lib not in _PACKAGES]
    if manager == "dnf":
        packages += [f"'{lib}()(64bit)'" for lib in unknown]  # dnf installs what provides it
        unknown = []
    sudo = "" if root else "sudo "
    command = f"{sudo}{_INSTALL[manager]} {' '.join(packages)}" if packages else ""
    finds = "; ".join(f"{_SEARCH[manager]} {lib}" for lib in unknown)
    if finds:
        command = f"{command} (the package of the rest: {finds})" if command else finds
    return command


def xcb_problem(
    environ: Mapping[str, str] | None = None,
    *,
    plugin: Path | None = None,
    os_release: Mapping[str, str] | None = None,
    root: bool | None = None,
) -> str | None:
    """Why Qt's xcb plugin cannot load here, in one line with the command that fixes it; None
    when it can, when Qt will not use it, or when there is no plugin to check."""
    if not uses_xcb(environ):
        return None
    plugin = plugin or default_plugin(environ)
    if plugin is None:
        return None
    missing, error = check_plugin(plugin)
    if error is None:
        return None
    offscreen = "or render the window offscreen: metagui --screenshot PATH"
    if not missing:
        return f"Qt's X11 platform plugin {plugin} does not load ({error}); {offscreen}"
    release = read_os_release() if os_release is None else os_release
    manager = package_manager(release)
    if root is None:
        root = hasattr(os, "geteuid") and os.geteuid() == 0
    them = "it" if len(missing) == 1 else "them"
    if manager is None:
        how = (
            f"install {them} with your system's package manager (on Debian or Ubuntu: "
            f"{install_command('apt', missing, root=root)})"
        )
    else:
        how = f"install {them} with: {install_command(manager, missing, root=root)}"
    return (
        f"Qt cannot open a window: its X11 platform plugin needs {', '.join(missing)}, "
        f"missing on this system; {how}; {offscreen}"
    )
