"""The strategy panel: how the search proposes trials, when it stops them early, how long it
runs, what it optimises, on which device, how many trials run at once (and where), how many
trained models it keeps, and which earlier studies seed it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from metagui.core.applicable import pruner_fields, strategy_fields
from metagui.core.experiment import (
    MULTI_OBJECTIVE_STRATEGIES,
    CheckpointsSpec,
    ExperimentSpec,
    ObjectiveSpec,
    PrunerSpec,
    StrategySpec,
)
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._execution_editor import ExecutionEditor
from metagui.qt.panels._form import ModelForm
from metagui.qt.panels._layout import ColumnFlow
from metagui.qt.panels._strategy_parts import BudgetEditor, DeviceEditor, SecondObjectiveEditor
from metagui.qt.panels._warm_start import WarmStartEditor

__all__ = ["PRUNER_NOTES", "STRATEGY_NOTES", "StrategyPanel", "pruner_fields", "strategy_fields"]

STRATEGY_NOTES = {
    "grid": "Grid: the combinations of the parameters' values, in turn.",
    "random": "Random: independent draws from each parameter's range.",
    "sobol": "Sobol: a quasi-random sequence that covers the space evenly.",
    "tpe": "TPE (Optuna): models which values go with good trials; a strong default.",
    "gp": "Gaussian process: Bayesian optimisation for few, costly trials.",
    "cmaes": "CMA-ES: an evolution strategy over the numeric parameters.",
    "nsga2": "NSGA-II: a genetic algorithm.",
    "pso": "Particle swarm optimisation (nevergrad).",
    "de": "Differential evolution (nevergrad).",
}
PRUNER_NOTES = {
    "none": "Every trial runs to the end.",
    "median": "Stops a trial whose best value is worse than the median of earlier trials.",
    "percentile": "Stops a trial outside the best percentile of earlier trials.",
    "asha": "Asynchronous successive halving: keeps the top 1/factor at each rung.",
    "hyperband": "Hyperband: successive halving over several brackets.",
    "threshold": "Stops a trial whose value leaves [lower, upper].",
    "patient": "Waits for a number of evaluations without improvement, then asks a median pruner.",
}


def _group(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def mark_applicable(combo: QComboBox, applies: set[str], why_not: str) -> None:
    """Grey out the choices of ``combo`` that are not in ``applies`` (their tooltip says
    ``why_not``); the current choice stays shown, whatever it is."""
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    for row in range(model.rowCount()):
        item = model.item(row)
        ok = item.data(Qt.ItemDataRole.UserRole) in applies
        if item.isEnabled() != ok:
            item.setEnabled(ok)
            item.setToolTip("" if ok else why_not)


def _note() -> QLabel:
    label = QLabel()
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class StrategyPanel(QWidget):
    """Edits the search's strategy, pruner, budget, objective (and a second one: then the
    strategies and pruners that rank trials by one value are greyed out), seed, device, name,
    execution (parallel trials on Ray), the checkpoints it keeps and warm start.
    ``studies_provider`` lists the studies of the history runs are recorded in,
    ``history_provider`` gives its path (None: none), for warm start (chosen studies, and the
    studies ranked by similarity to learn from)."""

    def __init__(
        self,
        doc: ExperimentDocument,
        parent: QWidget | None = None,
        *,
        studies_provider: Callable[[], list[str]] | None = None,
        history_provider: Callable[[], Path | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.experiment = ModelForm(doc, ExperimentSpec, "", fields=("name", "seed"))
        self.device = DeviceEditor(doc)
        self.experiment.add_row("Device", self.device)
        self.objective = ModelForm(doc, ObjectiveSpec, "objective", fields=("split", "direction"))
        self.second_objective = SecondObjectiveEditor(doc)
        self.objective.add_row("Second objective", self.second_objective)
        self.budget = BudgetEditor(doc)
        self.execution = ExecutionEditor(doc)
        self.checkpoints = ModelForm(
            doc, CheckpointsSpec, "checkpoints", labels={"keep": "Checkpoints kept"}
        )
        self.strategy = ModelForm(
            doc,
            StrategySpec,
            "strategy",
            placeholders={"population_size": "library default"},
            labels={"name": "Strategy"},
        )
        self.strategy_note = _note()
        self.pruner = ModelForm(
            doc,
            PrunerSpec,
            "pruner",
            placeholders={"lower": "none", "upper": "none"},
            labels={"name": "Pruner"},
        )
        self.pruner_note = _note()
        self.warm_start = WarmStartEditor(doc, studies_provider, history_provider)
        for form in (self.strategy, self.pruner):
            form.field_checked.connect(self._update_visible)
        self.second_objective.metric_box.currentIndexChanged.connect(self._update_visible)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(_group("Experiment", self.experiment))
        left_layout.addWidget(_group("Objective", self.objective))
        left_layout.addWidget(_group("Budget", self.budget))
        left_layout.addWidget(_group("Execution", self.execution))
        left_layout.addWidget(_group("Checkpoints", self.checkpoints))
        left_layout.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(_group("Search strategy", self.strategy, self.strategy_note))
        right_layout.addWidget(_group("Pruner", self.pruner, self.pruner_note))
        right_layout.addWidget(_group("Warm start", self.warm_start), 1)
        self.warm_start.setMinimumHeight(160)
        layout = QVBoxLayout(self)
        layout.addWidget(ColumnFlow([left, right], column_width=420))
        doc.changed.connect(self._update_visible)
        self._update_visible()

    @Slot()
    def _update_visible(self, *_: object) -> None:
        """Show only the options of the strategy and pruner shown; with a second objective,
        grey out the strategies and pruners that rank trials by one value."""
        two = self.second_objective.choice() is not None
        strategies = self.strategy.editor("name")
        pruners = self.pruner.editor("name")
        assert isinstance(strategies, QComboBox) and isinstance(pruners, QComboBox)
        mark_applicable(
            strategies,
            set(MULTI_OBJECTIVE_STRATEGIES if two else self.strategy_choices()),
            "searches one objective: not with a second objective",
        )
        mark_applicable(
            pruners,
            {"none"} if two else set(self.pruner_choices()),
            "ranks trials by one value: not with a second objective",
        )
        strategy = str(self.strategy.current("name"))
        self.strategy.set_visible_fields(strategy_fields(strategy))
        self.strategy_note.setText(STRATEGY_NOTES.get(strategy, ""))
        pruner = str(self.pruner.current("name"))
        self.pruner.set_visible_fields(pruner_fields(pruner))
        self.pruner_note.setText(PRUNER_NOTES.get(pruner, ""))

    def strategy_choices(self, enabled_only: bool = False) -> list[str]:
        """The strategies offered (``enabled_only``: those that apply now)."""
        return _choices(self.strategy.editor("name"), enabled_only)

    def pruner_choices(self, enabled_only: bool = False) -> list[str]:
        """The pruners offered (``enabled_only``: those that apply now)."""
        return _choices(self.pruner.editor("name"), enabled_only)

    def visible_fields(self, form: ModelForm) -> list[str]:
        """The fields ``form`` shows now (tests check what applies)."""
        return [n for n in form.names if form.is_field_visible(n)]


def _choices(combo: QWidget, enabled_only: bool) -> list[str]:
    assert isinstance(combo, QComboBox)
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    return [
        str(model.item(row).data(Qt.ItemDataRole.UserRole))
        for row in range(model.rowCount())
        if not enabled_only or model.item(row).isEnabled()
    ]
