"""The base of every live view: one study of a :class:`HistoryModel`, redrawn on a timer."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._load import gui_thread_load

__all__ = ["REDRAW_BUSY_BUDGET", "REDRAW_INTERVAL_MS", "REDRAW_MAX_DEFER_S", "LiveView"]

REDRAW_INTERVAL_MS = 40
"""25 redraws a second at most: smooth enough to watch, cheap enough to leave running."""


REDRAW_BUSY_BUDGET = 0.05
"""A live view redraws for new data only while the GUI thread was busy less than this share
of the last seconds (:class:`~metagui.qt._load.GuiThreadLoad`); see :class:`LiveView`."""
REDRAW_MAX_DEFER_S = 2.0
"""However busy the GUI thread, new data is drawn at least this often."""


class LiveView(QWidget):
    """A view over one study of a :class:`HistoryModel` that redraws on its own timer.

    The timer runs only while the view is shown (about 25 Hz) and calls :meth:`redraw` only
    when what the view draws from changed: the study's ``revision``, or the view's own options
    (:meth:`invalidate`). A poll that brings a thousand new points costs one redraw, not a
    thousand. The timer is the view's child, so it stops and goes with it.

    Paced: the user's own changes (options, selection, another study) are drawn at the next
    tick, but new data only while the GUI thread has been busy less than
    :data:`REDRAW_BUSY_BUDGET` of the time lately, and at least every
    :data:`REDRAW_MAX_DEFER_S`. While a study trains in another thread, each millisecond of
    drawing is one that training does not get (both run Python, one at a time): on a fast
    machine the plots follow at the poll rate, on a slow one they take turns and the
    training keeps its pace."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._study_id: int | None = None
        self._options = 0
        self._drawn_key: Hashable = None
        self._drawn_options = -1
        self._drawn_at = -math.inf
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self.redraw_timer.timeout.connect(self._on_timer)

    @property
    def study_id(self) -> int | None:
        return self._study_id

    def study(self) -> StudyData | None:
        """The shown study's data, or None (no study set, or not in the model)."""
        return None if self._study_id is None else self.model.studies.get(self._study_id)

    def set_study(self, study_id: int | None) -> None:
        """Show study ``study_id`` (None: nothing)."""
        if study_id != self._study_id:
            self._study_id = study_id
            self._study_changed()
            self.invalidate()

    def invalidate(self, *_: object) -> None:
        """Redraw at the next tick although the data did not change (an option did); takes
        and ignores any signal arguments, so an option widget's signal connects to it."""
        self._options += 1

    def redraw(self) -> None:
        """Draw what the model holds now (the timer calls it when something changed)."""
        self._drawn_key = self._data_key()
        self._drawn_options = self._options
        self._drawn_at = time.monotonic()
        self._draw(self.study())

    def needs_redraw(self) -> bool:
        return self._data_key() != self._drawn_key

    # -- for subclasses ---------------------------------------------------------------------------
    def _draw(self, study: StudyData | None) -> None:
        raise NotImplementedError

    def _study_changed(self) -> None:
        """The shown study changed: forget per-study state (selection, cached items)."""

    def _data_key(self) -> Hashable:
        study = self.study()
        # id(study): reopening a file makes new StudyData objects whose revisions restart.
        state = None if study is None else (id(study), study.revision)
        return (self._study_id, state, self._options)

    # -- timer ----------------------------------------------------------------------------------
    @Slot()
    def _on_timer(self) -> None:
        if not self.needs_redraw():
            return
        if self._options == self._drawn_options:  # set_study() counts as an option
            # Only new data: wait while the GUI thread is busy, but not for ever.
            load = gui_thread_load()
            waited = time.monotonic() - self._drawn_at
            if load and waited < REDRAW_MAX_DEFER_S and load.busy_fraction() > REDRAW_BUSY_BUDGET:
                return
        self.redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.redraw_timer.start()
        self._on_timer()

    def hideEvent(self, event: QHideEvent) -> None:
        self.redraw_timer.stop()
        super().hideEvent(event)
