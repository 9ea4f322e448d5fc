"""Many few-shot tasks in one run: a folder of task folders, each with ``support/<class>/...``,
``query/...`` and optionally ``query_labels.csv`` (``path,class``); with labels, the accuracy
per task and its mean with a 95% confidence interval over the tasks.

The whole tree is checked (folders, labels) before the first task is predicted, so a mistake
in the last task does not cost the run of the others.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from metagui.core.errors import MetaguiError
from metagui.core.predict import query_files, support_classes

if TYPE_CHECKING:
    from metagui.core.predict import FewShotModel, Prediction
    from metagui.core.reports import EvalResult

__all__ = ["LABELS_FILE", "EpisodeTask", "TaskResult", "find_tasks", "predict_tasks", "summary"]

LABELS_FILE = "query_labels.csv"


@dataclass(frozen=True)
class EpisodeTask:
    """One task folder: its name, support folder, query files and (if labelled) the true class
    of every query file, by the file's path as predictions report it."""

    name: str
    support: Path
    queries: tuple[Path, ...]
    labels: dict[str, str] | None


@dataclass(frozen=True)
class TaskResult:
    """The predictions of one task and, when it is labelled, their accuracy."""

    task: str
    predictions: list[Prediction]
    accuracy: float | None


def find_tasks(root: Path, model: FewShotModel) -> list[EpisodeTask]:
    """Every task folder of ``root`` (in name order), checked: a support folder whose classes
    all have examples, a query folder with files the model reads, labels that name a query
    file and a support class once each, and a label for every query file."""
    if not root.is_dir():
        raise MetaguiError(f"predict: episodes folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise MetaguiError(f"predict: episodes folder {root} has no task folders")
    tasks = []
    for folder in folders:
        support = folder / "support"
        if not support.is_dir():
            raise MetaguiError(f"predict: task {folder} has no support folder {support}")
        classes = support_classes(support, model.accepts)
        if len(classes) < 2:
            raise MetaguiError(
                f"predict: support folder {support} needs at least two class subfolders, "
                f"found {len(classes)}"
            )
        queries = query_files(folder / "query", model.accepts)
        labels_file = folder / LABELS_FILE
        labels = (
            _read_labels(labels_file, folder, queries, set(classes))
            if labels_file.exists()
            else None
        )
        tasks.append(EpisodeTask(folder.name, support, tuple(queries), labels))
    return tasks


def _read_labels(path: Path, task: Path, queries: list[Path], classes: set[str]) -> dict[str, str]:
    """``query_labels.csv``: rows ``path,class`` (an optional header ``path,class``); a path is
    relative to the task folder (``query/a.png``) or to its query folder (``a.png``)."""
    known = {str(q): q for q in queries}
    labels: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MetaguiError(f"predict: cannot read {path}: {exc}") from exc
    for line, row in enumerate(rows, start=1):
        if not row or (line == 1 and [c.strip().lower() for c in row] == ["path", "class"]):
            continue
        if len(row) != 2:
            raise MetaguiError(
                f"predict: {path} line {line}: expected two columns path,class, got {len(row)}"
            )
        name, label = row[0].strip(), row[1].strip()
        candidates = [task / name, task / "query" / name]
        file = next((str(c) for c in candidates if str(c) in known), None)
        if file is None:
            raise MetaguiError(
                f"predict: {path} line {line}: {name!r} is not a file of the query folder "
                f"{task / 'query'}"
            )
        if label not in classes:
            raise MetaguiError(
                f"predict: {path} line {line}: class {label!r} is not a class of the support "
                f"folder ({', '.join(sorted(classes))})"
            )
        if file in labels:
            raise MetaguiError(f"predict: {path} line {line}: {name!r} is labelled twice")
        labels[file] = label
    missing = [q.name for q in queries if str(q) not in labels]
    if missing:
        raise MetaguiError(f"predict: {path} has no label for query file {missing[0]}")
    return labels


def predict_tasks(model: FewShotModel, tasks: list[EpisodeTask]) -> Iterator[TaskResult]:
    """Adapt ``model`` to each task's support set and classify its queries, task by task."""
    for task in tasks:
        predictions = model.adapt(task.support).predict(list(task.queries))
        accuracy = None
        if task.labels is not None:
            hits = [task.labels[str(p.path)] == p.label for p in predictions]
            accuracy = sum(hits) / len(hits)
        yield TaskResult(task.name, predictions, accuracy)


def summary(accuracies: list[float]) -> EvalResult:
    """Mean accuracy over tasks with the literature's 95% confidence interval,
    ``1.96 * std / sqrt(n)`` (the sample standard deviation; 0 for one task)."""
    import torch

    from metagui.core.evaluation import summarise

    return summarise(torch.tensor([accuracies], dtype=torch.float64), "accuracy")
