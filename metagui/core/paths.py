"""Where metagui keeps its files when the user names none: the one place that decides it, for
``metagui run`` and the app alike (so the app and the CLI share the same history by default).

``$METAGUI_DATA_DIR`` (a folder), when set, replaces the platform's user data folder: the tests
and benchmarks point it at a scratch folder to stay away from the user's history.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "default_history_path"]


def data_dir() -> Path:
    """``$METAGUI_DATA_DIR``, or the platform's user data folder for metagui."""
    override = os.environ.get("METAGUI_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path("metagui", appauthor=False)


def default_history_path() -> Path:
    """The history database used when none is named (no ``--db``, none in the app's
    settings): ``history.sqlite`` in :func:`data_dir`."""
    return data_dir() / "history.sqlite"
