"""Export a study's best (or a chosen) trial, exactly as ``metagui export`` does; from a study
of two objectives, which has no one best, a trial of its Pareto front (or any other).

"Export" calls :func:`metagui.core.study_export.export_from_history`, the function behind the
command line, so the dialog and ``metagui export --db DB --study S --trial N --format F -o FILE``
write the same bytes (up to the date in the ``_meta`` block). "Export plots…" writes every plot
of the study as PNG or SVG with :func:`metagui.qt.views.export_plot`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from metagui.core.errors import MetaguiError
from metagui.core.study_export import EXPORT_FORMATS
from metagui.qt._settings import start_folder

if TYPE_CHECKING:
    from metagui.core.history import StudyRow, TrialRow

__all__ = ["FORMAT_LABELS", "SUFFIXES", "ExportDialog", "default_file_name", "with_format_suffix"]

FORMAT_LABELS: dict[str, str] = {
    "yaml": "Experiment file, YAML (re-runs the trial)",
    "json": "Experiment file, JSON",
    "toml": "Experiment file, TOML",
    "hydra": "Hydra optimization_results.yaml",
    "args": "Command-line flags (one line)",
    "csv": "All trials as CSV",
    "checkpoint": "Trained model checkpoint (.pt)",
}
SUFFIXES: dict[str, tuple[str, ...]] = {
    "yaml": (".yaml", ".yml"),
    "json": (".json",),
    "toml": (".toml",),
    "hydra": (".yaml", ".yml"),
    "args": (".txt", ".sh"),
    "csv": (".csv",),
    "checkpoint": (".pt", ".pth"),
}
"""The file suffixes of each format, the usual one first."""
_FILTERS = {
    "yaml": "YAML files (*.yaml *.yml)",
    "json": "JSON files (*.json)",
    "toml": "TOML files (*.toml)",
    "hydra": "YAML files (*.yaml *.yml)",
    "args": "Text files (*.txt *.sh)",
    "csv": "CSV files (*.csv)",
    "checkpoint": "PyTorch checkpoints (*.pt *.pth)",
}


def default_file_name(study: str, fmt: str, trial: int | None) -> str:
    """``<study>-trial<N>.yaml``, ``<study>-trials.csv``, ``optimization_results.yaml``..."""
    if fmt == "hydra":
        return "optimization_results.yaml"
    if fmt == "csv":
        return f"{study}-trials.csv"
    which = "best" if trial is None else f"trial{trial}"
    return f"{study}-{which}{SUFFIXES[fmt][0]}"


def with_format_suffix(path: Path, fmt: str) -> Path:
    """``path`` ending in a suffix of ``fmt``: kept if it has one, else the usual one added
    (no suffix) or put in place of the other one (``best.pt`` as CSV: ``best.csv``)."""
    if path.suffix.lower() in SUFFIXES[fmt]:
        return path
    wanted = SUFFIXES[fmt][0]
    return path.with_name(path.name + wanted) if not path.suffix else path.with_suffix(wanted)


class ExportDialog(QDialog):
    """Export from study ``study`` of the history ``db_path``; ``trial`` preselects a trial
    number (None: the best). ``plots`` (name -> plot widget) enables "Export plots…".

    For a study of two objectives the trials offered are those of its Pareto front first
    (``#7 — validation accuracy 0.91, parameters 1,761``, best first by the first objective),
    then, below a line, the others; ``trial`` preselects one, else the first of the front."""

    def __init__(
        self,
        db_path: str | Path,
        study: str,
        trial: int | None = None,
        *,
        plots: Mapping[str, QWidget] | None = None,
        start_dir: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(f"Export — {study}")
        self.db_path = Path(db_path)
        self.study = study
        self.plots = dict(plots or {})
        self.last_dir: str | None = None
        self.written: list[Path] = []
        self._folder = start_folder(start_dir)
        self._suggested = ""  # the file name the dialog last suggested (the user's is kept)
        self.multi_objective = False
        self.front: list[int] = []  # a two-objective study's front: trial numbers as listed

        self.trial_box = QComboBox()
        self.trial_box.setObjectName("trialBox")
        self.format_box = QComboBox()
        self.format_box.setObjectName("formatBox")
        for fmt in EXPORT_FORMATS:
            self.format_box.addItem(FORMAT_LABELS.get(fmt, fmt), fmt)
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("pathEdit")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.message = QLabel()
        self.message.setObjectName("exportMessage")
        self.message.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Study:", QLabel(study))
        form.addRow("Trial:", self.trial_box)
        form.addRow("Format:", self.format_box)
        form.addRow("File:", path_row)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.ApplyRole)
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.plots_button = buttons.addButton(
            "Export plots…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.plots_button.setEnabled(bool(self.plots))
        self.plots_button.setToolTip("Write every plot of this study as PNG or SVG")
        self.export_button.clicked.connect(self.export)
        self.plots_button.clicked.connect(self._export_plots_dialog)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

        self._fill_trials(trial)
        self.format_box.currentIndexChanged.connect(self._suggest_path)
        self.trial_box.currentIndexChanged.connect(self._suggest_path)
        self._suggest_path()

    # -- choices -------------------------------------------------------------------------------
    def _fill_trials(self, preselect: int | None) -> None:
        from metagui.core.history import HistoryReader

        try:
            with HistoryReader(self.db_path) as reader:
                found = reader.study(self.study)
                trials = [] if found is None else reader.trials(found.id)
                best = None if found is None else reader.best_trial(found.id)
        except Exception as exc:
            self.trial_box.addItem("Best trial", None)
            self._say(f"Cannot read {self.db_path}: {exc}", error=True)
            return
        if found is not None and found.multi_objective:
            self._fill_front(found, trials, preselect)
            return
        self.trial_box.addItem("Best trial", None)
        if best is not None:
            self.trial_box.setItemText(0, f"Best trial (#{best.number}, {_fmt(best.value)})")
        for t in trials:
            value = f", {_fmt(t.value)}" if t.value is not None else ""
            self.trial_box.addItem(f"#{t.number} {t.state.lower()}{value}", t.number)
        if preselect is not None:
            index = self.trial_box.findData(preselect)
            if index >= 0:
                self.trial_box.setCurrentIndex(index)

    def _fill_front(self, study: StudyRow, trials: list[TrialRow], preselect: int | None) -> None:
        """The trials of a two-objective study: its front's, then the others'."""
        from metagui.core.pareto import front_trials
        from metagui.core.study_export import describe_values

        self.multi_objective = True
        first = study.objectives[0]
        worst = math.inf if first.direction == "minimize" else -math.inf
        sign = 1.0 if first.direction == "minimize" else -1.0
        front = sorted(
            front_trials(trials, study.directions),
            key=lambda t: (sign * (t.value if t.value is not None else worst), t.number),
        )
        self.front = [t.number for t in front]
        for t in front:
            self.trial_box.addItem(f"#{t.number} — {describe_values(study, t)}", t.number)
        on_front = set(self.front)
        others = [t for t in trials if t.number not in on_front]
        if front and others:
            self.trial_box.insertSeparator(self.trial_box.count())
        for t in others:
            result = f", {describe_values(study, t)}" if t.objective_values is not None else ""
            self.trial_box.addItem(f"#{t.number} {t.state.lower()}{result}", t.number)
        self.trial_box.setToolTip(
            f"{len(front)} trial{'' if len(front) == 1 else 's'} on the Pareto front (no other "
            "is better on both objectives), best first by the first objective; the other "
            "trials below the line"
        )
        index = self.trial_box.findData(preselect) if preselect is not None else -1
        self.trial_box.setCurrentIndex(index if index >= 0 else 0)

    def front_choices(self) -> list[int]:
        """The trial numbers the dialog offers as the front's (a two-objective study)."""
        return list(self.front)

    @property
    def trial(self) -> int | None:
        data = self.trial_box.currentData()
        return None if data is None else int(data)

    @property
    def fmt(self) -> str:
        return str(self.format_box.currentData())

    def set_format(self, fmt: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(fmt))

    @Slot()
    def _suggest_path(self) -> None:
        """A file name for the chosen format and trial: a new suggestion while the name is
        the dialog's own, else the user's name with the format's suffix."""
        self.trial_box.setEnabled(self.fmt != "csv")
        current = self.path_edit.text().strip()
        if not current or current == self._suggested:
            folder = Path(current).parent if current else self._folder
            path = folder / default_file_name(self.study, self.fmt, self.trial)
            self._suggested = str(path)
        else:
            path = with_format_suffix(Path(current), self.fmt)
        self.path_edit.setText(str(path))

    @Slot()
    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path_edit.text(), f"{_FILTERS[self.fmt]};;All files (*)"
        )
        if path:
            chosen = Path(path)
            if not chosen.suffix:  # another suffix is asked about when exporting
                chosen = with_format_suffix(chosen, self.fmt)
            self.path_edit.setText(str(chosen))

    def _target(self, text: str) -> Path | None:
        """The file to write: ``text`` with the format's suffix added when it has none; a
        different suffix is asked about (None: the user cancelled)."""
        path = Path(text)
        fitting = with_format_suffix(path, self.fmt)
        if fitting != path and path.suffix:
            answer = self.ask_suffix(path, fitting)
            if answer == QMessageBox.StandardButton.Cancel:
                return None
            if answer == QMessageBox.StandardButton.No:
                return path
        if fitting != path:
            self.path_edit.setText(str(fitting))
        return fitting

    def ask_suffix(self, path: Path, fitting: Path) -> QMessageBox.StandardButton:
        """Ask whether to write to ``fitting`` (Yes) or to ``path`` after all (No)."""
        what = FORMAT_LABELS.get(self.fmt, self.fmt)
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "File name and format differ",
            f"“{path.name}” does not end like a file of the chosen format ({what}). "
            f"Write it as “{fitting.name}”?",
            QMessageBox.StandardButton.Yes
            | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText(f"Write {fitting.name}")
        box.button(QMessageBox.StandardButton.No).setText(f"Keep {path.name}")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        return QMessageBox.StandardButton(box.exec())

    # -- export --------------------------------------------------------------------------------
    @Slot()
    def export(self) -> Path | None:
        """Write the chosen format to the chosen file; returns the path, or None on an error
        (shown in the dialog)."""
        from metagui.core.study_export import export_from_history

        text = self.path_edit.text().strip()
        if not text:
            self._say("Choose a file to write.", error=True)
            return None
        target = self._target(text)
        if target is None:
            self._say("Nothing was written.")
            return None
        try:
            path = export_from_history(
                self.db_path, self.fmt, target, study=self.study, trial=self.trial
            )
        except (MetaguiError, OSError) as exc:
            self._say(str(exc), error=True)
            return None
        self.written.append(path)
        self.last_dir = str(path.parent)
        self._say(f"Wrote {path}")
        return path

    @Slot()
    def _export_plots_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export plots to", str(self._folder))
        if not folder:
            return
        self.export_plots(folder, "svg" if self._ask_svg() else "png")

    def _ask_svg(self) -> bool:
        from PySide6.QtWidgets import QInputDialog

        choice, ok = QInputDialog.getItem(
            self, "Plot format", "Write the plots as:", ["PNG", "SVG"], 0, False
        )
        return ok and choice == "SVG"

    def export_plots(self, folder: str | Path, fmt: str = "png") -> list[Path]:
        """Write every plot to ``folder`` as ``<study>-<plot>.<fmt>``; returns the files."""
        from metagui.qt.views import export_plot

        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        try:
            for name in self.plots:
                if name == "pareto" and not self.multi_objective:
                    continue  # a study of one objective has no front: not built to be skipped
                path = target / f"{self.study}-{name}.{fmt}"
                export_plot(self.plots[name], path)
                written.append(path)
        except Exception as exc:
            self._say(f"Cannot export the plots: {exc}", error=True)
            return written
        self.written.extend(written)
        self.last_dir = str(target)
        self._say(f"Wrote {len(written)} plots to {target}")
        return written

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("error", error)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"
