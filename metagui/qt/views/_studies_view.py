"""The base of the views that compare several studies (the history browser's Compare tabs):
a live view over the studies chosen with ``set_studies``, each drawn in its own colour, the
same colour in every comparison."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._colors import CATEGORY_COLORS
from metagui.qt.views._live_view import LiveView

__all__ = ["StudiesView", "study_color"]


def study_color(index: int) -> QColor:
    """The colour of the ``index``-th compared study (the same in every comparison view)."""
    return CATEGORY_COLORS[index % len(CATEGORY_COLORS)]


class StudiesView(LiveView):
    """A :class:`LiveView` over several studies (``set_studies``, in order); ``set_study``
    compares one. Redraws when any of them changed; a change of the studies compared counts
    as a change of study (:meth:`LiveView._study_changed`)."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        self._study_ids: list[int] = []
        super().__init__(model, parent)

    def set_study(self, study_id: int | None) -> None:
        self.set_studies([] if study_id is None else [study_id])

    def set_studies(self, study_ids: list[int]) -> None:
        """Compare these studies (in this order)."""
        if list(study_ids) != self._study_ids:
            self._study_ids = list(study_ids)
            self._study_id = self._study_ids[0] if self._study_ids else None
            self._study_changed()
            self.invalidate()

    @property
    def study_ids(self) -> list[int]:
        return list(self._study_ids)

    def studies(self) -> list[StudyData]:
        """The compared studies the model holds, in order (a deleted one is left out)."""
        return [self.model.studies[i] for i in self._study_ids if i in self.model.studies]

    def _data_key(self) -> Hashable:
        states = tuple(
            (i, id(s), s.revision)
            for i in self._study_ids
            if (s := self.model.studies.get(i)) is not None
        )
        return (tuple(self._study_ids), states, self._options)
