"""The panels inside a window: closing the window stops their threads, and they do not keep
the window alive after it is gone (a leaked window keeps its timers and widgets)."""

from __future__ import annotations

import gc
import weakref

from PySide6.QtWidgets import QVBoxLayout, QWidget

from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import SearchPanel, StrategyPanel, TaskSetPanel


class _Window(QWidget):
    """Stands in for the main window: it owns the panels and lists the studies."""

    def __init__(self, doc: ExperimentDocument) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        self.taskset = TaskSetPanel(doc, preview_delay_ms=0)
        layout.addWidget(self.taskset)
        layout.addWidget(SearchPanel(doc))
        layout.addWidget(StrategyPanel(doc, studies_provider=self.known_studies))

    def known_studies(self) -> list[str]:
        return ["earlier"]


def test_closing_the_window_waits_for_the_preview_and_frees_the_panels(qtbot) -> None:
    doc = ExperimentDocument()
    window = _Window(doc)
    with qtbot.waitSignal(window.taskset.loader.started, timeout=60_000):
        window.show()
    loader = window.taskset.loader
    window.close()  # the panel is no top-level window: it watches the window's close
    assert loader.active_threads() == 0 and not loader.busy

    gone = weakref.ref(window)
    del window, loader
    gc.collect()
    assert gone() is None, gc.get_referrers(gone())
