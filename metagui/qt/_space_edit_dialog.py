"""The "Edit search space" dialog: the search-space table of the app's setup (on a copy of a
paused or stopped study's stored experiment) with the study's budget, what the edit changes
and how many of the study's trials would fall outside the new space, before the study is
continued with it (as ``metagui run --resume`` with the edited file continues it; see
:mod:`metagui.core.space_edit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from metagui.core.space_edit import compare_spaces, counted_trials, outside_numbers
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._search_table import SearchSpaceTable

if TYPE_CHECKING:
    from metagui.core.experiment import ExperimentSpec
    from metagui.core.history import TrialRow

__all__ = ["SpaceEditDialog"]

MAX_TRIALS = 1_000_000


class SpaceEditDialog(QDialog):
    """Edits the search space and the trial budget of study ``study`` (its stored experiment
    ``stored``, its ``trials``); accepted, :meth:`new_spec` is the experiment to continue it
    with. ``stops_run``: the study is the window's paused run, which continuing stops first."""

    def __init__(
        self,
        study: str,
        stored: ExperimentSpec,
        trials: Sequence[TrialRow],
        *,
        stops_run: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("spaceEditDialog")
        self.setWindowTitle(f"Edit search space — {study}")
        self.study = study
        self.stored = stored
        self.trials = list(trials)
        self.counted = counted_trials(self.trials)
        self.stops_run = stops_run
        self.doc = ExperimentDocument(stored, parent=self)
        self.table = SearchSpaceTable(self.doc)
        self.table.defaults_button.hide()  # it replaces the whole space: not an edit of it

        intro = QLabel(
            f"Change the search space of the study “{study}” and continue it. Its trials all "
            "stay in the history; those outside the new space still count for the best value "
            "and exports, but no longer steer the search."
        )
        intro.setWordWrap(True)
        space = QGroupBox("Search space")
        space_layout = QVBoxLayout(space)
        space_layout.addWidget(self.table)

        self.trials_box = QSpinBox()
        self.trials_box.setObjectName("spaceEditTrials")
        budget = stored.budget
        floor = 0 if budget.timeout_s is not None else 1
        self.trials_box.setRange(floor, MAX_TRIALS)
        self.trials_box.setSpecialValueText("no limit" if floor == 0 else "")
        self.trials_box.setToolTip("How many trials the study runs in all, those done included")
        planned = budget.trials
        if planned is not None and self.counted >= planned:
            planned = self.counted + planned  # used up: one more round of the same size
        self.trials_box.setValue(planned or 0)
        budget_row = QHBoxLayout()
        budget_row.addWidget(QLabel("Trials in all:"))
        budget_row.addWidget(self.trials_box)
        budget_row.addWidget(QLabel(f"({self.counted} done)"))
        budget_row.addStretch(1)

        self.summary = QLabel()
        self.summary.setObjectName("spaceEditSummary")
        self.summary.setWordWrap(True)
        summary_box = QGroupBox("What continuing does")
        summary_layout = QVBoxLayout(summary_box)
        summary_layout.addWidget(self.summary)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.continue_button: QPushButton = buttons.addButton(
            "Continue study", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.continue_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(space, 1)
        layout.addLayout(budget_row)
        layout.addWidget(summary_box)
        layout.addWidget(buttons)
        self.doc.changed.connect(self._update)
        self.doc.validity_changed.connect(self._update)
        self.trials_box.valueChanged.connect(self._update)
        self._fit(parent)
        self._update()

    def _fit(self, parent: QWidget | None) -> None:
        """Room for the table's columns and a few rows, within the window it opens over."""
        width, height = 1100, 720
        if parent is not None:
            window = parent.window()
            width = min(width, max(640, round(0.8 * window.width())))
            height = min(height, max(480, round(0.85 * window.height())))
        self.resize(width, height)

    # -- what the dialog makes ---------------------------------------------------------------------
    def new_spec(self) -> ExperimentSpec:
        """The study's experiment with the edited search space and budget."""
        trials = self.trials_box.value() or None
        budget = self.doc.spec.budget.model_copy(update={"trials": trials})
        return self.doc.spec.model_copy(update={"budget": budget})

    def outside_count(self) -> int:
        """How many of the study's trials the edited space leaves outside."""
        return len(outside_numbers(self.new_spec(), self.trials))

    def summary_text(self) -> str:
        return self.summary.text()

    # -- updating ----------------------------------------------------------------------------------
    @Slot()
    def _update(self, *_: object) -> None:
        lines: list[str] = []
        invalid = self.doc.invalid_fields
        ok = not invalid
        if invalid:
            lines.append("Fix the search space first: " + "; ".join(invalid.values()))
        else:
            spec = self.new_spec()
            edit = compare_spaces(self.stored, spec)
            if edit.changed:
                lines.append("Changes:")
                lines += [f"• {change}" for change in (*edit.space, *edit.other)]
            else:
                lines.append("No change yet: the study goes on with the space it has.")
            n = len(self.trials)
            if edit.space_changed:
                outside = self.outside_count()
                lines.append(
                    f"{outside} of {n} trial{'' if n == 1 else 's'} would fall outside the new "
                    "space."
                    if outside
                    else f"All {n} trials lie inside the new space."
                )
            planned = spec.budget.trials
            if planned is not None and self.counted >= planned:
                ok = False
                lines.append(
                    f"The budget is used up ({self.counted} of {planned} trials done): raise "
                    "Trials in all to run more."
                )
            if self.stops_run:
                lines.append(
                    "Continuing stops the paused run first: a trial it was training is recorded "
                    "as interrupted and runs again if it lies inside the new space."
                )
        self.summary.setText("\n".join(lines))
        self.continue_button.setEnabled(ok)
