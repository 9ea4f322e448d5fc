"""Live views over a :class:`~metagui.qt._history_model.HistoryModel`: loss curves,
hyperparameter trajectories, best-so-far, the Pareto front of a two-objective study, parallel
coordinates, parameter importance, the trials table and the comparisons of studies (best-so-far
curves, a table, importances side by side); plus :func:`export_plot` to save any of the plots.

Every view takes ``(model, parent=None)``, shows one study (``set_study``) and redraws on its
own timer (about 25 Hz, while shown) only when that study changed; ``redraw()`` draws now."""

from __future__ import annotations

from metagui.qt.views._best import BestSoFarPlot
from metagui.qt.views._compare import CompareStudies
from metagui.qt.views._compare_importance import CompareImportance
from metagui.qt.views._compare_table import CompareTable
from metagui.qt.views._export import EXPORT_FORMATS, export_plot
from metagui.qt.views._importance import ImportancePlot
from metagui.qt.views._live_view import LiveView
from metagui.qt.views._loss import LossPlot
from metagui.qt.views._parallel import ParallelCoordinates
from metagui.qt.views._pareto import ParetoPlot
from metagui.qt.views._studies_view import StudiesView
from metagui.qt.views._trajectory import TrajectoryPlot
from metagui.qt.views._trials_model import TrialsTableModel
from metagui.qt.views._trials_table import TrialsTable

__all__ = [
    "EXPORT_FORMATS",
    "BestSoFarPlot",
    "CompareImportance",
    "CompareStudies",
    "CompareTable",
    "ImportancePlot",
    "LiveView",
    "LossPlot",
    "ParallelCoordinates",
    "ParetoPlot",
    "StudiesView",
    "TrajectoryPlot",
    "TrialsTable",
    "TrialsTableModel",
    "export_plot",
]
