"""Errors that carry a message meant for the user (shown as one line by the CLI and the app)."""

from __future__ import annotations

__all__ = ["CheckpointError", "FileWriteError", "MetaguiError", "TaskSetError"]


class MetaguiError(Exception):
    """An error whose message is complete and fit to show to a user as it is."""


class TaskSetError(MetaguiError, ValueError):
    """A task set was configured with values its data cannot satisfy (names the field or file)."""


class CheckpointError(MetaguiError):
    """A checkpoint file is missing, corrupt or written by an incompatible version."""


class FileWriteError(MetaguiError, OSError):
    """A file could not be written (see :mod:`metagui.core.atomic_write`); an ``OSError`` too,
    so code that handles a failed write as one goes on working."""
