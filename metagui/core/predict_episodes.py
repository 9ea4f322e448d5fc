"""Many few-shot tasks in one run: a folder of task folders, each with ``support/<class>/...``,
``query/...`` and optionally ``query_labels.csv`` (``path,class``); with labels, the accuracy
per task and its mean with a 95% confidence interval over the tasks. :func:`write_episodes`
writes such a folder from a task set's split (``metagui episodes``), so that a model can be
measured with ``metagui predict --episodes`` on fixed tasks of classes it never trained on.

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
    import torch

    from metagui.core.predict import FewShotModel, Prediction
    from metagui.core.reports import EvalResult
    from metagui.core.tasksets import Split, TaskSet

__all__ = [
    "LABELS_FILE",
    "EpisodeTask",
    "TaskResult",
    "find_tasks",
    "predict_tasks",
    "summary",
    "write_episodes",
]

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


def write_episodes(taskset: TaskSet, split: Split, count: int, seed: int, out: Path) -> int:
    """Write ``count`` episodes of ``split`` as task folders ``out/task-NNNN`` that
    :func:`find_tasks` reads: ``support/class-KK/sI.png``, ``query/qJJJ.png`` (in a seeded
    random order, so file names say nothing of the class) and ``query_labels.csv``. Class
    folders are numbered in the episode's order; images are written as the task set gives
    them (resized, 8-bit), so the model sees exactly the episodes it would sample. The same
    ``seed`` writes the same episodes on every machine. Returns the number of files written.
    """
    import torch

    if taskset.info.kind != "classification" or len(taskset.info.input_shape) != 3:
        raise MetaguiError("episodes: only image classification task sets can be written")
    if not taskset.has_split(split):
        raise MetaguiError(f"episodes: the task set has no {split} split")
    if out.exists() and any(out.iterdir()):
        raise MetaguiError(f"episodes: {out} is not empty; give a new or an empty folder")
    generator = torch.Generator().manual_seed(seed)
    written = 0
    width = max(4, len(str(count - 1)))
    for index in range(count):
        batch = taskset.sample(split, 1, generator)
        task = out / f"task-{index:0{width}d}"
        for i, (x, y) in enumerate(zip(batch.x_support[0], batch.y_support[0], strict=True)):
            written += _write_image(x, task / "support" / f"class-{int(y):02d}" / f"s{i}.png")
        order = torch.randperm(len(batch.y_query[0]), generator=generator).tolist()
        rows = ["path,class"]
        for j, q in enumerate(order):
            name = f"q{j:03d}.png"
            written += _write_image(batch.x_query[0][q], task / "query" / name)
            rows.append(f"{name},class-{int(batch.y_query[0][q]):02d}")
        (task / LABELS_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
        written += 1
    return written


def _write_image(x: torch.Tensor, path: Path) -> int:
    """One image ``[C, H, W]`` in [0, 1] as an 8-bit grayscale or RGB PNG."""
    import torch
    from PIL import Image

    array = (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    image = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return 1
