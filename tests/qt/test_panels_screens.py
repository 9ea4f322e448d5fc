"""Pictures of the panels, with the app's stylesheet, wide and narrow (as in the setup dock).

They are written to ``$METAGUI_SCREENSHOTS`` (e.g. ``/tmp``) when set, else to the test's
temporary folder; open them after a GUI change. The assertions check what a picture must show:
a red invalid field, a drawn preview."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget
from test_panels_support import EXAMPLES, make_image_folder, make_text_csv, type_into, with_taskset

from metagui.core.experiment_io import load_experiment
from metagui.qt._document import ExperimentDocument
from metagui.qt.app import load_stylesheet
from metagui.qt.panels import SearchPanel, StrategyPanel, TaskSetPanel
from metagui.qt.panels._search_table import LOW

OMNIGLOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "omniglot"
WAIT_MS = 60_000


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("METAGUI_SCREENSHOTS") or tmp_path)


@pytest.fixture(autouse=True)
def _styled(qapp: QApplication) -> Iterator[None]:
    """The app's look (Fusion + stylesheet) for these pictures only."""
    style, sheet = qapp.style().name(), qapp.styleSheet()
    qapp.setStyle("Fusion")
    qapp.setStyleSheet(load_stylesheet())
    yield
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)


def _in_dock(qtbot, panel: QWidget, width: int, height: int) -> QScrollArea:
    """The panel as the main window shows it: in a scroll area of the setup dock."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    scroll.resize(width, height)
    qtbot.addWidget(scroll)
    return scroll


def _save(qtbot, widget: QWidget, path: Path) -> None:
    qtbot.wait(50)
    assert widget.grab().save(str(path)), path
    assert path.stat().st_size > 5_000


def _reddish(widget: QWidget) -> bool:
    """Whether the widget, on average, looks red (the stylesheet's invalid look)."""
    image = widget.grab().toImage()
    pixels = [
        QColor(image.pixelColor(x, y))
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
    ]
    red = sum(c.red() for c in pixels) / len(pixels)
    green = sum(c.green() for c in pixels) / len(pixels)
    blue = sum(c.blue() for c in pixels) / len(pixels)
    return red > green + 8 and red > blue + 8


def test_taskset_panel_pictures(qtbot, shots: Path, tmp_path: Path) -> None:
    doc = ExperimentDocument(load_experiment(EXAMPLES / "sinusoid-search.yaml"))
    panel = TaskSetPanel(doc, preview_delay_ms=0)
    wide = _in_dock(qtbot, panel, 1200, 700)
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS):
        wide.show()
    _save(qtbot, wide, shots / "panel_taskset_sinusoid.png")
    wide.resize(480, 950)
    _save(qtbot, wide, shots / "panel_taskset_narrow.png")
    wide.resize(1200, 700)

    if OMNIGLOT.is_dir():
        images = with_taskset(
            doc.spec, family="omniglot", root=str(OMNIGLOT), n_way=5, k_shot=1, q_query=5,
            background="images_background_small1", evaluation="images_background_small2",
        )  # fmt: skip
    else:
        images = with_taskset(
            doc.spec, family="image_folder", root=str(make_image_folder(tmp_path / "img")),
            n_way=2, k_shot=1, q_query=2, image_size=8, split=[0.5, 0.25, 0.25],
        )  # fmt: skip
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        doc.replace(images)
    assert shown.args == ["images"]
    _save(qtbot, wide, shots / "panel_taskset_images.png")

    texts = with_taskset(
        doc.spec, family="text_csv", path=str(make_text_csv(tmp_path / "t.csv", 12, 4)), n_way=3,
        k_shot=2, q_query=2, split=[0.5, 0.25, 0.25],
    )  # fmt: skip
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        doc.replace(texts)
    assert shown.args == ["texts"]
    _save(qtbot, wide, shots / "panel_taskset_text.png")

    panel.family.setCurrentIndex(panel.family.findData("image_folder"))
    type_into(qtbot, panel.forms["image_folder"].editor("n_way"), "1")
    assert _reddish(panel.forms["image_folder"].editor("n_way"))
    assert _reddish(panel.forms["image_folder"].editor("root"))
    _save(qtbot, wide, shots / "panel_taskset_invalid.png")
    wide.close()
    assert panel.loader.active_threads() == 0


def test_search_panel_pictures(qtbot, shots: Path) -> None:
    doc = ExperimentDocument(load_experiment(EXAMPLES / "sinusoid-search.yaml"))
    panel = SearchPanel(doc)
    scroll = _in_dock(qtbot, panel, 1300, 800)
    scroll.show()
    _save(qtbot, scroll, shots / "panel_search.png")
    panel.search_space.table.item(1, LOW).setText("1")
    type_into(qtbot, panel.algorithm.editor("inner_lr"), "-1")
    assert _reddish(panel.algorithm.editor("inner_lr"))
    assert _reddish(panel.search_space.name_combo(1))
    _save(qtbot, scroll, shots / "panel_search_invalid.png")
    scroll.resize(480, 1000)
    _save(qtbot, scroll, shots / "panel_search_narrow.png")


def test_strategy_panel_pictures(qtbot, shots: Path) -> None:
    doc = ExperimentDocument(load_experiment(EXAMPLES / "omniglot-search.yaml"))
    panel = StrategyPanel(doc, studies_provider=lambda: ["omniglot-maml", "omniglot-search-1"])
    scroll = _in_dock(qtbot, panel, 1000, 700)
    scroll.show()
    qtbot.waitUntil(lambda: panel.device.description.text() != "…", timeout=WAIT_MS)
    panel.warm_start.buttons["named"].click()
    panel.warm_start.named.list.item(0).setCheckState(Qt.CheckState.Checked)
    _save(qtbot, scroll, shots / "panel_strategy.png")
    panel.budget.limit_trials.setChecked(False)
    panel.budget.limit_time.setChecked(False)
    assert _reddish(panel.budget.limit_trials) and _reddish(panel.budget.limit_time)
    scroll.resize(480, 1000)
    _save(qtbot, scroll, shots / "panel_strategy_narrow.png")
