"""The algorithm and search-space panel: the learner and its fixed settings, the network, the
outer optimizer, the training schedule, and the table of parameters to search over."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from metagui.core.applicable import (
    TRAINING_FORM_FIELDS,
    algorithm_fields,
    model_fields,
    optimizer_fields,
    resolve_model_kind,
)
from metagui.core.spec import AlgorithmSpec, ModelSpec, OptimizerSpec, TrainingSpec
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._form import ModelForm
from metagui.qt.panels._layout import ColumnFlow
from metagui.qt.panels._search_table import SearchSpaceTable

__all__ = [
    "ALGORITHM_NOTES",
    "SearchPanel",
    "algorithm_fields",
    "model_fields",
    "optimizer_fields",
]

ALGORITHM_NOTES = {
    "maml": "MAML: second-order meta-gradients through the inner loop (Finn et al. 2017).",
    "fomaml": "First-order MAML: drops the second-order terms, cheaper per step.",
    "reptile": "Reptile: moves the initialisation towards the adapted weights.",
    "metasgd": "Meta-SGD: also learns one inner learning rate per parameter.",
    "anil": "ANIL: adapts only the classifier head in the inner loop.",
    "mamlpp": "MAML++: learned per-layer, per-step inner rates; multi-step loss.",
    "protonet": "Prototypical networks: nearest class mean in embedding space, no inner loop.",
    "cnp": "Conditional neural process: encodes the support set, no gradient steps.",
}


def _group(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return box


class SearchPanel(QWidget):
    """Edits ``doc.spec``'s algorithm, model, optimizer, training and search space."""

    def __init__(self, doc: ExperimentDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.algorithm = ModelForm(
            doc,
            AlgorithmSpec,
            "algorithm",
            labels={"name": "Learner"},
            placeholders={"eval_inner_steps": "same as inner steps"},
        )
        self.algorithm_note = QLabel()
        self.algorithm_note.setObjectName("hint")
        self.algorithm_note.setWordWrap(True)
        self.model = ModelForm(doc, ModelSpec, "model")
        self.model_note = QLabel()
        self.model_note.setObjectName("hint")
        self.model_note.setWordWrap(True)
        self.optimizer = ModelForm(doc, OptimizerSpec, "optimizer", labels={"name": "Optimizer"})
        self.training = ModelForm(doc, TrainingSpec, "training", fields=TRAINING_FORM_FIELDS)
        self.search_space = SearchSpaceTable(doc)
        for form in (self.algorithm, self.model, self.optimizer):
            form.field_checked.connect(self._update_visible)

        settings = ColumnFlow(
            [
                _group("Algorithm", self.algorithm, self.algorithm_note),
                _group("Network", self.model, self.model_note),
                _group("Outer optimizer", self.optimizer),
                _group("Training", self.training),
            ],
            column_width=300,
        )
        space = QGroupBox("Search space")
        space_layout = QVBoxLayout(space)
        hint = QLabel(
            "Each row varies one setting. Conditions read like "
            "<i>algorithm.name in maml, fomaml</i>; choices are comma-separated."
        )
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        space_layout.addWidget(hint)
        space_layout.addWidget(self.search_space, 1)
        self.search_space.setMinimumHeight(260)
        layout = QVBoxLayout(self)
        layout.addWidget(settings)
        layout.addWidget(space, 1)
        doc.changed.connect(self._update_visible)
        self._update_visible()

    @Slot()
    def _update_visible(self, *_: object) -> None:
        """Show only the settings that apply to the algorithm, network and optimizer shown."""
        algorithm = str(self.algorithm.current("name"))
        self.algorithm.set_visible_fields(algorithm_fields(algorithm))
        self.algorithm_note.setText(ALGORITHM_NOTES.get(algorithm, ""))
        kind = str(self.model.current("kind"))
        resolved = resolve_model_kind(kind, self.doc.spec.taskset.family)
        self.model.set_visible_fields(model_fields(resolved, str(self.model.current("norm"))))
        self.model_note.setText(f"auto: {resolved} for this task set" if kind == "auto" else "")
        self.model_note.setVisible(kind == "auto")
        self.optimizer.set_visible_fields(optimizer_fields(str(self.optimizer.current("name"))))

    def visible_fields(self, form: ModelForm) -> Iterable[str]:
        """The fields ``form`` shows now (tests check what applies)."""
        return [n for n in form.names if form.is_field_visible(n)]
