"""The views of one study: its plots (tabs) over its trials table, with the notes pane beside
the table. Used for the live run and the history browser alike; the plots are built when first
needed, not with the window."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QSplitter, QTabWidget, QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt._notes_pane import NotesPane

if TYPE_CHECKING:
    from metagui.qt.views import CompareStudies, LiveView

__all__ = ["StudyViews"]

_PLOTS = (
    ("loss", "Loss"),
    ("hyperparameters", "Hyperparameters"),
    ("best_so_far", "Best so far"),
    ("parallel_coordinates", "Parallel coordinates"),
    ("importance", "Importance"),
)


class _Plots(Mapping[str, "LiveView"]):
    """The plots of a :class:`StudyViews` by key, each built the first time it is asked for
    (or its tab shown): a window opens without building the plots nobody looks at yet."""

    def __init__(self, keys: list[str], build: Callable[[str], LiveView]) -> None:
        self._keys = keys
        self._build = build
        self._views: dict[str, LiveView] = {}

    def __getitem__(self, key: str) -> LiveView:
        if key not in self._keys:
            raise KeyError(key)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self._build(key)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def built(self) -> dict[str, LiveView]:
        """The plots built so far (none is built)."""
        return dict(self._views)


class StudyViews(QSplitter):
    """The plots of one study (tabs) over its trials table and, beside the table, the notes
    pane of the selected trial (of the study when no trial is selected); with ``compare``, a
    last tab that compares the best-so-far curves of several studies. Used for the live run
    and the history browser alike. A plot is built when its tab is first shown or it is
    first asked for (``plots[key]``)."""

    def __init__(
        self, model: HistoryModel, *, compare: bool = False, parent: QWidget | None = None
    ) -> None:
        from metagui.qt.views import (
            BestSoFarPlot,
            CompareStudies,
            ImportancePlot,
            LossPlot,
            ParallelCoordinates,
            TrajectoryPlot,
            TrialsTable,
        )

        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("studyViews")
        self.setChildrenCollapsible(False)
        self.model = model
        self.selected_trial_id: int | None = None
        self._study_id: int | None = None
        self.compared: list[int] = []
        classes = (LossPlot, TrajectoryPlot, BestSoFarPlot, ParallelCoordinates, ImportancePlot)
        self._classes: dict[str, type[LiveView]] = {
            key: cls for (key, _), cls in zip(_PLOTS, classes, strict=True)
        }
        self._titles = dict(_PLOTS)
        if compare:
            self._classes["compare"] = CompareStudies
            self._titles["compare"] = "Compare studies"
        self.plots = _Plots(list(self._classes), self._build_plot)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("plotTabs")
        self.tabs.setDocumentMode(True)
        for key in self._classes:
            self.tabs.addTab(QWidget(), self._titles[key])  # the plot's place until built
        self.tabs.currentChanged.connect(self._on_tab)
        self.table = TrialsTable(model)
        self.table.trial_selected.connect(self._on_trial_selected)
        self.notes = NotesPane(model)
        self.notes.study_requested.connect(self.show_study_notes)
        self.trials_and_notes = QSplitter(Qt.Orientation.Horizontal)
        self.trials_and_notes.setObjectName("trialsAndNotes")
        self.trials_and_notes.setChildrenCollapsible(False)
        self.trials_and_notes.addWidget(self.table)
        self.trials_and_notes.addWidget(self.notes)
        self.trials_and_notes.setStretchFactor(0, 1)
        self.trials_and_notes.setStretchFactor(1, 0)
        self.trials_and_notes.setSizes([900, 280])
        self.addWidget(self.tabs)
        self.addWidget(self.trials_and_notes)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self.setSizes([600, 320])
        self._on_tab(self.tabs.currentIndex())

    @property
    def compare(self) -> CompareStudies | None:
        """The comparison of studies, if these views have one."""
        from metagui.qt.views import CompareStudies

        if "compare" not in self._classes:
            return None
        view = self.plots["compare"]
        assert isinstance(view, CompareStudies)
        return view

    def _build_plot(self, key: str) -> LiveView:
        """Make plot ``key``, put it in its tab and bring it up to date."""
        from metagui.qt.views import CompareStudies

        view = self._classes[key](self.model)
        index = list(self._classes).index(key)
        current = self.tabs.currentIndex()
        placeholder = self.tabs.widget(index)
        self.tabs.blockSignals(True)
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, view, self._titles[key])
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(False)
        if placeholder is not None:
            placeholder.deleteLater()
        selected = getattr(view, "trial_selected", None)
        if selected is not None:
            selected.connect(self._on_trial_selected)
        if isinstance(view, CompareStudies):
            view.set_studies(self.compared)
        else:
            view.set_study(self._study_id)
            focus = getattr(view, "set_trial", None)
            if focus is not None and self.selected_trial_id is not None:
                focus(self.selected_trial_id)
        return view

    @Slot(int)
    def _on_tab(self, index: int) -> None:
        keys = list(self._classes)
        if 0 <= index < len(keys):
            self.plots[keys[index]]

    def show_plot(self, key: str) -> None:
        """Bring the plot ``key`` (``loss``, ``hyperparameters``, ``best_so_far``,
        ``parallel_coordinates``, ``importance``) to the front."""
        keys = [k for k, _ in _PLOTS]
        if key not in keys:
            raise ValueError(f"no plot {key!r} (have {', '.join(keys)})")
        self.tabs.setCurrentIndex(keys.index(key))

    @property
    def study_id(self) -> int | None:
        return self._study_id

    def study(self) -> StudyData | None:
        sid = self.study_id
        return None if sid is None else self.model.studies.get(sid)

    def set_study(self, study_id: int | None) -> None:
        """Show ``study_id`` in every plot and the table."""
        self._study_id = study_id
        self.selected_trial_id = None
        for key, view in self.plots.built().items():
            if key != "compare":
                view.set_study(study_id)
        self.table.set_study(study_id)
        self.notes.set_target(study_id)

    def set_compared(self, study_ids: list[int]) -> None:
        from metagui.qt.views import CompareStudies

        self.compared = list(study_ids)
        compare = self.plots.built().get("compare")
        if isinstance(compare, CompareStudies):
            compare.set_studies(study_ids)

    @Slot(int)
    def _on_trial_selected(self, trial_id: int) -> None:
        """A trial picked in one view (a table row, a curve, a point) is focused in all."""
        self.selected_trial_id = trial_id
        source = self.sender()
        for view in self.plots.built().values():
            focus = getattr(view, "set_trial", None)
            if focus is not None and view is not source:
                focus(trial_id)
        if source is not self.table:
            self.table.select_trial(trial_id)
        self.notes.set_target(self._study_id, trial_id)

    @Slot()
    def show_study_notes(self) -> None:
        """Show the study's notes and tags in the notes pane (no trial selected)."""
        self.selected_trial_id = None
        self.table.select_trial(None)
        self.notes.set_target(self._study_id)

    def selected_trial_number(self) -> int | None:
        study = self.study()
        if study is None or self.selected_trial_id is None:
            return None
        trial = study.trials.get(self.selected_trial_id)
        return None if trial is None else trial.number
