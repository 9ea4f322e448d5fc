"""The experiment being edited: one ``ExperimentSpec`` behind every form, with undo/redo.

Forms never hold their own copy of a setting: they read the document, and write edits back
through :meth:`ExperimentDocument.set_value` or :meth:`ExperimentDocument.replace`, each an
undoable command. The document only ever holds a valid spec; a form whose text does not
validate keeps it to itself, shows why, and registers itself in ``invalid_fields`` so that
Run stays disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from shiboken6 import isValid

from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec, set_path
from metagui.core.search_space import lookup

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


class UndoHistory(QObject):
    """The document's undo history, with QUndoStack's interface where the app uses it.

    ``state(i)`` is the spec after the i-th edit (``state(0)``: as opened); undo and redo move
    ``index()``. It is plain Python on purpose: QUndoStack owns its commands in C++, and with
    PySide6 6.11 a command pushed from Python was deleted a second time when the stack went
    (a crash in ``QUndoStack::clear`` during garbage collection)."""

    indexChanged = Signal(int)
    cleanChanged = Signal(bool)
    canUndoChanged = Signal(bool)
    canRedoChanged = Signal(bool)
    undoTextChanged = Signal(str)
    redoTextChanged = Signal(str)

    def __init__(self, initial: ExperimentSpec, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: list[ExperimentSpec] = [initial]
        self._texts: list[str] = []  # _texts[i]: the edit that led to _states[i + 1]
        self._index = 0
        self._clean: int | None = 0

    # -- reading -------------------------------------------------------------------------------
    def state(self, index: int) -> ExperimentSpec:
        return self._states[index]

    def index(self) -> int:
        return self._index

    def count(self) -> int:
        return len(self._texts)

    def canUndo(self) -> bool:
        return self._index > 0

    def canRedo(self) -> bool:
        return self._index < len(self._texts)

    def undoText(self) -> str:
        return self._texts[self._index - 1] if self.canUndo() else ""

    def redoText(self) -> str:
        return self._texts[self._index] if self.canRedo() else ""

    def isClean(self) -> bool:
        return self._clean == self._index

    # -- changing ------------------------------------------------------------------------------
    def push(self, spec: ExperimentSpec, text: str) -> None:
        """Record an edit that leads to ``spec`` (the redo branch is dropped) and move to it."""
        self._change(lambda: self._record(spec, text))

    def undo(self) -> None:
        if self.canUndo():
            self._change(lambda: self._move(-1))

    def redo(self) -> None:
        if self.canRedo():
            self._change(lambda: self._move(+1))

    def setClean(self) -> None:
        self._change(lambda: setattr(self, "_clean", self._index))

    def clear(self, initial: ExperimentSpec) -> None:
        """Forget every edit: ``initial`` is the new starting state (and clean)."""

        def forget() -> None:
            self._states, self._texts, self._index, self._clean = [initial], [], 0, 0

        self._change(forget)

    def createUndoAction(self, parent: QObject, prefix: str = "Undo") -> QAction:
        return self._action(parent, prefix, self.canUndo, self.undoText, self.undo, True)

    def createRedoAction(self, parent: QObject, prefix: str = "Redo") -> QAction:
        return self._action(parent, prefix, self.canRedo, self.redoText, self.redo, False)

    # -- inside --------------------------------------------------------------------------------
    def _record(self, spec: ExperimentSpec, text: str) -> None:
        del self._states[self._index + 1 :]
        del self._texts[self._index :]
        if self._clean is not None and self._clean > self._index:
            self._clean = None  # the clean state was on the branch just dropped
        self._states.append(spec)
        self._texts.append(text)
        self._index += 1

    def _move(self, step: int) -> None:
        self._index += step

    def _change(self, change: Callable[[], None]) -> None:
        """Apply ``change`` and emit what it changed, as QUndoStack does."""
        before = self._snapshot()
        change()
        after = self._snapshot()
        signals = (
            self.indexChanged,
            self.cleanChanged,
            self.canUndoChanged,
            self.canRedoChanged,
            self.undoTextChanged,
            self.redoTextChanged,
        )
        for signal, old, new in zip(signals, before, after, strict=True):
            if old != new:
                signal.emit(new)

    def _snapshot(self) -> tuple[int, bool, bool, bool, str, str]:
        return (
            self._index,
            self.isClean(),
            self.canUndo(),
            self.canRedo(),
            self.undoText(),
            self.redoText(),
        )

    def _action(
        self,
        parent: QObject,
        prefix: str,
        enabled: Callable[[], bool],
        text: Callable[[], str],
        trigger: Callable[[], None],
        undo: bool,
    ) -> QAction:
        action = QAction(parent)

        def update() -> None:
            if not isValid(action):  # the window that owned it is gone
                return
            action.setEnabled(enabled())
            action.setText(f"{prefix} {text()}".strip())

        update()
        action.triggered.connect(trigger)
        (self.canUndoChanged if undo else self.canRedoChanged).connect(update)
        (self.undoTextChanged if undo else self.redoTextChanged).connect(update)
        return action


class ExperimentDocument(QObject):
    """``changed`` fires after every change of ``spec`` (edit, undo, redo, open);
    ``validity_changed(bool)`` when the set of fields with invalid text changes."""

    changed = Signal()
    validity_changed = Signal(bool)
    path_changed = Signal(str)

    def __init__(self, spec: ExperimentSpec | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._spec = spec or ExperimentSpec()
        self.undo_stack = UndoHistory(self._spec, self)
        self.undo_stack.indexChanged.connect(self._on_index)
        self._invalid: dict[str, str] = {}
        self.path: Path | None = None

    @property
    def spec(self) -> ExperimentSpec:
        return self._spec

    def data(self) -> dict[str, Any]:
        """The spec as plain JSON-compatible data (a fresh copy)."""
        return self._spec.model_dump(mode="json", by_alias=True)

    def value(self, dotted: str) -> Any:
        """The value of setting ``dotted`` (``KeyError`` where there is none)."""
        return lookup(self.data(), dotted)

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
        self.undo_stack.push(spec, text)  # moves the index: _on_index applies it

    @Slot(int)
    def _on_index(self, index: int) -> None:
        spec = self.undo_stack.state(index)
        if spec is not self._spec:
            self._spec = spec
            self.changed.emit()

    def reset(self, spec: ExperimentSpec, path: Path | None = None) -> None:
        """A new document (open, new): clears undo history and invalid fields."""
        self.undo_stack.clear(spec)
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

        # Opened to be edited: a data folder or device missing here is the user's to fix
        # (the task set panel says what is wrong), not a reason to refuse the file.
        self.reset(load_experiment(path, check_resources=False), Path(path))

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
