"""Live views over a :class:`~metagui.qt._history_model.HistoryModel`: loss curves,
hyperparameter trajectories, best-so-far, parallel coordinates, parameter importance, the
trials table and a comparison of studies; plus :func:`export_plot` to save any of the plots.

Every view takes ``(model, parent=None)``, shows one study (``set_study``) and redraws on its
own timer (about 25 Hz, while shown) only when that study changed; ``redraw()`` draws now."""

from __future__ import annotations

from metagui.qt.views._best import BestSoFarPlot
from metagui.qt.views._compare import CompareStudies
from metagui.qt.views._export import EXPORT_FORMATS, export_plot
from metagui.qt.views._importance import ImportancePlot
from metagui.qt.views._live_view import LiveView
from metagui.qt.views._loss import LossPlot
from metagui.qt.views._parallel import ParallelCoordinates
from metagui.qt.views._trajectory import TrajectoryPlot
from metagui.qt.views._trials_model import TrialsTableModel
from metagui.qt.views._trials_table import TrialsTable

__all__ = [
    "EXPORT_FORMATS",
    "BestSoFarPlot",
    "CompareStudies",
    "ImportancePlot",
    "LiveView",
    "LossPlot",
    "ParallelCoordinates",
    "TrajectoryPlot",
    "TrialsTable",
    "TrialsTableModel",
    "export_plot",
]
