"""The strategy panel's execution editor: how many trials run at once, and where (Ray).

It edits the experiment's ``execution`` section as one value, like the budget editor edits
``budget``. The section stays absent (``None``) while every setting is at its default (one
trial at a time, address ``local``), so an experiment that never asked for parallel trials
saves exactly as it did before there were any.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from metagui.core.experiment import ExecutionSpec
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import humanize, set_invalid

__all__ = ["ExecutionEditor", "execution_hint"]

_DEFAULTS: dict[str, Any] = ExecutionSpec().model_dump(mode="json")
_LOCAL = "local"


def execution_hint(execution: dict[str, Any] | None) -> str:
    """One line on where the trials of ``execution`` (the section's data, or None) run."""
    data = {**_DEFAULTS, **(execution or {})}
    parallel, address = int(data["parallel"]), str(data["address"])
    if parallel <= 1 and address == _LOCAL:
        return (
            "One trial at a time, in this process. More than 1 runs the trials on Ray "
            "(started on this machine when the address is local)."
        )
    at_once = "one trial at a time" if parallel == 1 else f"{parallel} trials at once"
    where = (
        "a Ray cluster started on this machine for the study"
        if address == _LOCAL
        else f"the Ray cluster at {address}"
    )
    return f"Runs {at_once} on {where}."


class ExecutionEditor(QWidget):
    """``execution``: parallel trials, the Ray address, CPUs and GPUs per trial (fractions
    share a device), and whether a trial whose worker was lost runs again."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        describe = ExecutionSpec.model_fields
        self.parallel = QSpinBox()
        self.parallel.setObjectName("field_parallel")
        self.parallel.setRange(1, 4096)
        # The minimum reads as what it means: no Ray, the study's own process.
        self.parallel.setSpecialValueText("1 (in this process)")
        self.parallel.setToolTip(
            "Trials that train at the same time; more than 1 runs them on Ray workers"
        )
        self.address = QLineEdit()
        self.address.setObjectName("field_address")
        self.address.setPlaceholderText(_LOCAL)
        self.address.setToolTip(describe["address"].description or "")
        self.cpus = QDoubleSpinBox()
        self.cpus.setObjectName("field_cpus_per_trial")
        self.cpus.setRange(0.01, 4096.0)
        self.cpus.setDecimals(2)
        self.cpus.setSingleStep(0.5)
        self.cpus.setToolTip(describe["cpus_per_trial"].description or "")
        self.gpus = QDoubleSpinBox()
        self.gpus.setObjectName("field_gpus_per_trial")
        self.gpus.setRange(0.0, 1024.0)
        self.gpus.setDecimals(2)
        self.gpus.setSingleStep(0.25)
        self.gpus.setSpecialValueText("none")
        self.gpus.setToolTip(describe["gpus_per_trial"].description or "")
        self.retry = QCheckBox("Run a trial again when its worker is lost")
        self.retry.setObjectName("field_retry_lost_trials")
        self.retry.setToolTip(describe["retry_lost_trials"].description or "")
        for spin in (self.parallel, self.cpus, self.gpus):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._commit)
        self.address.editingFinished.connect(self._commit)
        self.retry.toggled.connect(self._commit)
        self.hint = QLabel()
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Parallel trials", self.parallel)
        form.addRow("Ray address", self.address)
        form.addRow("CPUs per trial", self.cpus)
        form.addRow("GPUs per trial", self.gpus)
        form.addRow("", self.retry)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.hint)
        doc.changed.connect(self.refresh)
        self.refresh()

    # -- model -> view -----------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        section = self._doc.value("execution")
        data = {**_DEFAULTS, **(section or {})}
        widgets = (self.parallel, self.address, self.cpus, self.gpus, self.retry)
        blockers = [QSignalBlocker(w) for w in widgets]
        self.parallel.setValue(int(data["parallel"]))
        self.address.setText(str(data["address"]))
        self.cpus.setValue(float(data["cpus_per_trial"]))
        self.gpus.setValue(float(data["gpus_per_trial"]))
        self.retry.setChecked(bool(data["retry_lost_trials"]))
        del blockers
        self._set_error(None)
        self._update_enabled(data)

    # -- view -> model -----------------------------------------------------------------------
    def shown(self) -> dict[str, Any]:
        """The section as the editor shows it (an empty address means local)."""
        return {
            "parallel": self.parallel.value(),
            "address": self.address.text().strip() or _LOCAL,
            "cpus_per_trial": self._exact(self.cpus, "cpus_per_trial"),
            "gpus_per_trial": self._exact(self.gpus, "gpus_per_trial"),
            "retry_lost_trials": self.retry.isChecked(),
        }

    def _exact(self, spin: QDoubleSpinBox, name: str) -> float:
        """The box's value; an untouched box keeps the document's exact value (it shows two
        decimals: 0.125 GPU must not become 0.13 when another setting changes)."""
        section = self._doc.value("execution") or _DEFAULTS
        old = float(section[name])
        shown_as = 0.5 * 10 ** -spin.decimals() + 1e-12
        return old if abs(old - spin.value()) <= shown_as else spin.value()

    @Slot()
    def _commit(self) -> None:
        data = self.shown()
        if self.address.text() != data["address"]:
            with QSignalBlocker(self.address):
                self.address.setText(data["address"])
        self._update_enabled(data)
        value = None if data == _DEFAULTS else data
        spec, error = self._doc.try_value("execution", value)
        if spec is None:
            self._set_error(humanize(error.removeprefix("execution.")) if error else "invalid")
            return
        self._set_error(None)
        self._doc.replace(spec, "set execution")

    def _update_enabled(self, data: dict[str, Any]) -> None:
        # Resources per trial and retries are Ray's: greyed while trials run in process.
        on_ray = int(data["parallel"]) > 1 or data["address"] != _LOCAL
        for widget in (self.cpus, self.gpus, self.retry):
            widget.setEnabled(on_ray)
        self.hint.setText(execution_hint(data))

    def _set_error(self, reason: str | None) -> None:
        for widget in (self.parallel, self.address, self.cpus, self.gpus):
            set_invalid(widget, reason is not None and _names_widget(reason, widget))
        self.error.setText(reason or "")
        self.error.setVisible(reason is not None)
        self._doc.mark_invalid("execution", reason)


def _names_widget(reason: str, widget: QWidget) -> bool:
    """Whether an error message is about ``widget``'s setting (its field name leads it)."""
    name = widget.objectName().removeprefix("field_")
    return reason.startswith(name)
