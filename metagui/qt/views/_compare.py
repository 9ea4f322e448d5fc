"""Several studies' best-so-far curves on one plot, for the history browser."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._axis_items import set_integer_axis
from metagui.qt.views._best import BestSoFarView, best_so_far_curve, time_axis_unit
from metagui.qt.views._labels import objective_label
from metagui.qt.views._studies_view import StudiesView, study_color
from metagui.qt.views._view_box import mark_lone_points

__all__ = ["CompareStudies"]


class CompareStudies(StudiesView, BestSoFarView):
    """The best-so-far value of each chosen study (``set_studies``) against trial number or
    wall time since each study began, one colour per study, legend by study name. The y axis
    fits the bulk of the values (:class:`RobustViewBox`), as in :class:`BestSoFarPlot`."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.curves: dict[int, pg.PlotDataItem] = {}

    def _draw(self, study: StudyData | None) -> None:
        studies = self.studies()
        by_time = self.by_time()
        paths: dict[int, tuple[list[float], list[float]]] = {}
        longest = 0.0
        for data in studies:
            trials = data.counted()
            if by_time:
                points = [
                    ((t.finished or data.summary.created) - data.summary.created, t.value or 0.0)
                    for t in trials
                ]
                ends = [t.finished for t in data.trials.values() if t.finished is not None]
                until = max(ends, default=data.summary.created) - data.summary.created
            else:
                points = [(float(t.number), t.value or 0.0) for t in trials]
                until = float(max((t.number for t in data.trials.values()), default=0))
            paths[data.summary.id] = best_so_far_curve(points, data.maximize, until)
            longest = max(longest, until)
        scale, unit = time_axis_unit(longest) if by_time else (1.0, "")
        self.legend.clear()
        for study_id in list(self.curves):
            if study_id not in paths:
                self.plot.removeItem(self.curves.pop(study_id))
        for i, data in enumerate(studies):
            curve = self.curves.get(data.summary.id)
            if curve is None:
                curve = pg.PlotDataItem(antialias=True)
                self.plot.addItem(curve)
                self.curves[data.summary.id] = curve
            curve.setPen(pg.mkPen(study_color(i), width=2.5))
            xs, ys = paths[data.summary.id]
            curve.setData([x / scale for x in xs], ys)
            mark_lone_points(curve, size=8)  # a study of one trial is one point
            best = data.best_trial()
            best_text = f"{best.value:.4g}" if best and best.value is not None else "no result"
            self.legend.addItem(curve, f"{data.name}: best {best_text} ({data.summary.strategy})")
        labels = {objective_label(s) for s in studies}
        self.plot.setLabel("left", labels.pop() if len(labels) == 1 else "best value")
        self.plot.setLabel(
            "bottom",
            f"wall time since each study began ({unit})" if by_time else "trial number",
        )
        set_integer_axis(self.plot, "bottom", not by_time)
        names = (
            ", ".join(s.name for s in studies) if len(studies) <= 3 else f"{len(studies)} studies"
        )
        self.plot.setTitle(f"Best so far: {names}" if studies else "Choose studies to compare")
