"""What the window does to whole studies: rename, delete, archive or unarchive them (from the
history browser), and edit the search space of a paused or stopped study to continue it.

Each goes through the core's notebook writer (:meth:`HistoryModel.edit`), which refuses to
rename or delete a study being run (by this app or any other process): the refusal, one line,
is shown the app's one way (:func:`~metagui.qt.error_dialog.show_error`) and nothing changes.
Deleting asks first, saying how many trials and files go (``study_footprint``). After a rename
or a delete the browser reads the history afresh: the polls follow what is added and changed,
not what is gone. Editing a study's search space opens the
:class:`~metagui.qt._space_edit_dialog.SpaceEditDialog` on its stored experiment and makes
the runner that continues it (the window runs it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from metagui.core.errors import MetaguiError
from metagui.core.history import HistoryWriter, StudyFootprint
from metagui.qt._history_model import HistoryModel
from metagui.qt.error_dialog import show_error

if TYPE_CHECKING:
    from metagui.core.runner import StudyRunner

__all__ = [
    "ask_new_name",
    "confirm_delete",
    "delete_study",
    "edit_search_space",
    "rename_study",
    "set_archived",
]


def ask_new_name(parent: QWidget, current: str) -> str | None:
    """Ask for a study's new name (None: cancelled, or the name unchanged)."""
    name, accepted = QInputDialog.getText(
        parent,
        "Rename study",
        f"New name for the study “{current}” (its artifact folder is renamed with it):",
        QLineEdit.EchoMode.Normal,
        current,
    )
    name = name.strip()
    return name if accepted and name and name != current else None


def describe_footprint(footprint: StudyFootprint) -> str:
    """What deleting a study removes, in a sentence."""
    trials = f"{footprint.trials} trial{'' if footprint.trials == 1 else 's'}"
    n = len(footprint.files)
    files = f"{n} artifact file{'' if n == 1 else 's'}"
    where = f" (in {footprint.folder})" if n else ""
    return f"This deletes its {trials} and {files}{where}. It cannot be undone."


def confirm_delete(parent: QWidget, footprint: StudyFootprint) -> bool:
    """Ask whether to delete the study; True to go on."""
    box = QMessageBox(parent)
    box.setObjectName("confirmDelete")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Delete study")
    box.setText(f"Delete the study “{footprint.name}”?")
    box.setInformativeText(describe_footprint(footprint))
    box.setStandardButtons(QMessageBox.StandardButton.Cancel)
    delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is delete


def _refused(title: str, parent: QWidget, action: Callable[[], object]) -> bool:
    """Run ``action``; a refusal of the core is shown as one line. True if it went through."""
    try:
        action()
    except MetaguiError as refused:
        show_error(title, str(refused), parent=parent.window())
        return False
    return True


def rename_study(model: HistoryModel, study_id: int, parent: QWidget) -> bool:
    """Ask for a new name and rename the study (then the history is read afresh); True if
    it was renamed."""
    study = model.studies.get(study_id)
    if study is None:
        return False
    name = ask_new_name(parent, study.name)
    if name is None:
        return False
    renamed = _refused(
        "Cannot rename the study",
        parent,
        lambda: model.edit(lambda writer: writer.rename_study(study_id, name)),
    )
    if renamed:
        model.reload()
    return renamed


def delete_study(model: HistoryModel, study_id: int, parent: QWidget) -> bool:
    """Ask, then delete the study with its trials and artifact files (then the history is
    read afresh); True if it was deleted. A study being run is refused before asking."""
    footprints: list[StudyFootprint] = []

    def measure(writer: HistoryWriter) -> StudyFootprint:
        writer.check_not_running(study_id, "deleted")
        return writer.study_footprint(study_id)

    def look() -> None:
        footprints.append(model.edit(measure))

    if not _refused("Cannot delete the study", parent, look):
        return False
    if not confirm_delete(parent, footprints[0]):
        return False
    deleted = _refused(
        "Cannot delete the study",
        parent,
        lambda: model.edit(lambda writer: writer.delete_study(study_id)),
    )
    # Also when the files could not all be removed: the records went, the list must follow.
    model.reload()
    return deleted


def set_archived(
    model: HistoryModel, study_ids: list[int], archived: bool, parent: QWidget
) -> bool:
    """Archive (hide from the list) or unarchive the studies; True if it went through."""

    def change(writer: HistoryWriter) -> None:
        for study_id in study_ids:
            writer.set_archived(study_id, archived)

    title = "Cannot archive the study" if archived else "Cannot unarchive the study"
    return _refused(title, parent, lambda: model.edit(change))


def edit_search_space(
    db_path: Path, study_name: str, parent: QWidget, *, paused_run: bool = False
) -> StudyRunner | None:
    """Ask for a new search space (and budget) of study ``study_name`` and make the runner
    that continues it with them; None if cancelled or refused (said in one line).
    ``paused_run``: the study is the window's own paused run (its lease is this process's);
    any other study is refused while some process runs it."""
    from pydantic import ValidationError

    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import HistoryReader
    from metagui.qt._space_edit_dialog import SpaceEditDialog

    title = "Cannot edit the search space"
    try:
        with HistoryReader(db_path, upgrade=True) as reader:
            study = reader.study(study_name)
            if study is None:
                raise MetaguiError(f"{db_path}: no study named {study_name!r}")
            trials = reader.trials(study.id)
        if not paused_run:
            with HistoryWriter(db_path) as writer:
                writer.check_not_running(study.id, "edited")
        stored = ExperimentSpec.model_validate(study.spec)
    except (MetaguiError, ValidationError) as exc:
        show_error(title, str(exc).splitlines()[0], parent=parent.window())
        return None
    dialog = SpaceEditDialog(study_name, stored, trials, stops_run=paused_run, parent=parent)
    try:
        if dialog.exec() != SpaceEditDialog.DialogCode.Accepted:
            return None
        spec = dialog.new_spec()
    finally:
        dialog.deleteLater()
    from metagui.core.runner import StudyRunner

    try:
        return StudyRunner(spec, db_path, study=study_name, resume=True, collect_garbage=False)
    except MetaguiError as exc:
        show_error(title, str(exc), parent=parent.window())
        return None
