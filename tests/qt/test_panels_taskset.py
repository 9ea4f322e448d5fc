"""The task-set panel: a view over ``doc.spec.taskset`` with a live, threaded preview."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QLabel
from test_panels_support import make_image_folder, make_text_csv, type_into, with_taskset

from metagui.core.tasksets import EpisodePreview
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels import TaskSetPanel
from metagui.qt.panels._preview import PreviewLoader
from metagui.qt.panels._preview_view import fit_thumbnails
from metagui.qt.panels._taskset_panel import INCOMPLETE_MESSAGE

WAIT_MS = 60_000  # the first preview imports torch in the worker thread


@pytest.fixture
def doc() -> ExperimentDocument:
    return ExperimentDocument()


@pytest.fixture
def panel(qtbot, doc: ExperimentDocument) -> TaskSetPanel:
    widget = TaskSetPanel(doc, preview_delay_ms=0)
    qtbot.addWidget(widget)
    return widget


def _mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


# -- model -> view -------------------------------------------------------------------------------
def test_document_edits_and_undo_show_in_the_form(panel: TaskSetPanel, doc) -> None:
    spin = panel.forms["sinusoid"].editor("k_shot")
    assert spin.value() == 10
    assert doc.set_value("taskset.k_shot", 7) is None
    assert spin.value() == 7
    assert doc.set_value("taskset.amplitude", [1.0, 2.0]) is None
    assert panel.forms["sinusoid"].editor("amplitude").text() == "1.0, 2.0"
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert spin.value() == 10
    assert panel.forms["sinusoid"].editor("amplitude").text() == "0.1, 5.0"


def test_opening_another_family_switches_the_form(panel: TaskSetPanel, doc, tmp_path) -> None:
    csv_path = make_text_csv(tmp_path / "texts.csv")
    doc.reset(with_taskset(doc.spec, family="text_csv", path=str(csv_path), n_way=3))
    assert panel.family.currentData() == "text_csv"
    assert panel.stack.currentWidget() is panel.forms["text_csv"]
    assert panel.forms["text_csv"].editor("path").text() == str(csv_path)
    assert panel.forms["text_csv"].editor("n_way").value() == 3


# -- view -> model -------------------------------------------------------------------------------
def test_typing_a_value_edits_the_document_as_one_undo_step(qtbot, panel, doc) -> None:
    type_into(qtbot, panel.forms["sinusoid"].editor("k_shot"), "5")
    assert doc.spec.taskset.k_shot == 5
    type_into(qtbot, panel.forms["sinusoid"].editor("x_range"), "-2, 2")
    assert doc.spec.taskset.x_range == (-2.0, 2.0)
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.spec.taskset.k_shot == 10
    assert panel.forms["sinusoid"].editor("k_shot").value() == 10


def test_invalid_text_turns_red_with_the_reason_until_fixed(qtbot, panel, doc) -> None:
    form = panel.forms["sinusoid"]
    spin = form.editor("k_shot")
    type_into(qtbot, spin, "0")
    assert spin.property("invalid") is True
    assert form.error_label("k_shot").text() == "must be at least 1"
    assert not form.error_label("k_shot").isHidden()
    assert not doc.is_valid and "taskset.k_shot" in doc.invalid_fields
    assert doc.spec.taskset.k_shot == 10  # the document keeps its last valid value

    amplitude = form.editor("amplitude")
    type_into(qtbot, amplitude, "5, 1")
    assert amplitude.property("invalid") is True
    assert "must not exceed" in (form.error("amplitude") or "")
    type_into(qtbot, amplitude, "1, x")
    assert "enter a number" in (form.error("amplitude") or "")

    type_into(qtbot, spin, "3")
    type_into(qtbot, amplitude, "1, 4")
    assert spin.property("invalid") is False and form.error_label("k_shot").isHidden()
    assert doc.is_valid
    assert (doc.spec.taskset.k_shot, doc.spec.taskset.amplitude) == (3, (1.0, 4.0))


def test_invalid_text_is_validated_while_typing(qtbot, panel, doc) -> None:
    field = panel.forms["sinusoid"].editor("q_query")
    type_into(qtbot, field, "0", finish=False)
    assert field.property("invalid") is True and not doc.is_valid
    qtbot.keyClicks(field, "7")  # "07"
    assert field.property("invalid") is False and doc.is_valid


def test_undo_of_the_field_replaces_invalid_text(qtbot, panel, doc) -> None:
    spin = panel.forms["sinusoid"].editor("k_shot")
    type_into(qtbot, spin, "4")
    type_into(qtbot, spin, "0")
    assert not doc.is_valid
    doc.undo_stack.undo()
    assert spin.value() == 10 and spin.property("invalid") is False and doc.is_valid


def test_family_switch_asks_for_data_then_applies_in_one_step(panel, doc, tmp_path) -> None:
    root = make_image_folder(tmp_path / "images")
    panel.family.setCurrentIndex(panel.family.findData("image_folder"))
    form = panel.forms["image_folder"]
    assert panel.stack.currentWidget() is form
    assert {"root", "n_way", "image_size", "channels"} <= set(form.names)
    assert form.editor("root").property("invalid") is True
    assert "choose a folder" in (form.error("root") or "")
    assert not doc.is_valid and doc.spec.taskset.family == "sinusoid"

    assert panel.drop_paths([root])
    assert doc.spec.taskset.family == "image_folder"
    assert doc.spec.taskset.root == str(root)
    assert doc.is_valid and form.editor("root").property("invalid") is False
    doc.undo_stack.undo()
    assert doc.spec.taskset.family == "sinusoid"
    assert panel.family.currentData() == "sinusoid"
    assert panel.stack.currentWidget() is panel.forms["sinusoid"]


def test_switching_back_to_a_complete_family_is_immediate(panel, doc) -> None:
    panel.family.setCurrentIndex(panel.family.findData("omniglot"))
    assert not doc.is_valid
    panel.family.setCurrentIndex(panel.family.findData("sinusoid"))
    assert doc.is_valid and doc.undo_stack.count() == 0
    assert panel.stack.currentWidget() is panel.forms["sinusoid"]


def test_path_typed_into_a_pending_family_applies_it(qtbot, panel, doc, tmp_path) -> None:
    csv_path = make_text_csv(tmp_path / "texts.csv")
    panel.family.setCurrentIndex(panel.family.findData("text_csv"))
    form = panel.forms["text_csv"]
    type_into(qtbot, form.editor("n_way"), "3")  # kept in the draft while path is missing
    assert "choose a file" in (form.error("path") or "")
    type_into(qtbot, form.editor("path"), str(csv_path))
    assert doc.spec.taskset.family == "text_csv"
    assert (doc.spec.taskset.path, doc.spec.taskset.n_way) == (str(csv_path), 3)
    assert doc.is_valid


def _event(kind: type, mime: QMimeData) -> QDropEvent:
    # The event keeps a raw pointer to ``mime``: the caller must keep ``mime`` alive.
    # PySide6 6.11 binds the drag (enter/move) events' position as QPoint, the drop's as QPointF.
    return kind(
        QPoint(5, 5) if issubclass(kind, QDragMoveEvent) else QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )


def test_dropping_a_folder_or_a_csv_sets_root_or_path(panel, doc, tmp_path) -> None:
    root = make_image_folder(tmp_path / "images")
    folder = _mime(root)
    enter = _event(QDragEnterEvent, folder)
    enter.setAccepted(False)
    panel.dragEnterEvent(enter)
    assert enter.isAccepted()
    panel.dropEvent(_event(QDropEvent, folder))
    assert (doc.spec.taskset.family, doc.spec.taskset.root) == ("image_folder", str(root))

    csv_file = _mime(make_text_csv(tmp_path / "texts.csv"))
    panel.dropEvent(_event(QDropEvent, csv_file))
    assert (doc.spec.taskset.family, doc.spec.taskset.path) == (
        "text_csv",
        str(tmp_path / "texts.csv"),
    )


def test_a_dragged_file_of_another_kind_is_refused(panel, tmp_path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("x")
    mime = _mime(other)
    event = _event(QDragEnterEvent, mime)
    event.setAccepted(False)
    panel.dragEnterEvent(event)
    assert not event.isAccepted()


def test_folder_dropped_on_omniglot_sets_its_root(panel, doc, tmp_path) -> None:
    panel.family.setCurrentIndex(panel.family.findData("omniglot"))
    assert panel.drop_paths([tmp_path])
    assert (doc.spec.taskset.family, doc.spec.taskset.root) == ("omniglot", str(tmp_path))


def test_omniglot_sets_are_typed_as_a_comma_separated_list(qtbot, panel, doc, tmp_path) -> None:
    doc.reset(with_taskset(doc.spec, family="omniglot", root=str(tmp_path)))
    line = panel.forms["omniglot"].editor("background")
    assert line.text() == "images_background"
    type_into(qtbot, line, "images_background_small1, images_background_small2")
    assert doc.spec.taskset.background == ["images_background_small1", "images_background_small2"]
    type_into(qtbot, line, "images_background_small1")
    assert doc.spec.taskset.background == ["images_background_small1"]
    assert line.text() == "images_background_small1"
    evaluation = panel.forms["omniglot"].editor("evaluation")
    evaluation.clear()
    qtbot.keyClick(evaluation, Qt.Key.Key_Return)
    assert doc.spec.taskset.evaluation == []  # no test split


# -- preview -------------------------------------------------------------------------------------
def test_sinusoid_preview_plots_curves_and_support_points(qtbot, panel, doc) -> None:
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        panel.show()
    assert shown.args == ["curves"]
    items = panel.preview.plot.getPlotItem().listDataItems()
    curves, points = items[0::2], items[1::2]
    assert len(curves) == len(points) == 4
    x, y = curves[0].getData()
    assert len(x) == 200 and abs(y).max() <= 5.0
    assert len(points[0].getData()[0]) == 10

    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS):
        doc.set_value("taskset.k_shot", 3)
    points = panel.preview.plot.getPlotItem().listDataItems()[1::2]
    assert all(len(p.getData()[0]) == 3 for p in points)
    panel.close()
    assert panel.loader.active_threads() == 0


def test_image_preview_shows_labelled_support_and_query(qtbot, panel, doc, tmp_path) -> None:
    root = make_image_folder(tmp_path / "images")
    spec = with_taskset(
        doc.spec, family="image_folder", root=str(root), n_way=2, k_shot=1, q_query=2,
        image_size=8, split=[0.5, 0.25, 0.25],
    )  # fmt: skip
    panel.show()
    qtbot.waitUntil(lambda: not panel.loader.busy, timeout=WAIT_MS)
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        doc.replace(spec)
    assert shown.args == ["images"]
    thumbs = panel.preview.thumbnails()
    assert len(thumbs) == 2 * 1 + 2 * 2
    labels = {t.toolTip() for t in thumbs}
    rows = [w.toolTip() for w in panel.preview.images.findChildren(QLabel, "previewClass")]
    assert len(labels) == 2 and set(rows) == labels
    assert labels <= {f"class_{i}" for i in range(8)}
    assert all(not t.pixmap().isNull() for t in thumbs)
    assert "2-way 1-shot" in panel.caption.text()


def test_fit_thumbnails_shrinks_them_then_shows_fewer() -> None:
    assert fit_thumbnails(2000, 5, 15) == (56, 5, 6)  # 6 query examples at most
    size, k, q = fit_thumbnails(420, 5, 15)
    assert (k, q) == (5, 6) and 28 <= size < 56
    assert fit_thumbnails(200, 5, 15) == (28, 5, 1)
    assert fit_thumbnails(100, 5, 15) == (28, 2, 1)


@pytest.mark.parametrize("width", [560, 380])
def test_the_image_preview_fits_the_dock_and_says_what_it_shows(
    qtbot, panel, doc, tmp_path, width: int
) -> None:
    root = make_image_folder(tmp_path / "images", classes=32, per_class=24)
    spec = with_taskset(
        doc.spec, family="image_folder", root=str(root), n_way=5, k_shot=5, q_query=15,
        image_size=8,
    )  # fmt: skip
    panel.resize(width, 900)
    panel.show()
    qtbot.waitUntil(lambda: not panel.loader.busy, timeout=WAIT_MS)
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS):
        doc.replace(spec)
    view = panel.preview
    headers = [w.text() for w in view.images.findChildren(QLabel, "previewHeader")]
    query_header = next(h for h in headers if h.startswith("Query"))
    shown = int(query_header.split("(")[1].split()[0])
    assert query_header == (
        f"Query ({shown} of 15 per class)" if shown < 15 else "Query (15 per class)"
    )
    assert len(view.thumbnails()) == 5 * 5 + 5 * shown  # every column the header counts
    right = view.images.viewport().width()
    for thumb in view.thumbnails():
        edge = thumb.mapTo(view.images.viewport(), thumb.rect().topRight()).x()
        assert edge <= right, "a thumbnail is cut off at the right"
    assert not view.images.verticalScrollBar().isVisible()  # the panel scrolls, not the grid


def test_text_preview_shows_one_episode_in_a_table(qtbot, panel, doc, tmp_path) -> None:
    path = make_text_csv(tmp_path / "texts.csv")
    spec = with_taskset(
        doc.spec, family="text_csv", path=str(path), n_way=2, k_shot=1, q_query=2,
        split=[0.5, 0.25, 0.25],
    )  # fmt: skip
    doc.replace(spec)
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        panel.show()
    assert shown.args == ["texts"]
    table = panel.preview.table
    assert table.rowCount() == 2 * (1 + 2)
    column = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert column.count("support") == 2 and column.count("query") == 4
    assert table.item(0, 2).text().startswith("text number")


def test_task_set_errors_are_shown_in_the_preview(qtbot, panel, doc, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    doc.replace(with_taskset(doc.spec, family="image_folder", root=str(tmp_path / "empty")))
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS) as shown:
        panel.show()
    assert shown.args == ["error"]
    assert "no images" in panel.preview.message.text()
    assert panel.preview.message.property("error") is True


def test_pending_family_shows_a_message_not_a_stale_preview(qtbot, panel) -> None:
    panel.show()
    panel.family.setCurrentIndex(panel.family.findData("image_folder"))
    assert panel.preview.kind == "message"
    assert "highlighted" in panel.preview.message.text()
    panel.close()
    assert panel.loader.active_threads() == 0


def test_a_valid_root_typed_into_a_pending_family_is_previewed_at_once(
    qtbot, panel, doc, tmp_path
) -> None:
    # Enough for the default 5-way 1-shot episodes with 15 queries in every split.
    root = make_image_folder(tmp_path / "images", classes=32, per_class=16)
    panel.show()
    panel.family.setCurrentIndex(panel.family.findData("image_folder"))
    assert panel.preview.message.text() == INCOMPLETE_MESSAGE
    line = panel.forms["image_folder"].editor("root")
    qtbot.keyClicks(line, str(root))  # typed; the focus has not left the field
    assert panel.forms["image_folder"].errors == {}
    assert panel.preview.message.text() != INCOMPLETE_MESSAGE  # never contradicts the form
    qtbot.waitUntil(lambda: panel.preview.kind == "images", timeout=WAIT_MS)
    assert "5-way 1-shot" in panel.caption.text()
    assert doc.spec.taskset.family == "sinusoid"  # applied on Enter or leaving the field
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert doc.spec.taskset.family == "image_folder" and doc.spec.taskset.root == str(root)


def test_text_that_does_not_validate_replaces_the_preview_by_the_message(qtbot, panel, doc) -> None:
    with qtbot.waitSignal(panel.preview_shown, timeout=WAIT_MS):
        panel.show()
    line = panel.forms["sinusoid"].editor("amplitude")
    line.selectAll()
    qtbot.keyClicks(line, "1, x")
    assert panel.preview.message.text() == INCOMPLETE_MESSAGE
    line.selectAll()
    qtbot.keyClicks(line, "1, 2")
    qtbot.waitUntil(lambda: panel.preview.kind == "curves", timeout=WAIT_MS)


def test_closing_during_a_preview_waits_for_its_thread(qtbot, panel, doc, tmp_path) -> None:
    root = make_image_folder(tmp_path / "images", classes=8, per_class=20, size=64)
    doc.replace(
        with_taskset(doc.spec, family="image_folder", root=str(root), split=[0.5, 0.25, 0.25])
    )
    with qtbot.waitSignal(panel.loader.started, timeout=WAIT_MS):
        panel.show()
    panel.close()
    assert panel.loader.active_threads() == 0 and not panel.loader.busy


# -- the loader: off the GUI thread, debounced, newest wins --------------------------------------
class _FakeConfig:
    def __init__(self, tag: str, log: list[tuple[str, bool]], gate: threading.Event | None = None):
        self.tag, self._log, self._gate = tag, log, gate

    def build(self) -> _FakeConfig:
        self._log.append((self.tag, threading.current_thread() is threading.main_thread()))
        if self._gate is not None:
            assert self._gate.wait(10)
        return self

    def preview(self, seed: int) -> EpisodePreview:
        return EpisodePreview(kind="texts", support=(), query=())


def test_loader_debounces_and_builds_off_the_gui_thread(qtbot) -> None:
    log: list[tuple[str, bool]] = []
    loader = PreviewLoader(delay_ms=50)
    try:
        with qtbot.waitSignal(loader.ready, timeout=10_000):
            for tag in "abcde":
                loader.request(_FakeConfig(tag, log), 0)
        assert log == [("e", False)]  # one build, of the newest request, in a worker thread
    finally:
        loader.shutdown()
    assert loader.active_threads() == 0


def test_loader_ignores_the_outcome_of_a_superseded_build(qtbot) -> None:
    log: list[tuple[str, bool]] = []
    gate = threading.Event()
    loader = PreviewLoader(delay_ms=0)
    results: list[object] = []
    loader.ready.connect(results.append)
    try:
        with qtbot.waitSignal(loader.started):
            loader.request(_FakeConfig("old", log, gate), 0, now=True)
        newest = _FakeConfig("new", log)
        loader.request(newest, 0, now=True)
        gate.set()
        qtbot.waitUntil(lambda: not loader.busy, timeout=10_000)
        qtbot.wait(50)
        assert [tag for tag, _ in log] == ["old", "new"]
        assert len(results) == 1
    finally:
        gate.set()
        loader.shutdown()
