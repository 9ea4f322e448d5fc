"""Where metagui's own files are: ``resources/`` (the example experiments and the demo study,
the stylesheet, the icons, the experiment schema, the bundled data).

In the repository the folder sits at the top level, beside the package. A wheel carries it
inside the package, as ``metagui/resources`` (``pyproject.toml`` maps it there), so that
``pip install .`` and a wheel find it too. Every caller asks :func:`resources_dir` (or
:func:`resource`), which looks in the installed package first and falls back to the checkout
(a source checkout, or an editable install of one).
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["locate_resources", "resource", "resources_dir"]

_FOLDER = "resources"


def locate_resources(package: Traversable, checkout: Path) -> Path:
    """``resources/`` inside the installed ``package`` if it is there (a wheel), else in
    ``checkout`` (the repository holding the package's source); where neither has it, the
    installed location (a missing file is then reported where it was looked for)."""
    packaged = package / _FOLDER
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    local = checkout / _FOLDER
    if local.is_dir() or not isinstance(packaged, Path):
        return local
    return packaged


@functools.cache
def resources_dir() -> Path:
    """The folder of metagui's own files (see the module docstring)."""
    return locate_resources(resources.files("metagui"), Path(__file__).resolve().parents[1])


def resource(relative: str) -> Path:
    """A file under ``resources/``, e.g. ``resource("examples/demo-study.yaml")``."""
    return resources_dir() / relative
