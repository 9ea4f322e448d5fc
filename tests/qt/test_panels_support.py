"""Shared helpers of the panel tests (no tests here): finding a form's fields, typing like a
user, small data sets."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit, QWidget

from metagui.core.experiment import ExperimentSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def field(form: QWidget, name: str) -> Any:
    """The editor of setting ``name`` in a settings form (its ``field_<name>`` child)."""
    found = form.findChild(QWidget, f"field_{name}")
    assert found is not None, f"no field {name!r} in {type(form).__name__}"
    return found


def type_into(qtbot: object, widget: QWidget, text: str, *, finish: bool = True) -> None:
    """Replace the text of a line edit or spin box by typing ``text`` (then Enter)."""
    line = widget.lineEdit() if isinstance(widget, QAbstractSpinBox) else widget
    assert isinstance(line, QLineEdit)
    line.selectAll()
    qtbot.keyClicks(widget, text)  # type: ignore[attr-defined]
    if finish:
        qtbot.keyClick(widget, Qt.Key.Key_Return)  # type: ignore[attr-defined]


def make_image_folder(root: Path, classes: int = 8, per_class: int = 4, size: int = 8) -> Path:
    """``root/class_i/j.png``: small grayscale images, each class with its own brightness."""
    rng = np.random.default_rng(0)
    for i in range(classes):
        folder = root / f"class_{i}"
        folder.mkdir(parents=True)
        for j in range(per_class):
            pixels = np.clip(rng.normal(30 * i, 20, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{j}.png")
    return root


def make_text_csv(path: Path, labels: int = 8, per_label: int = 3) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(labels):
            for j in range(per_label):
                writer.writerow([f"text number {j} about topic {i}", f"topic_{i}"])
    return path


def with_taskset(spec: ExperimentSpec, **taskset: object) -> ExperimentSpec:
    data = spec.model_dump(mode="json", by_alias=True)
    data["taskset"] = taskset
    data["search_space"] = {"params": []}
    return ExperimentSpec.model_validate(data)
