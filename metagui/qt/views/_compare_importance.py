"""The parameter importances of several studies side by side, for the history browser: a
group of horizontal bars per parameter (the most important over all the studies on top), a
bar per study in its comparison colour (:func:`~metagui.qt.views._studies_view.study_color`,
as in the best-so-far comparison), legend by study name.

Each study's importances are computed as for one study (:func:`compute_importances`), all of
them in one evaluation off the GUI thread, when any study's completed trials changed
(:class:`~metagui.qt.views._importance.ImportanceView`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from metagui.core.errors import MetaguiError
from metagui.core.history import TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.views._importance import (
    ImportancePlot,
    Importances,
    ImportanceView,
    compute_importances,
    importance_args,
)
from metagui.qt.views._labels import counted
from metagui.qt.views._param_axis import format_number
from metagui.qt.views._studies_view import StudiesView, study_color

__all__ = ["CompareImportance", "compute_each", "importance_order"]

GROUP_HEIGHT = 0.8
"""The share of a parameter's row its bars fill together (the rest is the gap between rows)."""
MAX_VALUE_LABELS = 60
"""More bars than this are drawn without their values written beside them (unreadable)."""

Job = tuple[int, tuple[Any, ...]]


def compute_each(jobs: Sequence[Job]) -> dict[int, Importances | str]:
    """In the worker thread: :func:`compute_importances` of each ``(study id, arguments)``;
    a study whose evaluation fails gets its message instead, and the others are still shown."""
    out: dict[int, Importances | str] = {}
    for study_id, args in jobs:
        try:
            out[study_id] = compute_importances(*args)
        except MetaguiError as exc:
            out[study_id] = str(exc)
        except Exception as exc:  # one study's evaluation failed, not the comparison
            out[study_id] = f"{type(exc).__name__}: {exc}"
    return out


def importance_order(results: Sequence[Importances]) -> list[str]:
    """The parameters of ``results`` by their mean importance over them (none where a study
    has no such parameter), the most important first; ties by name."""
    names = {name for result in results for name in result.values}
    mean = {n: sum(r.values.get(n, 0.0) for r in results) / len(results) for n in names}
    return sorted(names, key=lambda n: (-mean[n], n))


class CompareImportance(StudiesView, ImportanceView):
    """The parameter importances of the compared studies (``set_studies``) as grouped
    horizontal bars; a study with fewer than ``MIN_COMPLETED`` completed trials is named
    under the chart instead."""

    MIN_COMPLETED = ImportancePlot.MIN_COMPLETED

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.results: dict[int, Importances | str] = {}
        self.bars: dict[int, pg.BarGraphItem] = {}
        self._value_labels: list[pg.TextItem] = []
        self._waiting: list[str] = []
        palette = self.palette()
        self.legend = self.plot.addLegend(offset=(-10, -10), labelTextColor=palette.text().color())
        self._show_message("Choose studies to compare.")

    def _study_changed(self) -> None:
        super()._study_changed()
        self.results = {}

    def _draw(self, study: StudyData | None) -> None:
        studies = self.studies()
        if not studies:
            self._want_nothing()
            self.results = {}
            self._show_message("Choose studies to compare.")
            return
        chosen: list[tuple[StudyData, list[TrialRow]]] = []
        parts = []
        self._waiting = []
        for data in studies:
            completed = [t for t in data.counted() if t.params]
            if not any(p.get("type") != "fixed" for p in data.search_params()):
                self._waiting.append(f"“{data.name}” searches no parameter.")
                continue
            if len(completed) < self.MIN_COMPLETED:
                self._waiting.append(
                    f"“{data.name}”: parameter importance needs at least {self.MIN_COMPLETED} "
                    f"completed trials ({len(completed)} so far)."
                )
                continue
            chosen.append((data, completed))
            # The name too: a renamed study is drawn under its new name.
            parts.append((data.summary.id, data.name, tuple((t.id, t.value) for t in completed)))
        if not chosen:
            self._want_nothing()
            self.results = {}
            self._show_message("\n".join(self._waiting))
            return
        key = (tuple(self.study_ids), tuple(parts))
        if self._settled(key):
            return  # the arguments (copies of every trial's settings) only for a new key
        jobs: list[Job] = [(d.summary.id, importance_args(d, done)) for d, done in chosen]
        if self._want(key, functools.partial(compute_each, jobs)):
            if not self.results:
                self._show_message(
                    "Computing the parameter importance of "
                    f"{counted(len(jobs), 'study', 'studies')}…"
                )
        elif not self.showing_message():
            self._show_chart(self._notes())  # a study's trials, not yet enough, changed

    def _show_result(self, result: Mapping[int, Importances | str]) -> None:
        self.results = dict(result)
        plot = self.plot
        for item in [*self.bars.values(), *self._value_labels]:
            plot.removeItem(item)
        self.bars = {}
        self._value_labels = []
        self.legend.clear()
        studies = self.studies()
        shown = [
            (i, data, found)
            for i, data in enumerate(studies)
            if isinstance(found := self.results.get(data.summary.id), Importances) and found.values
        ]
        if not shown:
            lines = [*self._waiting, *self._failures()]
            self._show_message(
                "\n".join(lines) or "No parameter varies across the completed trials."
            )
            return
        names = importance_order([found for _, _, found in shown])
        height = GROUP_HEIGHT / len(shown)
        write_values = len(names) * len(shown) <= MAX_VALUE_LABELS
        widest = 0.0
        for j, (i, data, found) in enumerate(shown):
            # The first study's bar on top of each group, as in the legend.
            offset = GROUP_HEIGHT / 2 - height * (j + 0.5)
            rows = [(len(names) - 1 - k, n) for k, n in enumerate(names) if n in found.values]
            ys = [row + offset for row, _ in rows]
            widths = [found.values[n] for _, n in rows]
            widest = max(widest, *widths)
            bars = pg.BarGraphItem(
                x0=0.0,
                y=ys,
                height=height * 0.9,
                width=widths,
                brush=pg.mkBrush(study_color(i)),
                pen=pg.mkPen(None),
            )
            plot.addItem(bars)
            self.bars[data.summary.id] = bars
            self.legend.addItem(bars, data.name)
            if write_values:
                for y, value in zip(ys, widths, strict=True):
                    label = pg.TextItem(
                        format_number(round(value, 3)), self._text_color, anchor=(0, 0.5)
                    )
                    label.setPos(value, y)
                    plot.addItem(label)
                    self._value_labels.append(label)
        ticks = [(float(len(names) - 1 - k), n) for k, n in enumerate(names)]
        plot.getAxis("left").setTicks([ticks])
        plot.setXRange(0.0, widest * 1.15 or 1.0, padding=0.02)
        plot.setYRange(-0.5, len(names) - 0.5, padding=0)
        evaluators = sorted({found.evaluator for _, _, found in shown})
        plot.setTitle(
            f"Parameter importance ({', '.join(evaluators)}) of "
            f"{counted(len(shown), 'study', 'studies')}"
        )
        self._show_chart(self._notes())

    def _failures(self) -> list[str]:
        names = {s.summary.id: s.name for s in self.studies()}
        return [
            f"“{names.get(i, i)}”: parameter importance could not be computed: {found}"
            for i, found in self.results.items()
            if isinstance(found, str)
        ]

    def _notes(self) -> list[str]:
        """What to say under the chart: the studies not shown, and why; the evaluator's
        caveats, the first of each study (all of them in the tooltip)."""
        notes = [*self._waiting, *self._failures()]
        every: list[str] = []
        for data in self.studies():
            found = self.results.get(data.summary.id)
            if isinstance(found, Importances) and found.notes:
                more = len(found.notes) - 1
                notes.append(
                    f"“{data.name}”: {found.notes[0]}"
                    + (f" (and {more} more, in the tooltip)" if more else "")
                )
                every.extend(f"“{data.name}”: {note}" for note in found.notes)
        self.note_label.setToolTip("\n".join(every))
        return notes
