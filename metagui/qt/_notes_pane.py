"""The notes pane beside a trials table: the researcher's notes and tags on the selected trial,
or on the study when no trial is selected, written into the history as they are edited.

The note is saved when the editor loses the focus, when another trial or study is shown, and
after a short pause in typing; tags are written as each is added or removed. Each write is a
short-lived :class:`~metagui.core.history.HistoryWriter` on the followed file (through
:meth:`HistoryModel.edit`): notes and tags may be written while a run holds the study's lease.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from metagui.core.errors import MetaguiError
from metagui.qt._history_model import HistoryModel
from metagui.qt._tag_chips import TagChips
from metagui.qt.error_dialog import show_error

__all__ = ["SAVE_AFTER_MS", "NotesPane"]

SAVE_AFTER_MS = 800
"""A note is saved this long after the last keystroke (and at once when the editor is left)."""


class _NoteEditor(QPlainTextEdit):
    """A plain-text editor that says when it loses the focus."""

    focus_lost = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.focus_lost.emit()


class NotesPane(QWidget):
    """Notes and tags of one study, or of one of its trials (:meth:`set_target`), kept in step
    with the history (a note written by ``metagui history`` shows up, unless it is being
    edited here). ``study_requested`` when the user asks for the study's notes instead of the
    trial's (the views then drop the trial selection)."""

    study_requested = Signal()

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notesPane")
        self.model = model
        self._study_id: int | None = None
        self._trial_id: int | None = None
        self._shown_seq: int | None = None  # the updated_seq of the row shown
        self._dirty = False  # the editor holds text not yet written

        self.title = QLabel("Notes")
        self.title.setObjectName("notesTitle")
        self.study_button = QToolButton()
        self.study_button.setText("Study notes")
        self.study_button.setToolTip("Show the notes and tags of the study instead")
        self.study_button.setAutoRaise(True)
        self.study_button.clicked.connect(self.study_requested)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.study_button)
        self.chips = TagChips()
        self.chips.tag_added.connect(self._on_tag_added)
        self.chips.tag_removed.connect(self._on_tag_removed)
        self.editor = _NoteEditor()
        self.editor.setObjectName("noteEditor")
        self.editor.setPlaceholderText("Notes: what you tried, what you saw, what to do next…")
        self.editor.textChanged.connect(self._on_text_changed)
        self.editor.focus_lost.connect(self.save)
        # A single-shot timer restarted at each keystroke: the pause before saving.
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(SAVE_AFTER_MS)
        self._pause.timeout.connect(self.save)
        self.saved_label = QLabel()
        self.saved_label.setObjectName("hint")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.chips)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.saved_label)
        self.model.changed.connect(self.refresh)
        self.set_target(None)

    # -- what is shown ---------------------------------------------------------------------------
    @property
    def study_id(self) -> int | None:
        return self._study_id

    @property
    def trial_id(self) -> int | None:
        return self._trial_id

    def set_target(self, study_id: int | None, trial_id: int | None = None) -> None:
        """Show the notes and tags of trial ``trial_id`` of study ``study_id``, or of the
        study itself (``trial_id`` None); a note being edited is saved first."""
        if (study_id, trial_id) == (self._study_id, self._trial_id) and study_id is not None:
            return
        self.save()
        self._study_id, self._trial_id = study_id, trial_id
        self._shown_seq = None
        self.saved_label.setText("")
        self._load()

    def refresh(self) -> None:
        """Show what the history holds now for the shown study or trial, if it changed (a
        note being edited here is left alone)."""
        if self._study_id is None:
            return
        seq = self._current_seq()
        if seq is None:  # the study or trial is gone (deleted, or the file reopened)
            if self._study_id not in self.model.studies:
                self._study_id, self._trial_id = None, None
                self._load()
            return
        if seq != self._shown_seq:
            self._load(keep_text=self._dirty or self.editor.hasFocus())

    def _current_seq(self) -> int | None:
        study = self.model.studies.get(self._study_id) if self._study_id is not None else None
        if study is None:
            return None
        if self._trial_id is None:
            return study.summary.updated_seq
        trial = study.trials.get(self._trial_id)
        return None if trial is None else trial.updated_seq

    def _load(self, *, keep_text: bool = False) -> None:
        study = self.model.studies.get(self._study_id) if self._study_id is not None else None
        trial = None
        if study is not None and self._trial_id is not None:
            trial = study.trials.get(self._trial_id)
        enabled = study is not None
        self.chips.setEnabled(enabled)
        self.editor.setEnabled(enabled)
        self.study_button.setVisible(trial is not None)
        if study is None:
            self.title.setText("Notes")
            self._show_text("")
            self.chips.set_tags(())
            self.editor.setPlaceholderText("Select a study to write notes on it.")
            return
        self._shown_seq = self._current_seq()
        if trial is not None:
            self.title.setText(f"Notes on trial #{trial.number}")
            note, tags = trial.notes, trial.tags
            self.editor.setPlaceholderText(
                f"Notes on trial #{trial.number}: what it tried, what you saw…"
            )
        else:
            self.title.setText(f"Notes on study “{study.name}”")
            note, tags = self.model.study_notes(study.summary.id), study.summary.tags
            self.editor.setPlaceholderText("Notes on this study: the question, what you saw, …")
        self.chips.set_tags(tags)
        if not keep_text:
            self._show_text(note or "")

    def _show_text(self, text: str) -> None:
        if self.editor.toPlainText() != text:
            self.editor.blockSignals(True)
            try:
                self.editor.setPlainText(text)
            finally:
                self.editor.blockSignals(False)
        self._dirty = False
        self._pause.stop()

    # -- writing ---------------------------------------------------------------------------------
    @Slot()
    def _on_text_changed(self) -> None:
        self._dirty = True
        self.saved_label.setText("")
        self._pause.start()

    @Slot()
    def save(self) -> bool:
        """Write the note being edited now, if it changed; False if it could not be (the
        error is shown, and the text stays in the editor to try again)."""
        self._pause.stop()
        if not self._dirty or self._study_id is None:
            return True
        study_id, trial_id, text = self._study_id, self._trial_id, self.editor.toPlainText()
        try:
            self.model.edit(lambda writer: writer.set_note(study_id, text, trial_id=trial_id))
        except MetaguiError as refused:
            show_error("Cannot save the note", str(refused), parent=self.window())
            return False
        self._dirty = False
        self._shown_seq = self._current_seq()
        self.saved_label.setText("Saved")
        return True

    @Slot(str)
    def _on_tag_added(self, tag: str) -> None:
        self._change_tags(add=[tag])

    @Slot(str)
    def _on_tag_removed(self, tag: str) -> None:
        self._change_tags(remove=[tag])

    def _change_tags(self, add: list[str] | None = None, remove: list[str] | None = None) -> None:
        if self._study_id is None:
            return
        study_id, trial_id = self._study_id, self._trial_id
        try:
            tags = self.model.edit(
                lambda writer: writer.change_tags(
                    study_id, add or (), remove or (), trial_id=trial_id
                )
            )
        except MetaguiError as refused:
            self.chips.show_error(str(refused))
            return
        self.chips.set_tags(tags)
        self._shown_seq = self._current_seq()

    def focus_editor(self) -> None:
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)
