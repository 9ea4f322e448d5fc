"""A form over the fields of one pydantic model inside the experiment document.

``ModelForm(doc, OptimizerSpec, "optimizer")`` renders each field with an editor chosen from
its annotation (spin box, number or text line, combo for a ``Literal``, check box), its
description as tooltip, and writes a finished edit back with ``doc`` as one undoable step.
Text that does not validate (against the whole experiment, so cross-field rules count) turns
the field red with the reason under it and is registered with ``doc.mark_invalid`` until it
is fixed or replaced by the document (undo, open).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from metagui.core.experiment import ExperimentSpec
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import Editor, humanize, make_editor, set_invalid, shape_of

__all__ = ["LABELS", "Browse", "ModelForm", "label_for"]

#: How a path field is chosen by dialog: a folder, or a file matching a name filter.
Browse = tuple[Literal["dir", "file"], str]

LABELS: dict[str, str] = {
    "k_shot": "K-shot",
    "q_query": "Query size",
    "n_way": "N-way",
    "lr": "Learning rate",
    "inner_lr": "Inner LR",
    "msl_iterations": "MSL iterations",
    "cnp_hidden": "CNP width",
    "x_range": "x range",
    "url": "URL",
    "meta_batch_size": "Meta-batch",
    "eval_inner_steps": "Eval inner steps",
    "char_trigrams": "Char trigrams",
    "ngram": "N-gram lengths",
    "startup_trials": "Start-up trials",
    "warmup_steps": "Warm-up steps",
    "min_resource": "Min resource",
    "embed_dim": "Embedding width",
    "filters": "Conv filters",
    "norm": "Normalisation",
}


def label_for(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


class _FieldRow(QWidget):
    """The editor (plus a "…" button for paths) with its error line below it."""

    def __init__(self, editor: Editor, browse: QToolButton | None) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        line = QHBoxLayout()
        line.setSpacing(4)
        line.addWidget(editor.widget, 1)
        if browse is not None:
            line.addWidget(browse)
        outer.addLayout(line)
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        outer.addWidget(self.error)


class ModelForm(QWidget):
    """Edits ``path`` (a dotted path, ``""`` for top-level fields) of ``doc.spec``, whose
    fields are those of ``model``; ``fields`` picks and orders them (default: all).
    ``follow=False``: the owner calls :meth:`refresh` when the document changes.
    ``field_checked(name)`` fires after the user's text in field ``name`` was checked."""

    field_checked = Signal(str)

    def __init__(
        self,
        doc: ExperimentDocument,
        model: type[BaseModel],
        path: str,
        *,
        fields: Iterable[str] | None = None,
        browse: dict[str, Browse] | None = None,
        placeholders: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        follow: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._doc, self._path = doc, path
        self._names = list(fields) if fields is not None else list(model.model_fields)
        self._editors: dict[str, Editor] = {}
        self._rows: dict[str, _FieldRow] = {}
        self._errors: dict[str, str] = {}
        self._shown: dict[str, Any] = {}
        self._tooltips: dict[str, str] = {}
        self._layout = QFormLayout(self)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for name in self._names:
            info = model.model_fields[name]
            editor = make_editor(shape_of(info), (placeholders or {}).get(name, ""))
            editor.widget.setObjectName(f"field_{name}")
            button = None
            if browse and name in browse:
                button = QToolButton()
                button.setText("…")
                button.setToolTip(f"Choose the {label_for(name).lower()} in a dialog")
                button.setObjectName("browseButton")
                button.clicked.connect(lambda _=False, n=name, b=browse[name]: self._browse(n, b))
            row = _FieldRow(editor, button)
            self._tooltips[name] = info.description or ""
            editor.widget.setToolTip(info.description or "")
            editor.edited.connect(lambda n=name: self._check(n, commit=False))
            editor.committed.connect(lambda n=name: self._check(n, commit=True))
            label = QLabel((labels or {}).get(name) or label_for(name))
            label.setToolTip(info.description or "")
            label.setBuddy(editor.widget)
            self._layout.addRow(label, row)
            self._editors[name], self._rows[name] = editor, row
        if follow:
            doc.changed.connect(self.refresh)
        self.refresh()

    # -- what the form edits (a subclass may edit a draft instead of the document) -----------
    @property
    def doc(self) -> ExperimentDocument:
        return self._doc

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def dotted(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def source(self) -> dict[str, Any]:
        """The values the form shows."""
        value = self._doc.value(self._path) if self._path else self._doc.data()
        return dict(value)

    def candidate(self, name: str, value: Any) -> tuple[ExperimentSpec | None, str | None]:
        """The experiment with field ``name`` set to ``value``, or why that is invalid."""
        return self._doc.try_value(self.dotted(name), value)

    def apply(self, spec: ExperimentSpec, name: str) -> None:
        self._doc.replace(spec, f"set {self.dotted(name)}")

    # -- model -> view ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the source's values. A field holding text that does not validate keeps it
        while its value in the document is unchanged (an edit elsewhere, or an undo of
        another field); undo of this field, open or new replace it."""
        data = self.source()
        invalid = self._doc.invalid_fields
        for name in self._names:
            value = data.get(name)
            if name in self._errors:
                if self.dotted(name) in invalid and value == self._shown.get(name):
                    continue
                self.set_error(name, None)
            self._editors[name].show_value(value)
            self._shown[name] = value

    # -- view -> model ---------------------------------------------------------------------------
    def _check(self, name: str, commit: bool) -> None:
        self._check_value(name, commit)
        self.field_checked.emit(name)

    def _check_value(self, name: str, commit: bool) -> None:
        try:
            value = self._editors[name].parse()
        except ValueError as exc:
            self.set_error(name, str(exc))
            return
        spec, error = self.candidate(name, value)
        if spec is None:
            target, reason = self.route(name, error or "invalid")
            if target != name:
                self.set_error(name, None)
            self.set_error(target, reason)
            return
        self.set_error(name, None)
        if commit:
            self.apply(spec, name)

    def route(self, name: str, message: str) -> tuple[str, str]:
        """Which field an error message is about (the edited one unless it names another
        field of this form), and the message without the location when that is the field."""
        where, sep, text = message.partition(": ")
        if not sep or " " in where:
            return name, message
        parts = where.split(".")
        prefix = self._path.split(".") if self._path else []
        if parts[: len(prefix)] != prefix:
            return name, message
        rest = parts[len(prefix) :]
        for part in rest[:2]:
            if part in self._editors:
                return part, text
        return name, text if not rest else message

    def set_error(self, name: str, reason: str | None) -> None:
        """Show (or clear) why field ``name``'s text is invalid, and tell the document."""
        if reason is None and name not in self._errors:
            return
        row, widget = self._rows[name], self._editors[name].widget
        reason = humanize(reason) if reason is not None else None
        if reason is None:
            del self._errors[name]
        else:
            self._errors[name] = reason
        set_invalid(widget, reason is not None)
        row.error.setText(reason or "")
        row.error.setVisible(reason is not None)
        tip = self._tooltips[name]
        widget.setToolTip(f"{tip}\n\n{reason}".strip() if reason else tip)
        self._doc.mark_invalid(self.dotted(name), reason)

    def clear_errors(self) -> None:
        for name in list(self._errors):
            self.set_error(name, None)

    def current(self, name: str) -> Any:
        """What field ``name`` shows: the user's value, or the source's if it does not parse."""
        try:
            return self._editors[name].parse()
        except ValueError:
            return self.source().get(name)

    def error(self, name: str) -> str | None:
        return self._errors.get(name)

    @property
    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    # -- layout ------------------------------------------------------------------------------------
    def editor(self, name: str) -> QWidget:
        """The input widget of field ``name`` (tests drive it like a user)."""
        return self._editors[name].widget

    def error_label(self, name: str) -> QLabel:
        return self._rows[name].error

    def add_row(self, label: str, widget: QWidget) -> None:
        """Append a row that is not a field of the model (aligned with the fields)."""
        self._layout.addRow(label, widget)

    def set_visible_fields(self, names: Iterable[str]) -> None:
        """Show only the rows of ``names`` (the settings that apply)."""
        visible = set(names)
        for name, row in self._rows.items():
            self._layout.setRowVisible(row, name in visible)

    def is_field_visible(self, name: str) -> bool:
        return not self._rows[name].isHidden()

    def set_text(self, name: str, text: str) -> None:
        """Put ``text`` in a line-edit field as if typed and finished (drag & drop, dialogs)."""
        widget = self._editors[name].widget
        setter: Callable[[str], None] | None = getattr(widget, "setText", None)
        if setter is None:
            raise TypeError(f"field {name} is not a text field")
        setter(text)
        self._check(name, commit=True)

    def _browse(self, name: str, how: Browse) -> None:
        kind, name_filter = how
        current = str(self.source().get(name) or "")
        if kind == "dir":
            chosen = QFileDialog.getExistingDirectory(self, f"Choose {label_for(name)}", current)
        else:
            chosen, _ = QFileDialog.getOpenFileName(
                self, f"Choose {label_for(name)}", current, name_filter
            )
        if chosen:
            self.set_text(name, chosen)
