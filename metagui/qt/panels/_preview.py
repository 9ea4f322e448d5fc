"""Previews of a task set: built off the GUI thread, debounced, drawn as curves, thumbnails or
a table.

Building a preview may read a whole dataset (Omniglot, a folder of images) and imports torch,
so :class:`PreviewLoader` runs it in its own single-thread ``QThreadPool``
(:class:`~metagui.qt._latest.LatestLoader`): the newest request wins (a queued older
one is dropped, a running one finishes and its result is ignored), and
:meth:`PreviewLoader.shutdown` waits for the thread so none outlives the panel.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from metagui.core.tasksets import EpisodePreview
from metagui.qt._latest import LatestLoader

__all__ = ["PreviewLoader"]


class PreviewLoader(LatestLoader):
    """``request(config, seed)`` builds ``config.build().preview(seed)`` in a worker thread
    ``delay_ms`` after the last request; ``ready(EpisodePreview)`` or ``failed(message)``
    report the newest request's outcome, ``started()`` that a build began."""

    def __init__(self, delay_ms: int = 400, parent: QObject | None = None) -> None:
        super().__init__(delay_ms, parent)

    def request(self, config: Any, seed: int, *, now: bool = False) -> None:
        """Preview ``config`` with ``seed`` after the debounce delay (``now``: at once)."""
        self.submit(lambda: config.build().preview(seed), now=now)

    def accept(self, result: object) -> bool:
        return isinstance(result, EpisodePreview)
