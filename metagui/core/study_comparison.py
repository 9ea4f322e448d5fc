"""Studies side by side: the rows of a table with one column per study, for the history
browser's comparison (and anyone with the rows of a history).

What each study is (status, strategy, task set, algorithm, objective), what it reached (trials
by state, the best value and its trial, the best trial's test value, how long it ran), the best
trial's setting of every hyperparameter in the union of the studies' search spaces, and where
the study was made (its stored provenance, :mod:`metagui.core.provenance`). Values are written
the way the CLI and the app write them (:func:`~metagui.core.reports.format_value`,
:func:`~metagui.core.reports.format_clock`). Pure: plain rows in, strings out.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metagui.core.objectives import objectives_named
from metagui.core.reports import format_clock, format_value

if TYPE_CHECKING:
    from metagui.core.history import Objective, StudySummary, TrialRow

__all__ = [
    "BLANK",
    "INACTIVE",
    "PROVENANCE",
    "RESULTS",
    "SETTINGS",
    "STUDY",
    "ComparedStudy",
    "Comparison",
    "ComparisonRow",
    "best_trial",
    "busy_seconds",
    "compare_studies",
]

STUDY = "Study"
RESULTS = "Results"
SETTINGS = "Best trial's settings"
PROVENANCE = "Provenance"

BLANK = ""
"""A study without this row's parameter (not in its search space)."""
INACTIVE = "–"
"""A parameter of the study that its best trial did not use (a condition left it out), or a
study without a best trial yet."""


@dataclass(frozen=True)
class ComparedStudy:
    """One study as the comparison reads it: its summary, its stored experiment (``spec``),
    its trials, its provenance record (None for a study made before it was recorded) and, for
    a study of several objectives, those (its best value is by the first)."""

    summary: StudySummary
    spec: Mapping[str, Any]
    trials: Sequence[TrialRow]
    provenance: Mapping[str, Any] | None = None
    objectives: Sequence[Objective] = ()


@dataclass(frozen=True)
class ComparisonRow:
    """One row: its ``section`` (:data:`STUDY`, :data:`RESULTS`, :data:`SETTINGS`,
    :data:`PROVENANCE`), its ``label``, one cell per study and, where a cell is shortened (a
    commit, a path), the full text (``full_texts``). ``differs``: the studies were set up or
    made differently here (never set for :data:`RESULTS`, which differ by nature)."""

    section: str
    label: str
    cells: tuple[str, ...]
    differs: bool = False
    full_texts: tuple[str, ...] = ()

    def full_text(self, column: int) -> str:
        """The full text of cell ``column`` (its text when it is not shortened)."""
        if column < len(self.full_texts) and self.full_texts[column]:
            return self.full_texts[column]
        return self.cells[column]


@dataclass(frozen=True)
class Comparison:
    """The rows comparing ``studies`` (their names, one column each), section by section."""

    studies: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]

    def row(self, label: str) -> ComparisonRow:
        """The row called ``label`` (a KeyError if there is none)."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    def sections(self) -> list[str]:
        return list(dict.fromkeys(row.section for row in self.rows))

    def table(self, *, full: bool = True) -> list[list[str]]:
        """A header line (section, what, each study) and a line per row; ``full`` writes the
        full texts of shortened cells."""
        lines = [["section", "", *self.studies]]
        for row in self.rows:
            cells = [row.full_text(i) for i in range(len(row.cells))] if full else row.cells
            lines.append([row.section, row.label, *cells])
        return lines

    def to_csv(self) -> str:
        """The whole table as CSV text (full texts, not the shortened ones)."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.table())
        return out.getvalue()


def compare_studies(studies: Sequence[ComparedStudy]) -> Comparison:
    """The rows comparing ``studies``, one column each, in the order given."""
    best = [best_trial(s.trials, s.summary.direction == "maximize") for s in studies]
    rows = [
        *_study_rows(studies),
        *_result_rows(studies, best),
        *_setting_rows(studies, best),
        *_provenance_rows(studies),
    ]
    return Comparison(tuple(s.summary.name for s in studies), tuple(rows))


def best_trial(trials: Iterable[TrialRow], maximize: bool) -> TrialRow | None:
    """The trial that counts as the study's best: COMPLETE, not excluded, with a finite value,
    the best in the study's direction (the lower number on a tie), as the history reader's
    :meth:`~metagui.core.history.HistoryReader.best_trial` picks it."""
    counted = [
        t
        for t in trials
        if t.state == "COMPLETE"
        and not t.excluded
        and t.value is not None
        and math.isfinite(t.value)
    ]
    if not counted:
        return None
    sign = -1.0 if maximize else 1.0
    return min(counted, key=lambda t: (sign * float(t.value or 0.0), t.number))


def busy_seconds(trials: Iterable[TrialRow]) -> float | None:
    """How long the study had a trial running: the union of its finished trials' spans, so
    that trials run side by side count once and the pause before a resume not at all; None
    before any trial finished."""
    spans = sorted(
        (t.started, t.finished)
        for t in trials
        if t.started is not None and t.finished is not None and t.finished >= t.started
    )
    if not spans:
        return None
    total = 0.0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s > end:
            total += end - start
            start, end = s, e
        else:
            end = max(end, e)
    return total + end - start


# -- the sections ------------------------------------------------------------------------------


def _row(
    section: str,
    label: str,
    cells: Sequence[str],
    *,
    full_texts: Sequence[str] = (),
    compared: bool = True,
) -> ComparisonRow:
    """A row; ``differs`` if ``compared`` (a setting, not a result or a date) and the full
    texts are not all the same."""
    tips = [*full_texts, *[""] * (len(cells) - len(full_texts))]
    full = [tip or cell for cell, tip in zip(cells, tips, strict=True)]
    differs = compared and section != RESULTS and len(set(full)) > 1
    return ComparisonRow(section, label, tuple(cells), differs, tuple(full_texts))


def _study_rows(studies: Sequence[ComparedStudy]) -> list[ComparisonRow]:
    summaries = [s.summary for s in studies]
    return [
        _row(
            STUDY,
            "Status",
            [s.status + (" (archived)" if s.archived else "") for s in summaries],
            compared=False,
        ),
        _row(STUDY, "Strategy", [_strategy(s) for s in studies]),
        _row(STUDY, "Task set", [_taskset(s.spec) for s in studies]),
        _row(STUDY, "Algorithm", [_algorithm(s.spec) for s in studies]),
        _row(STUDY, "Objective", [_objective(s) for s in studies]),
        _row(STUDY, "Seed", ["–" if s.seed is None else str(s.seed) for s in summaries]),
        _row(
            STUDY,
            "Created",
            [time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)) for s in summaries],
            compared=False,
        ),
    ]


def _strategy(study: ComparedStudy) -> str:
    pruner = _section(study.spec, "pruner").get("name")
    text = study.summary.strategy
    return f"{text}, {pruner} pruner" if pruner and pruner != "none" else text


def _section(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = spec.get(key)
    return found if isinstance(found, Mapping) else {}


def _taskset(spec: Mapping[str, Any]) -> str:
    taskset = _section(spec, "taskset")
    family = taskset.get("family")
    if not family:
        return "–"
    shape = [f"{taskset['n_way']}-way"] if taskset.get("n_way") else []
    if taskset.get("k_shot"):
        shape.append(f"{taskset['k_shot']}-shot")
    return f"{family} {' '.join(shape)}".strip()


def _algorithm(spec: Mapping[str, Any]) -> str:
    """The learner and the model it trains; "searched" for a learner the search chooses
    (its best trial's choice is among the settings)."""
    name = (
        "searched" if "algorithm.name" in _space(spec) else _section(spec, "algorithm").get("name")
    )
    model = _section(spec, "model").get("kind")
    if not name:
        return "–"
    return f"{name} ({model})" if model else str(name)


def _objective(study: ComparedStudy) -> str:
    split = _section(study.spec, "objective").get("split", "validation")
    if len(study.objectives) > 1:
        return objectives_named(study.objectives)  # each names its split
    return f"{study.summary.direction} on {split}"


def _result_rows(
    studies: Sequence[ComparedStudy], best: Sequence[TrialRow | None]
) -> list[ComparisonRow]:
    trials, values, tests, busy, medians = [], [], [], [], []
    for study, top in zip(studies, best, strict=True):
        counts = study.summary.counts
        states = " / ".join(str(counts.get(state, 0)) for state in ("COMPLETE", "PRUNED", "FAILED"))
        trials.append(f"{states} of {study.summary.n_trials}")
        values.append("–" if top is None else f"{format_value(top.value)} (trial {top.number})")
        tests.append("–" if top is None else format_value(top.test_value))
        busy.append(format_clock(busy_seconds(study.trials)))
        durations = [d for t in study.trials if (d := t.duration) is not None and d >= 0]
        medians.append(format_clock(statistics.median(durations) if durations else None))
    return [
        _row(RESULTS, "Trials: complete / pruned / failed", trials),
        _row(RESULTS, "Best value", values),
        _row(RESULTS, "Best trial's test value", tests),
        _row(RESULTS, "Time running trials", busy),
        _row(RESULTS, "Median trial duration", medians),
    ]


def _space(spec: Mapping[str, Any]) -> list[str]:
    params = _section(spec, "search_space").get("params")
    if not isinstance(params, list):
        return []
    return [str(p["name"]) for p in params if isinstance(p, Mapping) and "name" in p]


def _setting_rows(
    studies: Sequence[ComparedStudy], best: Sequence[TrialRow | None]
) -> list[ComparisonRow]:
    spaces = [_space(s.spec) for s in studies]
    names = list(dict.fromkeys(n for space in spaces for n in space))
    # A setting of a best trial no longer in its study's space (the space was edited).
    names += sorted({n for t in best if t is not None for n in t.params} - set(names))
    rows = []
    for name in names:
        cells, raw = [], []
        for space, top in zip(spaces, best, strict=True):
            if top is not None and name in top.params:
                value = top.params[name]
                cells.append(_setting(value))
                raw.append((type(value).__name__, repr(value)))
            elif name in space:
                cells.append(INACTIVE)
                raw.append(("inactive", ""))
            else:
                cells.append(BLANK)
                raw.append(("absent", ""))
        row = ComparisonRow(SETTINGS, name, tuple(cells), len(set(raw)) > 1)
        rows.append(row)
    return rows


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format_value(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_setting(v) for v in value) + "]"
    return str(value)


def _provenance_rows(studies: Sequence[ComparedStudy]) -> list[ComparisonRow]:
    records = [s.provenance or {} for s in studies]
    unknown = "not recorded"

    def field(record: Mapping[str, Any], key: str) -> str:
        value = record.get(key)
        if not record:
            return unknown
        return "–" if value is None or value == [] else str(value)

    def experiment(record: Mapping[str, Any]) -> Mapping[str, Any]:
        found = record.get("experiment")
        return found if isinstance(found, Mapping) else {}

    def git(record: Mapping[str, Any]) -> tuple[str, str]:
        if not record:
            return unknown, ""
        if not experiment(record):
            return "no experiment file", ""
        state = experiment(record).get("git")
        if not isinstance(state, Mapping) or not state.get("commit"):
            return "not in a git repository", ""
        commit = str(state["commit"])
        dirty = state.get("dirty")
        mark = " + uncommitted changes" if dirty else "" if dirty is False else " (state unknown)"
        return commit[:10] + mark, commit + mark

    def path(record: Mapping[str, Any]) -> tuple[str, str]:
        if not record:
            return unknown, ""
        found = experiment(record).get("path")
        if not found:
            return "none (set up in the app, or from code)", ""
        text = str(found)
        digest = experiment(record).get("sha256")
        return text, f"{text} (sha256 {digest})" if digest else text

    def torch(record: Mapping[str, Any]) -> str:
        text = field(record, "torch")
        cuda = record.get("cuda")
        return f"{text} (CUDA {cuda})" if cuda else text

    def gpus(record: Mapping[str, Any]) -> str:
        found = record.get("gpus")
        if not record:
            return unknown
        return ", ".join(map(str, found)) if isinstance(found, list) and found else "none"

    gits = [git(r) for r in records]
    paths = [path(r) for r in records]
    return [
        _row(PROVENANCE, "metagui", [field(r, "metagui") for r in records]),
        _row(PROVENANCE, "Python", [field(r, "python") for r in records]),
        _row(PROVENANCE, "torch", [torch(r) for r in records]),
        _row(PROVENANCE, "Device", [field(r, "device") for r in records]),
        _row(PROVENANCE, "GPUs", [gpus(r) for r in records]),
        _row(PROVENANCE, "Host", [field(r, "host") for r in records]),
        _row(PROVENANCE, "Platform", [field(r, "platform") for r in records]),
        _row(PROVENANCE, "Git commit", [g[0] for g in gits], full_texts=[g[1] for g in gits]),
        _row(
            PROVENANCE, "Experiment file", [p[0] for p in paths], full_texts=[p[1] for p in paths]
        ),
    ]
