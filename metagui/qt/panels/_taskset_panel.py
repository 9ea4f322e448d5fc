"""The task-set panel: family picker, the family's settings, drag & drop of data, a live
preview of sample episodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from PySide6.QtCore import QEvent, QMimeData, QObject, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from metagui.core.experiment import ExperimentSpec
from metagui.core.tasksets import (
    EpisodePreview,
    ImageFolderConfig,
    OmniglotConfig,
    SinusoidConfig,
    TaskSetConfig,
    TextCSVConfig,
)
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import set_invalid
from metagui.qt.panels._form import Browse, ModelForm
from metagui.qt.panels._layout import AdaptiveSplitter
from metagui.qt.panels._preview import PreviewLoader
from metagui.qt.panels._preview_view import PreviewView

__all__ = ["FAMILY_TITLES", "INCOMPLETE_MESSAGE", "TEXT_SUFFIXES", "TaskSetPanel"]

INCOMPLETE_MESSAGE = "Complete the highlighted settings to see a preview."
LOADING_MESSAGE = "Loading preview…"

FAMILIES: dict[str, type[BaseModel]] = {
    "sinusoid": SinusoidConfig,
    "omniglot": OmniglotConfig,
    "image_folder": ImageFolderConfig,
    "text_csv": TextCSVConfig,
}
FAMILY_TITLES = {
    "sinusoid": "Sinusoid regression",
    "omniglot": "Omniglot characters",
    "image_folder": "Folder of class images",
    "text_csv": "Labelled texts (CSV / JSONL)",
}
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json"})
_BROWSE: dict[str, Browse] = {
    "root": ("dir", ""),
    "path": ("file", "Labelled texts (*.csv *.tsv *.jsonl *.ndjson *.json);;All files (*)"),
}


def family_defaults(family: str) -> dict[str, Any]:
    """A fresh config of ``family`` as plain data; required paths are left empty."""
    data: dict[str, Any] = {}
    for name, info in FAMILIES[family].model_fields.items():
        data[name] = "" if info.is_required() else info.get_default(call_default_factory=True)
    return dict(to_jsonable_python(data))


class _FamilyForm(ModelForm):
    """A family's settings. While the family is not (yet) the document's, because a required
    setting such as ``root`` is missing, it edits the panel's draft instead."""

    def __init__(self, panel: TaskSetPanel, family: str) -> None:
        self._panel, self.family = panel, family
        model = FAMILIES[family]
        names = [n for n in model.model_fields if n != "family"]
        browse = {n: b for n, b in _BROWSE.items() if n in names}
        super().__init__(panel.doc, model, "taskset", fields=names, browse=browse, follow=False)

    def source(self) -> dict[str, Any]:
        return self._panel.draft(self.family)

    def candidate(self, name: str, value: Any) -> tuple[ExperimentSpec | None, str | None]:
        data = {**self.source(), name: value}
        self._panel.keep_draft(self.family, data)
        return self._panel.try_taskset(data, focus=name)

    def apply(self, spec: ExperimentSpec, name: str) -> None:
        self._panel.doc.replace(spec, f"set taskset.{name}")


class TaskSetPanel(QWidget):
    """Edits ``doc.spec.taskset``. ``preview_shown(kind)`` fires when the preview shows
    ``curves``, ``images``, ``texts``, or ``error`` (a task-set error message)."""

    preview_shown = Signal(str)

    def __init__(
        self, doc: ExperimentDocument, parent: QWidget | None = None, *, preview_delay_ms: int = 400
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setAcceptDrops(True)
        self._drafts: dict[str, dict[str, Any]] = {}
        self._pending: str | None = None  # a family shown but not in the document yet
        self._pending_base: dict[str, Any] | None = None
        self._preview_seed = 0
        self._previewed: tuple[Any, int] | None = None
        self._preview_dirty = True

        self.family = QComboBox()
        self.family.setObjectName("taskFamily")
        for family in FAMILIES:
            self.family.addItem(FAMILY_TITLES[family], family)
        self.family.currentIndexChanged.connect(self._on_family_chosen)
        self.family_error = QLabel()
        self.family_error.setObjectName("fieldError")
        self.family_error.setWordWrap(True)
        self.family_error.hide()
        self.forms: dict[str, _FamilyForm] = {}
        self.stack = QStackedWidget()
        for family in FAMILIES:
            self.forms[family] = _FamilyForm(self, family)
            self.forms[family].field_checked.connect(self._on_field_checked)
            self.stack.addWidget(self.forms[family])

        top = QFormLayout()
        top.addRow("Family", self.family)
        top.addRow("", self.family_error)
        settings = QGroupBox("Task set")
        box = QVBoxLayout(settings)
        box.addLayout(top)
        box.addWidget(self.stack)
        box.addStretch(1)
        hint = QLabel("Drop a folder of class folders, or a .csv / .jsonl file, onto this panel.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        box.addWidget(hint)

        self.preview = PreviewView()
        self.caption = QLabel()
        self.caption.setObjectName("previewCaption")
        self.caption.setWordWrap(True)
        self.resample = QPushButton("New sample")
        self.resample.setToolTip("Draw other tasks with the next seed")
        self.resample.clicked.connect(self._on_resample)
        preview_box = QGroupBox("Preview")
        pv = QVBoxLayout(preview_box)
        head = QHBoxLayout()
        head.addWidget(self.caption, 1)
        head.addWidget(self.resample)
        pv.addLayout(head)
        pv.addWidget(self.preview, 1)

        self.preview.setMinimumSize(320, 300)
        splitter = AdaptiveSplitter(side_by_side=880)
        splitter.addWidget(settings)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.loader = PreviewLoader(preview_delay_ms, self)
        self.loader.ready.connect(self._on_preview)
        self.loader.failed.connect(self._on_preview_failed)
        self.loader.started.connect(self._on_preview_started)
        doc.changed.connect(self._sync)
        self._sync()

    # -- drafts of families (used by the family forms) ------------------------------------------
    def draft(self, family: str) -> dict[str, Any]:
        """The values shown for ``family``: the document's if it is the document's family."""
        current = self.doc.value("taskset")
        if family == current["family"]:
            return dict(current)
        return dict(self._drafts.get(family) or family_defaults(family))

    def keep_draft(self, family: str, data: dict[str, Any]) -> None:
        if family != self.doc.value("taskset")["family"]:
            self._drafts[family] = dict(data)

    def try_taskset(
        self, data: dict[str, Any], focus: str | None = None
    ) -> tuple[ExperimentSpec | None, str | None]:
        """The experiment with task set ``data``, or why not: the family's own checks first,
        preferring an error about field ``focus`` (the one being edited)."""
        try:
            FAMILIES[str(data.get("family"))].model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            first = next((e for e in errors if e["loc"][:1] == (focus,)), errors[0])
            field = str(first["loc"][0]) if first["loc"] else ""
            message = str(first["msg"]).removeprefix("Value error, ")
            if field in _BROWSE and not str(data.get(field) or "").strip():
                what = "folder" if _BROWSE[field][0] == "dir" else "file"
                message = f"choose a {what} with the … button or drop one onto this panel"
            return None, f"taskset.{field}: {message}" if field else f"taskset: {message}"
        return self.doc.try_value("taskset", data)

    @property
    def shown_family(self) -> str:
        return self._pending or str(self.doc.value("taskset")["family"])

    # -- model -> view ---------------------------------------------------------------------------
    @Slot()
    def _sync(self) -> None:
        current = self.doc.value("taskset")
        family = current["family"]
        if self._pending is not None and (family == self._pending or current != self._pending_base):
            self._drop_pending()
        self._drafts[family] = dict(current)
        shown = self.shown_family
        self.family.blockSignals(True)
        self.family.setCurrentIndex(self.family.findData(shown))
        self.family.blockSignals(False)
        for family, form in self.forms.items():
            # Hidden families do not count in the size the settings ask for.
            policy = QSizePolicy.Policy.Preferred if family == shown else QSizePolicy.Policy.Ignored
            form.setSizePolicy(policy, policy)
        self.stack.setCurrentWidget(self.forms[shown])
        self.forms[shown].refresh()
        self._schedule_preview()

    def _drop_pending(self) -> None:
        if self._pending is not None:
            self.forms[self._pending].clear_errors()
        self._pending = self._pending_base = None
        self._set_family_error(None)

    def _set_family_error(self, reason: str | None) -> None:
        set_invalid(self.family, reason is not None)
        self.family_error.setText(reason or "")
        self.family_error.setVisible(reason is not None)
        self.doc.mark_invalid("taskset.family", reason)

    # -- view -> model ---------------------------------------------------------------------------
    @Slot(int)
    def _on_family_chosen(self, index: int) -> None:
        self.choose_family(str(self.family.itemData(index)))

    def choose_family(self, family: str) -> None:
        """Switch to ``family``, with its last values (or defaults) as one undoable step; if
        they do not validate yet (no data chosen), show them to be completed first."""
        if self._pending is not None and self._pending != family:
            self._drop_pending()
        current = self.doc.value("taskset")
        if family != current["family"]:
            data = self.draft(family)
            spec, error = self.try_taskset(data)
            if spec is not None:
                self.doc.replace(spec, f"set taskset.family = {family}")
                return
            self._pending, self._pending_base = family, current
            form = self.forms[family]
            form.refresh()
            target, reason = form.route("family", error or "invalid")
            if target == "family":
                self._set_family_error(reason)
            else:
                form.set_error(target, reason)
        self._sync()

    def drop_paths(self, paths: list[Path]) -> bool:
        """Use dropped data: a folder becomes ``taskset.root`` (switching to a folder of
        class images unless the family reads a folder), a text file ``taskset.path``."""
        for path in paths:
            if path.is_dir():
                self._use_path("root", str(path), "image_folder")
                return True
            if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
                self._use_path("path", str(path), "text_csv")
                return True
        return False

    def _use_path(self, field: str, value: str, family: str) -> None:
        form = self.forms[self.shown_family]
        if field in form.names:
            form.set_text(field, value)
            return
        self._drafts[family] = {**self.draft(family), field: value}
        self.choose_family(family)

    @staticmethod
    def _dropped(mime: QMimeData) -> list[Path]:
        if not mime.hasUrls():
            return []
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        return [p for p in paths if p.is_dir() or p.suffix.lower() in TEXT_SUFFIXES]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.drop_paths(self._dropped(event.mimeData())):
            event.acceptProposedAction()

    # -- preview ---------------------------------------------------------------------------------
    def shown_taskset(self) -> TaskSetConfig | None:
        """The task set the form shows, typed text not yet applied included (the preview
        follows the form, not only the document), or None while that does not validate."""
        form = self.forms[self.shown_family]
        if form.errors or self.family_error.text():
            return None
        data = {**form.source(), **{name: form.current(name) for name in form.names}}
        data["family"] = self.shown_family
        spec, _ = self.try_taskset(data)
        return None if spec is None else spec.taskset

    @Slot(str)
    def _on_field_checked(self, _name: str) -> None:
        self._schedule_preview()

    def _schedule_preview(self, *, now: bool = False) -> None:
        if not self.isVisible():
            self._preview_dirty = True
            return
        self._preview_dirty = False
        config = self.shown_taskset()
        if config is None:
            self.loader.cancel()
            self._previewed = None
            self.caption.setText("")
            self.preview.show_message(INCOMPLETE_MESSAGE)
            return
        request = (config, self._preview_seed)
        if request == self._previewed and not now:
            return
        self._previewed = request
        if self.preview.kind == "message":  # the message may say the form is incomplete
            self.preview.show_message(LOADING_MESSAGE)
        self.loader.request(*request, now=now)

    @Slot()
    def _on_resample(self) -> None:
        self._preview_seed += 1
        self._schedule_preview(now=True)

    @Slot()
    def _on_preview_started(self) -> None:
        if self.preview.kind in ("message", "error"):
            self.caption.setText("")
            self.preview.show_message(LOADING_MESSAGE)
        else:  # keep the last preview in view until the new one is drawn
            self.caption.setText(LOADING_MESSAGE)

    @Slot(object)
    def _on_preview(self, preview: EpisodePreview) -> None:
        self.caption.setText(self.preview.show_preview(preview))
        self.preview_shown.emit(preview.kind)

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        self.caption.setText("The task set cannot be built:")
        self.preview.show_message(message, error=True)
        self.preview_shown.emit("error")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self:
            # Inside a main window this panel gets no close event of its own: watch the
            # window's (Qt installs a filter once), so that no preview thread outlives it.
            # No reference to the window is kept: it would keep the window alive.
            window.installEventFilter(self)
        if self._preview_dirty:
            self._schedule_preview()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.shutdown()
        return super().eventFilter(watched, event)

    @Slot()
    def shutdown(self) -> None:
        """Stop previewing and wait for a build in progress (before the window goes); a
        later show previews again."""
        self.loader.shutdown()
        self._previewed = None
        self._preview_dirty = True

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
