"""The experiment being edited: one ``ExperimentSpec`` behind every form, with undo/redo.

Forms never hold their own copy of a setting: they read the document, and write edits back
through :meth:`ExperimentDocument.set_value` or :meth:`ExperimentDocument.replace`, each an
undoable command. The document only ever holds a valid spec; a form whose text does not
validate keeps it to itself, shows why, and registers itself in ``invalid_fields`` so that
Run stays disabled.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec, set_path

__all__ = ["ExperimentDocument", "validation_message"]


def validation_message(exc: Exception) -> str:
    """A pydantic error (or a MetaguiError) as one short line for a form."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(exc)


class _Change(QUndoCommand):
    def __init__(
        self, doc: ExperimentDocument, before: ExperimentSpec, after: ExperimentSpec, text: str
    ) -> None:
        super().__init__(text)
        self._doc, self._before, self._after = doc, before, after

    def redo(self) -> None:
        self._doc._apply(self._after)

    def undo(self) -> None:
        self._doc._apply(self._before)


class ExperimentDocument(QObject):
    """``changed`` fires after every change of ``spec`` (edit, undo, redo, open);
    ``validity_changed(bool)`` when the set of fields with invalid text changes."""

    changed = Signal()
    validity_changed = Signal(bool)
    path_changed = Signal(str)

    def __init__(self, spec: ExperimentSpec | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._spec = spec or ExperimentSpec()
        self.undo_stack = QUndoStack(self)
        self._invalid: dict[str, str] = {}
        self.path: Path | None = None

    @property
    def spec(self) -> ExperimentSpec:
        return self._spec

    def data(self) -> dict[str, Any]:
        """The spec as plain JSON-compatible data (a fresh copy)."""
        return self._spec.model_dump(mode="json", by_alias=True)

    def value(self, dotted: str) -> Any:
        node: Any = self.data()
        for part in dotted.split("."):
            node = node[part]
        return node

    # -- edits ---------------------------------------------------------------------------------
    def try_value(self, dotted: str, value: Any) -> tuple[ExperimentSpec | None, str | None]:
        """The spec with ``dotted`` set to ``value``, or the reason it would be invalid."""
        data = self.data()
        try:
            set_path(data, dotted, value)
        except (KeyError, TypeError):
            return None, f"{dotted}: no such setting"
        return self.try_data(data)

    @staticmethod
    def try_data(data: dict[str, Any]) -> tuple[ExperimentSpec | None, str | None]:
        try:
            return ExperimentSpec.model_validate(data), None
        except (ValueError, MetaguiError) as exc:
            return None, validation_message(exc)

    def set_value(self, dotted: str, value: Any) -> str | None:
        """Set one setting as an undoable edit; returns None, or why the value is refused."""
        spec, error = self.try_value(dotted, value)
        if spec is None:
            return error
        self.replace(spec, f"set {dotted}")
        return None

    def replace(self, spec: ExperimentSpec, text: str = "edit") -> None:
        """Make ``spec`` the document's spec as one undoable step (nothing if unchanged)."""
        if spec == self._spec:
            return
        self.undo_stack.push(_Change(self, copy.deepcopy(self._spec), spec, text))

    def _apply(self, spec: ExperimentSpec) -> None:
        self._spec = spec
        self.changed.emit()

    def reset(self, spec: ExperimentSpec, path: Path | None = None) -> None:
        """A new document (open, new): clears undo history and invalid fields."""
        self.undo_stack.clear()
        self._invalid.clear()
        self.path = path
        self._spec = spec
        self.changed.emit()
        self.validity_changed.emit(True)
        self.path_changed.emit(str(path) if path else "")

    # -- fields whose text does not validate ---------------------------------------------------
    def mark_invalid(self, field: str, reason: str | None) -> None:
        """Record (``reason``) or clear (None) that ``field``'s text cannot be applied."""
        was_valid = not self._invalid
        if reason is None:
            self._invalid.pop(field, None)
        else:
            self._invalid[field] = reason
        if was_valid != (not self._invalid):
            self.validity_changed.emit(not self._invalid)

    @property
    def invalid_fields(self) -> dict[str, str]:
        return dict(self._invalid)

    @property
    def is_valid(self) -> bool:
        return not self._invalid

    # -- files ---------------------------------------------------------------------------------
    def open(self, path: str | Path) -> None:
        from metagui.core.experiment_io import load_experiment

        self.reset(load_experiment(path), Path(path))

    def save(self, path: str | Path | None = None) -> Path:
        from metagui.core.experiment_io import save_experiment

        target = Path(path) if path is not None else self.path
        if target is None:
            raise MetaguiError("save: no file name given")
        save_experiment(self._spec, target)
        self.path = target
        self.undo_stack.setClean()
        self.path_changed.emit(str(target))
        return target
