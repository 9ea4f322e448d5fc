"""The semi-private parts of pyqtgraph that the views override or read, checked against the
installed pyqtgraph: a release that renames or re-plumbs one of them fails here, with the pin
in ``pyproject.toml`` and the code to revisit named, before a diverged trial silently
flattens every plot again. (Optuna's and torch's: ``tests/test_library_internals.py``.)"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPainter, QPicture
from pytestqt.qtbot import QtBot

from metagui.qt.views._axis_items import FittedLabelAxis, ValueAxis
from metagui.qt.views._view_box import RobustViewBox

PYQTGRAPH = f"pyqtgraph {version('pyqtgraph')}: revisit the pyqtgraph bound in pyproject.toml and "
VIEW_BOX = PYQTGRAPH + "RobustViewBox in metagui/qt/views/_view_box.py: "
AXES = PYQTGRAPH + "metagui/qt/views/_axis_items.py: "


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_view_box_methods_the_robust_range_overrides_keep_their_signatures() -> None:
    bounds = inspect.signature(pg.ViewBox.childrenBounds).parameters
    assert list(bounds) == ["self", "frac", "orthoRange", "items"], (
        VIEW_BOX + f"ViewBox.childrenBounds now takes {list(bounds)}"
    )
    defaults = [bounds[name].default for name in ("frac", "orthoRange", "items")]
    assert defaults == [None, (None, None), None], VIEW_BOX + f"new defaults {defaults}"
    assert _parameters(pg.ViewBox.updateAutoRange) == ["self"], (
        VIEW_BOX + "ViewBox.updateAutoRange now takes arguments"
    )
    # What pyqtgraph asks of a data item while it ranges (CurveBundle answers it too).
    assert _parameters(pg.PlotDataItem.dataBounds) == ["self", "ax", "frac", "orthoRange"], (
        PYQTGRAPH + "CurveBundle.dataBounds in metagui/qt/views/_bundle.py: "
        "PlotDataItem.dataBounds changed"
    )


def test_the_view_box_state_the_robust_range_reads_is_there(qtbot: QtBot) -> None:
    box = RobustViewBox()
    item = pg.PlotDataItem([0, 1], [2, 3])
    box.addItem(item)
    assert box.state.get("logMode") == [False, False], VIEW_BOX + "state['logMode'] changed"
    assert item in box.addedItems, VIEW_BOX + "ViewBox.addedItems no longer lists added items"
    assert list(item.yData) == [2, 3] and isinstance(item.opts, dict), (
        VIEW_BOX + "PlotDataItem.yData or .opts changed"
    )


def _fitted_y_range(qtbot: QtBot, box: pg.ViewBox) -> tuple[float, float]:
    """The y range auto range gives a curve of values 0.1 to 1 with one of 1e12 among them."""
    widget = pg.PlotWidget(viewBox=box)
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    ys = np.linspace(0.1, 1.0, 40)
    ys[20] = 1e12
    widget.plot(np.arange(len(ys)), ys)
    widget.grab()  # painting is when pyqtgraph applies auto range
    low, high = box.viewRange()[1]
    return low, high


def test_the_robust_range_still_decides_what_pyqtgraph_auto_ranges_to(qtbot: QtBot) -> None:
    """pyqtgraph's auto range asks ``childrenBounds`` from ``updateAutoRange``: the override
    leaves the diverged value out, where a plain view box fits it."""
    plain = _fitted_y_range(qtbot, pg.ViewBox())
    # Up to its dynamicRangeLimit (1e6 times the span of the rest) pyqtgraph fits everything.
    assert plain[1] > 1e5, f"the plain view box fits the diverged value too: {plain}"
    low, high = _fitted_y_range(qtbot, RobustViewBox())
    assert low < 0.1 + 0.05 and 1.0 <= high < 2.0, (
        VIEW_BOX + f"the automatic y range is ({low:.3g}, {high:.3g}): updateAutoRange no "
        "longer asks childrenBounds for it as it did"
    )


def test_the_axis_internals_the_axes_override_are_there(qtbot: QtBot) -> None:
    assert _parameters(pg.AxisItem.generateDrawSpecs) == ["self", "p"], (
        AXES + "ValueAxis.generateDrawSpecs: AxisItem.generateDrawSpecs changed"
    )
    assert _parameters(pg.AxisItem.labelString) == ["self"], (
        AXES + "FittedLabelAxis.labelString: AxisItem.labelString changed"
    )
    axis = ValueAxis("left")
    plot = pg.PlotWidget(axisItems={"left": axis})
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.plot([0, 1, 2], [0, 5, 10])
    plot.grab()
    # ValueAxis.set_background drops this cached drawing; a renamed cache would stay stale.
    assert isinstance(axis.picture, QPicture), AXES + "AxisItem.picture is no longer its cache"
    specs = axis.generateDrawSpecs(QPainter())
    assert specs is not None and len(specs) == 3 and len(specs[1][0]) == 3, (
        AXES + "ValueAxis.generateDrawSpecs: the draw specs are no longer "
        "(axis, [(pen, p1, p2), ...], texts)"
    )
    labelled = FittedLabelAxis("left")
    labelled.setLabel("validation loss")
    assert labelled.labelText == "validation loss" and isinstance(labelled.labelStyle, dict), (
        AXES + "FittedLabelAxis.labelString reads AxisItem.labelText and .labelStyle"
    )
    assert labelled.shown_label() == "validation loss", (
        AXES + "FittedLabelAxis: AxisItem no longer draws its label from labelString()"
    )
