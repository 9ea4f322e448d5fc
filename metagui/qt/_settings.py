"""The app's own settings: window geometry, the last experiment, recent files, the database,
the folders the file dialogs last used.

One versioned JSON file, ``settings.json``, in ``platformdirs.user_config_path("metagui")`` (or
in ``$METAGUI_CONFIG_DIR`` when that is set, as the tests do). A file that is not JSON, does not
validate, or has a version this code does not know never stops the app: it falls back to the
defaults and says why (``logging.warning`` and the returned message, which the main window
shows in its status bar); the damaged file is left alone until the app next saves over it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metagui.core.atomic_write import write_text_atomic
from metagui.core.paths import default_history_path

__all__ = [
    "MAX_RECENT",
    "SETTINGS_VERSION",
    "AppSettings",
    "config_dir",
    "load_settings",
    "save_settings",
    "settings_path",
    "start_folder",
]

SETTINGS_VERSION = 1
MAX_RECENT = 10

log = logging.getLogger(__name__)


class AppSettings(BaseModel):
    """Everything the app remembers between sessions."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    version: Literal[1] = 1  # SETTINGS_VERSION
    geometry: str | None = Field(None, description="base64 of QMainWindow.saveGeometry()")
    window_state: str | None = Field(None, description="base64 of QMainWindow.saveState()")
    last_experiment: str | None = Field(None, description="the experiment file open at exit")
    unsaved_experiment: dict[str, Any] | None = Field(
        None, description="edits not saved to a file when the app closed (restored on start)"
    )
    recent_files: list[str] = Field(default_factory=list, description="newest first")
    database: str | None = Field(None, description="history database for runs (None: default)")
    history_database: str | None = Field(None, description="the database the browser showed")
    export_dir: str | None = Field(None, description="the folder of the last export")
    experiment_dir: str | None = Field(
        None, description="the folder an experiment was last opened from or saved to"
    )

    @field_validator("recent_files")
    @classmethod
    def _at_most_ten(cls, files: list[str]) -> list[str]:
        unique = list(dict.fromkeys(files))
        return unique[:MAX_RECENT]

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent files (once; at most ``MAX_RECENT`` kept)."""
        entry = str(Path(path).resolve())
        self.recent_files = [entry, *(f for f in self.recent_files if f != entry)]

    def run_database(self) -> Path:
        """Where a run started from the app records its study."""
        return Path(self.database) if self.database else default_history_path()


def config_dir() -> Path:
    """``$METAGUI_CONFIG_DIR``, or the platform's user configuration folder for metagui."""
    override = os.environ.get("METAGUI_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path("metagui", appauthor=False)


def start_folder(remembered: str | None) -> Path:
    """Where a file dialog opens: the folder the user last used (``remembered``, if it is
    still there), else the user's documents folder, else the home folder; never the folder
    the app happened to be started in."""
    if remembered and Path(remembered).is_dir():
        return Path(remembered)
    from PySide6.QtCore import QStandardPaths

    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents and Path(documents).is_dir() else Path.home()


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> tuple[AppSettings, str | None]:
    """The stored settings, or the defaults and a one-line warning when the file is unusable
    (a missing file is not a problem: it is the first start)."""
    source = path or settings_path()
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppSettings(), None
    except OSError as exc:
        return _fallback(f"cannot read {source}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _fallback(f"{source} is not valid JSON ({exc.msg}, line {exc.lineno})")
    if not isinstance(data, dict):
        return _fallback(f"{source} does not hold a settings object")
    if data.get("version") != SETTINGS_VERSION:
        return _fallback(
            f"{source} has settings version {data.get('version')!r}, this metagui reads "
            f"version {SETTINGS_VERSION}"
        )
    try:
        return AppSettings.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _fallback(f"{source}: {where}: {first.get('msg')}")


def _fallback(reason: str) -> tuple[AppSettings, str]:
    message = f"settings: {reason}; using the defaults"
    log.warning(message)
    return AppSettings(), message


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    """Write the settings atomically (a crash mid-write never leaves half a file; see
    :mod:`metagui.core.atomic_write`)."""
    target = path or settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, settings.model_dump_json(indent=2) + "\n")
