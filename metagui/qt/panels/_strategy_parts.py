"""The strategy panel's editors that are not plain fields: the budget (trials and/or wall
time in minutes), the device with its actual name and the second objective (warm start:
``_warm_start.py``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from metagui.core.errors import MetaguiError
from metagui.core.objectives import SECOND_METRICS
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import humanize, set_invalid

__all__ = ["BudgetEditor", "DeviceEditor", "SecondObjectiveEditor"]

NO_SECOND = "none"
"""The second-objective choice of a study of one objective."""


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.hide()
    return label


class BudgetEditor(QWidget):
    """``budget``: a number of trials, a wall time, or both (the search ends at the first)."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        self.limit_trials = QCheckBox("Trials")
        self.trials = QSpinBox()
        self.trials.setRange(0, 10_000_000)
        self.limit_time = QCheckBox("Wall time")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.0, 10_000_000.0)
        self.minutes.setDecimals(1)
        self.minutes.setSuffix(" min")
        for spin in (self.trials, self.minutes):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._commit)
        for check in (self.limit_trials, self.limit_time):
            check.toggled.connect(self._commit)
        self.error = _error_label()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.limit_trials, 0, 0)
        grid.addWidget(self.trials, 0, 1)
        grid.addWidget(self.limit_time, 1, 0)
        grid.addWidget(self.minutes, 1, 1)
        grid.addWidget(self.error, 2, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self._timeout_s: float | None = None
        doc.changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        budget = self._doc.value("budget")
        trials, timeout = budget["trials"], budget["timeout_s"]
        self._timeout_s = timeout
        widgets = (self.limit_trials, self.trials, self.limit_time, self.minutes)
        blockers = [QSignalBlocker(w) for w in widgets]
        self.limit_trials.setChecked(trials is not None)
        if trials is not None:
            self.trials.setValue(trials)
        self.limit_time.setChecked(timeout is not None)
        if timeout is not None:
            self.minutes.setValue(timeout / 60.0)
        del blockers
        self.trials.setEnabled(trials is not None)
        self.minutes.setEnabled(timeout is not None)
        self._set_error(None)

    def _timeout(self) -> float | None:
        if not self.limit_time.isChecked():
            return None
        minutes = self.minutes.value()
        old = self._timeout_s
        # The box shows minutes to one decimal: an untouched box keeps the exact seconds.
        if old is not None and round(old / 60.0, 1) == minutes:
            return old
        return minutes * 60.0

    @Slot()
    def _commit(self) -> None:
        self.trials.setEnabled(self.limit_trials.isChecked())
        self.minutes.setEnabled(self.limit_time.isChecked())
        data: dict[str, Any] = {
            "trials": self.trials.value() if self.limit_trials.isChecked() else None,
            "timeout_s": self._timeout(),
        }
        if data["trials"] is None and data["timeout_s"] is None:
            self._set_error("tick Trials, Wall time or both: a search needs an end")
            return
        spec, error = self._doc.try_value("budget", data)
        if spec is None:
            self._set_error(humanize(error.removeprefix("budget: ")) if error else "invalid")
        else:
            self._set_error(None)
            self._doc.replace(spec, "set budget")

    def _set_error(self, reason: str | None) -> None:
        # No limit at all is fixed by ticking a box; a refused number, in its box.
        none_ticked = not (self.limit_trials.isChecked() or self.limit_time.isChecked())
        for check in (self.limit_trials, self.limit_time):
            set_invalid(check, reason is not None and none_ticked)
        for spin in (self.trials, self.minutes):
            set_invalid(spin, reason is not None and spin.isEnabled())
        self.error.setText(reason or "")
        self.error.setVisible(reason is not None)
        self._doc.mark_invalid("budget", reason)


class DeviceEditor(QWidget):
    """``device``: auto, cpu, each visible CUDA GPU, mps, with the name of the device it
    means. Torch is imported the first time the editor is shown, not when the app starts."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        self._names: dict[str, str] = {}  # device -> what it is here ("" until probed)
        self._probed = False
        self.combo = QComboBox()
        self.combo.setObjectName("deviceCombo")
        self.combo.addItems(["auto", "cpu"])
        self.combo.currentIndexChanged.connect(self._on_chosen)
        self.description = QLabel("…")
        self.description.setObjectName("deviceName")
        self.description.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo)
        layout.addWidget(self.description)
        doc.changed.connect(self.refresh)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._probed:
            QTimer.singleShot(0, self, self.probe)  # after the first paint: torch loads slowly

    @Slot()
    def probe(self) -> None:
        """List this machine's devices and name each (imports torch once)."""
        if self._probed:
            return
        self._probed = True
        import torch

        from metagui.core.device import describe_device, resolve_device

        names = ["auto", "cpu"]
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            names.append("mps")
        for name in names:
            try:
                self._names[name] = describe_device(resolve_device(name))
            except MetaguiError as exc:
                self._names[name] = str(exc)
        with QSignalBlocker(self.combo):
            self.combo.clear()
            self.combo.addItems(names)
        self.refresh()

    def describe(self, name: str) -> tuple[str, bool]:
        """What device ``name`` is here, and whether it is usable."""
        if not self._probed:
            return "", True
        if name not in self._names:
            from metagui.core.device import describe_device, resolve_device

            try:
                self._names[name] = describe_device(resolve_device(name))
            except MetaguiError as exc:
                return str(exc).removeprefix("device: "), False
        text = self._names[name]
        return (f"→ {text}" if name == "auto" else text), True

    @Slot()
    def refresh(self) -> None:
        name = self._doc.spec.device
        with QSignalBlocker(self.combo):
            if self.combo.findText(name) < 0:
                self.combo.addItem(name)  # e.g. cuda:3 from a file written on a bigger machine
            self.combo.setCurrentText(name)
        text, usable = self.describe(name)
        self.description.setText(text or "…")
        self.description.setProperty("warning", not usable)
        set_invalid(self.combo, not usable)

    @Slot(int)
    def _on_chosen(self, _index: int) -> None:
        self._doc.set_value("device", self.combo.currentText())


class SecondObjectiveEditor(QWidget):
    """``objective.second``: none (one objective), or what else a trial is scored by (its
    model's parameters, its training time, its adaptation time) and which way is better.

    A choice the experiment refuses (a strategy or pruner that ranks trials by one value)
    stays shown, red, with the reason under it, and the experiment cannot run until it is
    fixed; it is applied as soon as another edit (choosing NSGA-II, say) makes it valid."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = doc
        self._pending: dict[str, Any] | None = None  # a refused choice, still shown
        self.metric_box = QComboBox()
        self.metric_box.setObjectName("secondMetric")
        self.metric_box.addItem("none (one objective)", NO_SECOND)
        tip = Qt.ItemDataRole.ToolTipRole
        self.metric_box.setItemData(0, "Score trials by the meta-test metric alone", tip)
        for key, (label, what) in SECOND_METRICS.items():
            self.metric_box.addItem(label, key)
            self.metric_box.setItemData(self.metric_box.count() - 1, what, tip)
        self.metric_box.setToolTip(
            "A second objective: the study then searches for the trials no other beats on "
            "both (the Pareto front), with NSGA-II, TPE, GP, random, Sobol or grid and no pruner"
        )
        self.direction_box = QComboBox()
        self.direction_box.setObjectName("secondDirection")
        for value, text in (
            ("auto", "auto (minimise: each is a cost)"),
            ("minimize", "minimise"),
            ("maximize", "maximise"),
        ):
            self.direction_box.addItem(text, value)
        self.direction_box.setToolTip("Which way the second objective is better")
        self.metric_box.currentIndexChanged.connect(self._commit)
        self.direction_box.currentIndexChanged.connect(self._commit)
        self.error = _error_label()
        self.error.setObjectName("fieldError")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.metric_box)
        layout.addWidget(self.direction_box)
        layout.addWidget(self.error)
        doc.changed.connect(self.refresh)
        self.refresh()

    def choice(self) -> dict[str, Any] | None:
        """What the editor shows, as ``objective.second`` (None: no second objective)."""
        metric = self.metric_box.currentData()
        if metric == NO_SECOND:
            return None
        return {"metric": metric, "direction": self.direction_box.currentData()}

    def set_choice(self, metric: str | None, direction: str = "auto") -> None:
        """Choose as the user would (``metric`` None: no second objective)."""
        with QSignalBlocker(self.direction_box):
            self.direction_box.setCurrentIndex(self.direction_box.findData(direction))
        index = self.metric_box.findData(metric or NO_SECOND)
        if index < 0:
            raise ValueError(f"no second objective {metric!r} (have {', '.join(SECOND_METRICS)})")
        if index == self.metric_box.currentIndex():
            self._commit()
        else:
            self.metric_box.setCurrentIndex(index)

    def pending(self) -> bool:
        """Whether the choice shown is one the experiment refused (not applied yet)."""
        return self._pending is not None

    @Slot()
    def refresh(self) -> None:
        if self._pending is not None and "objective.second" not in self._doc.invalid_fields:
            self._pending = None  # a new document (open, new) forgets the refused choice
        if self._pending is not None:
            # A refused choice is tried again after each edit, and applied once valid.
            spec, error = self._doc.try_value("objective.second", self._pending)
            if spec is None:
                self._set_error(error)
                return
            self._pending = None
            self._set_error(None)
            self._doc.replace(spec, "set objective.second")
            return
        second = self._doc.value("objective")["second"]
        with QSignalBlocker(self.metric_box), QSignalBlocker(self.direction_box):
            self.metric_box.setCurrentIndex(
                self.metric_box.findData(second["metric"] if second else NO_SECOND)
            )
            self.direction_box.setCurrentIndex(
                self.direction_box.findData(second["direction"] if second else "auto")
            )
        self.direction_box.setEnabled(second is not None)
        self._set_error(None)

    @Slot()
    def _commit(self) -> None:
        data = self.choice()
        self.direction_box.setEnabled(data is not None)
        spec, error = self._doc.try_value("objective.second", data)
        if spec is None:
            self._pending = data
            self._set_error(error)
            return
        self._pending = None
        self._set_error(None)
        self._doc.replace(spec, "set objective.second")

    def _set_error(self, reason: str | None) -> None:
        text = humanize(reason.removeprefix("objective.second: ")) if reason else None
        set_invalid(self.metric_box, text is not None)
        self.error.setText(text or "")
        self.error.setVisible(text is not None)
        self._doc.mark_invalid("objective.second", text)
