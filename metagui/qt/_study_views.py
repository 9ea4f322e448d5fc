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
    from metagui.qt.views import CompareStudies, CompareTable, LiveView, StudiesView

__all__ = ["StudyViews"]

_COMPARE = (
    ("compare", "Compare: curves"),
    ("compare_table", "Compare: table"),
    ("compare_importance", "Compare: importance"),
)
"""The tabs comparing the selected studies (``set_compared``), in the history browser."""
_NOT_PLOTS = {"compare_table"}
"""Tabs that are no plot (nothing to export as a picture): left out of ``plots``."""

_PLOTS = (
    ("loss", "Loss"),
    ("hyperparameters", "Hyperparameters"),
    ("best_so_far", "Best so far"),
    ("pareto", "Pareto front"),
    ("parallel_coordinates", "Parallel coordinates"),
    ("importance", "Importance"),
)


class _Plots(Mapping[str, "LiveView"]):
    """The plots of a :class:`StudyViews` by key, each built the first time it is asked for
    (or its tab shown): a window opens without building the plots nobody looks at yet."""

    def __init__(
        self,
        keys: list[str],
        build: Callable[[str], LiveView],
        views: dict[str, LiveView] | None = None,
    ) -> None:
        self._keys = keys
        self._build = build
        # Shared by the mappings over the same tabs (some keys each): each view built once.
        self._views: dict[str, LiveView] = {} if views is None else views

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
        return {key: view for key, view in self._views.items() if key in self._keys}


class StudyViews(QSplitter):
    """The plots of one study (tabs) over its trials table and, beside the table, the notes
    pane of the selected trial (of the study when no trial is selected); with ``compare``,
    last tabs that compare several studies: their best-so-far curves, a table of what they
    are, reached and were made with, and their parameter importances. Used for the live run
    and the history browser alike. A plot is built when its tab is first shown or it is
    first asked for (``plots[key]``)."""

    def __init__(
        self, model: HistoryModel, *, compare: bool = False, parent: QWidget | None = None
    ) -> None:
        from metagui.qt.views import (
            BestSoFarPlot,
            CompareImportance,
            CompareStudies,
            CompareTable,
            ImportancePlot,
            LossPlot,
            ParallelCoordinates,
            ParetoPlot,
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
        classes = (
            LossPlot,
            TrajectoryPlot,
            BestSoFarPlot,
            ParetoPlot,
            ParallelCoordinates,
            ImportancePlot,
        )
        self._classes: dict[str, type[LiveView]] = {
            key: cls for (key, _), cls in zip(_PLOTS, classes, strict=True)
        }
        self._titles = dict(_PLOTS)
        if compare:
            for (key, title), cls in zip(
                _COMPARE, (CompareStudies, CompareTable, CompareImportance), strict=True
            ):
                self._classes[key] = cls
                self._titles[key] = title
        # Every tab's view; ``plots`` are those with a plot to export.
        built: dict[str, LiveView] = {}
        self._tab_views = _Plots(list(self._classes), self._build_plot, built)
        plots = [key for key in self._classes if key not in _NOT_PLOTS]
        self.plots = _Plots(plots, self._build_plot, built)
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
        self._show_pareto_tab()
        model.studies_changed.connect(self._show_pareto_tab)

    @property
    def compare(self) -> CompareStudies | None:
        """The comparison of studies, if these views have one."""
        from metagui.qt.views import CompareStudies

        if "compare" not in self._classes:
            return None
        view = self.plots["compare"]
        assert isinstance(view, CompareStudies)
        return view

    @property
    def comparison_table(self) -> CompareTable | None:
        """The table comparing the selected studies, if these views have one."""
        from metagui.qt.views import CompareTable

        if "compare_table" not in self._classes:
            return None
        view = self._tab_views["compare_table"]
        assert isinstance(view, CompareTable)
        return view

    def _compare_views(self) -> list[StudiesView]:
        """The comparisons of studies built so far."""
        from metagui.qt.views import StudiesView

        built = self._tab_views.built().values()
        return [view for view in built if isinstance(view, StudiesView)]

    def _build_plot(self, key: str) -> LiveView:
        """Make plot ``key``, put it in its tab and bring it up to date."""
        from metagui.qt.views import StudiesView

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
        self._show_pareto_tab()  # a tab inserted anew is shown
        selected = getattr(view, "trial_selected", None)
        if selected is not None:
            selected.connect(self._on_trial_selected)
        if isinstance(view, StudiesView):
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
            self._tab_views[keys[index]]

    def show_plot(self, key: str) -> None:
        """Bring the plot ``key`` (``loss``, ``hyperparameters``, ``best_so_far``, ``pareto``
        (a two-objective study's), ``parallel_coordinates``, ``importance``) to the front."""
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
        for key, view in self._tab_views.built().items():
            if key not in dict(_COMPARE):
                view.set_study(study_id)
        self.table.set_study(study_id)
        self.notes.set_target(study_id)
        self._show_pareto_tab()

    @Slot()
    def _show_pareto_tab(self) -> None:
        """The Pareto front's tab only for a study of two objectives."""
        study = self.study()
        wanted = study is not None and study.multi_objective
        index = list(self._classes).index("pareto")
        if self.tabs.isTabVisible(index) == wanted:
            return
        if not wanted and self.tabs.currentIndex() == index:
            # Away from it first: a tab hidden while current makes the next one current from
            # inside setTabVisible, and building that plot then changes the tabs under it.
            self.tabs.setCurrentIndex(index - 1)
        self.tabs.setTabVisible(index, wanted)

    def set_compared(self, study_ids: list[int]) -> None:
        self.compared = list(study_ids)
        for view in self._compare_views():
            view.set_studies(study_ids)

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
