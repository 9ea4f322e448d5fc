"""The base of the live views that are plots of trials (loss curves, trajectories, parallel
coordinates): one graphics area under a row of controls, and one selected trial."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from metagui.qt._history_model import HistoryModel
from metagui.qt.views._live_view import LiveView

__all__ = ["TrialPlotView"]


class TrialPlotView(LiveView):
    """A :class:`LiveView` whose plots share one ``graphics`` layout (what :meth:`export_item`
    exports) under the ``controls`` row, with one selected trial: :meth:`set_trial` from
    outside, :meth:`_select` when the user clicks a trial's item, which also emits
    ``trial_selected(trial id)``. Another study forgets the selection."""

    trial_selected = Signal(int)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self._selected: int | None = None
        self.controls = QHBoxLayout()
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(QPalette.ColorRole.Base))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.controls)
        layout.addWidget(self.graphics, 1)

    def export_item(self) -> pg.GraphicsScene:
        return self.graphics.scene()

    def set_trial(self, trial_id: int | None) -> None:
        """Select trial ``trial_id`` (None: none; what the view then shows, it says)."""
        if trial_id != self._selected:
            self._selected = trial_id
            self.invalidate()

    def selected_trial(self) -> int | None:
        return self._selected

    def _study_changed(self) -> None:
        self._selected = None

    def _select(self, trial_id: int) -> None:
        """The user picked trial ``trial_id`` in the plot."""
        self.set_trial(trial_id)
        self.trial_selected.emit(trial_id)
