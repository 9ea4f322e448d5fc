"""Every view rendered offscreen with realistic data; the pictures are kept where
``METAGUI_SCREENSHOTS`` points (e.g. ``/tmp``) to be looked at, else in the test's tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, History, write_study

from metagui.qt._history_model import HistoryModel
from metagui.qt.views import (
    BestSoFarPlot,
    CompareStudies,
    ImportancePlot,
    LiveView,
    LossPlot,
    ParallelCoordinates,
    TrajectoryPlot,
    TrialsTable,
)

VIEWS: dict[str, type[LiveView]] = {
    "loss": LossPlot,
    "trajectory": TrajectoryPlot,
    "best_so_far": BestSoFarPlot,
    "parallel": ParallelCoordinates,
    "importance": ImportancePlot,
    "trials_table": TrialsTable,
    "compare": CompareStudies,
}


def distinct_colours(image: QImage) -> int:
    step = 7
    return len(
        {
            image.pixel(x, y)
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }
    )


@pytest.mark.parametrize("name", list(VIEWS))
def test_screenshot_of_every_view(
    name: str, qtbot: QtBot, tmp_path: Path, history: History, model: HistoryModel
) -> None:
    folder = Path(os.environ.get("METAGUI_SCREENSHOTS") or tmp_path)
    other = [("COMPLETE", v, dict(TRIALS[5][2])) for v in (0.5, 0.3, 0.35, 0.2, 0.18, 0.12)]
    baseline = write_study(
        history.path, history.clock, other, name="tpe-rerun", writer=history.writer
    )
    model.poll()
    view = VIEWS[name](model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    if isinstance(view, CompareStudies):
        view.set_studies([history.study_id, baseline.study_id])
    else:
        view.set_study(history.study_id)
    if isinstance(view, TrajectoryPlot):
        view.set_param("optimizer.lr")
        view.set_trial(history.ids[5])
    if isinstance(view, LossPlot):
        view.set_log_y(True)
    if isinstance(view, ImportancePlot):
        view.min_interval_s = 0.0
        view.redraw()
        qtbot.waitUntil(lambda: view.importances is not None, timeout=20_000)
    view.redraw()
    qtbot.wait(50)
    image = view.grab().toImage()
    path = folder / f"view_{name}.png"
    assert image.save(str(path))
    assert path.stat().st_size > 0
    assert distinct_colours(image) > 20, "the view looks empty"
