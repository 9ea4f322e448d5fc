"""The export dialog writes exactly what ``metagui export`` writes, shows errors instead of
raising, and exports the plots as PNG or SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from metagui.cli import main
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, TrialRow
from metagui.core.runner import StudyRunner
from metagui.core.study_export import EXPORT_FORMATS
from metagui.qt._history_model import HistoryModel
from metagui.qt.export_dialog import SUFFIXES, ExportDialog, default_file_name, with_format_suffix

ACTIVATIONS = ["relu", "tanh"]
_DATE = re.compile(rb'^\s*"?date"?\s*[:=].*$', re.MULTILINE)


def tiny_spec(name: str) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "name": name,
            "taskset": {"family": "sinusoid", "k_shot": 3, "q_query": 3},
            "model": {"hidden_sizes": [8]},
            "training": {
                "iterations": 4,
                "meta_batch_size": 2,
                "eval_every": 2,
                "eval_tasks": 4,
                "test_tasks": 4,
                "log_every": 1,
            },
            "search_space": {
                "params": [
                    {
                        "name": "optimizer.lr",
                        "type": "float",
                        "low": 1e-3,
                        "high": 1e-2,
                        "log": True,
                    },
                    {
                        "name": "model.activation",
                        "type": "categorical",
                        "choices": ["relu", "tanh"],
                    },
                ]
            },
            "strategy": {"name": "random"},
            "budget": {"trials": 3},
            "device": "cpu",
        }
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history with two studies of three completed trials each (one trial failed by hand)."""
    db = tmp_path_factory.mktemp("export") / "history.sqlite"
    for name in ("first", "second"):
        for _ in StudyRunner(tiny_spec(name), db).run():
            pass
    return db


def trials(db: Path, study: str) -> list[TrialRow]:
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        return reader.trials(found.id)


def without_date(path: Path) -> bytes:
    return _DATE.sub(b"", path.read_bytes())


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize("which", ["best", "chosen"])
def test_the_dialog_writes_what_metagui_export_writes(
    qtbot: QtBot, history: Path, tmp_path: Path, fmt: str, which: str
) -> None:
    best = min(
        (t for t in trials(history, "first") if t.value is not None), key=lambda t: t.value or 0
    )
    chosen = next(t for t in trials(history, "first") if t.id != best.id)
    number = None if which == "best" else chosen.number
    if fmt == "checkpoint" and number is not None:
        number = best.number  # the study keeps the best trial's checkpoint only
    dialog = ExportDialog(history, "first", number)
    qtbot.addWidget(dialog)
    dialog.set_format(fmt)
    assert dialog.fmt == fmt and dialog.trial == number
    assert dialog.trial_box.isEnabled() == (fmt != "csv")
    typed = tmp_path / f"dialog-{fmt}"
    dialog.path_edit.setText(str(typed))
    dialog.export_button.click()
    ours = tmp_path / f"dialog-{fmt}{SUFFIXES[fmt][0]}"  # a name without suffix gets one
    assert dialog.written == [ours], dialog.message.text()
    assert dialog.message.text() == f"Wrote {ours}" and not dialog.message.property("error")
    assert dialog.path_edit.text() == str(ours)

    theirs = tmp_path / f"cli-{fmt}"
    argv = ["export", "--db", str(history), "--study", "first", "--format", fmt, "-o", str(theirs)]
    if number is not None:
        argv += ["--trial", str(number)]
    assert main(argv) == 0
    if fmt in ("yaml", "json", "toml"):
        assert b"date" in ours.read_bytes()
        assert without_date(ours) == without_date(theirs)
    else:
        assert ours.read_bytes() == theirs.read_bytes()


def test_the_trial_list_names_the_best_and_preselects_the_asked_trial(
    qtbot: QtBot, history: Path
) -> None:
    rows = trials(history, "second")
    dialog = ExportDialog(history, "second", rows[1].number)
    qtbot.addWidget(dialog)
    assert dialog.trial == rows[1].number
    assert dialog.trial_box.count() == 1 + len(rows)
    assert dialog.trial_box.itemText(0).startswith("Best trial (#")
    assert dialog.windowTitle() == "Export — second"
    assert Path(dialog.path_edit.text()).name == f"second-trial{rows[1].number}.yaml"
    dialog.trial_box.setCurrentIndex(0)
    assert Path(dialog.path_edit.text()).name == "second-best.yaml"
    dialog.set_format("hydra")
    assert Path(dialog.path_edit.text()).name == "optimization_results.yaml"
    assert default_file_name("s", "csv", 3) == "s-trials.csv"


def test_an_export_that_cannot_be_done_is_shown_in_the_dialog(
    qtbot: QtBot, history: Path, tmp_path: Path
) -> None:
    dialog = ExportDialog(history, "no-such-study")
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(tmp_path / "best.yaml"))
    assert dialog.export() is None
    assert dialog.message.property("error") is True
    assert "no study named 'no-such-study'" in dialog.message.text()
    assert not (tmp_path / "best.yaml").exists() and dialog.written == []
    dialog.path_edit.setText("")
    assert dialog.export() is None and "Choose a file" in dialog.message.text()


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_export_plots_writes_every_plot(
    qtbot: QtBot, history: Path, tmp_path: Path, fmt: str
) -> None:
    from metagui.qt.history_browser import StudyViews

    model = HistoryModel()
    model.open(history)
    views = StudyViews(model)
    qtbot.addWidget(views)
    views.resize(900, 700)
    views.show()
    study = model.study_named("first")
    assert study is not None
    views.set_study(study.summary.id)
    for view in views.plots.values():
        view.redraw()
    dialog = ExportDialog(history, "first", plots=views.plots)
    qtbot.addWidget(dialog)
    assert dialog.plots_button.isEnabled()
    written = dialog.export_plots(tmp_path / "plots", fmt)
    # A study of one objective has no Pareto front to draw.
    drawn = [name for name in views.plots if name != "pareto"]
    assert [p.name for p in written] == [f"first-{name}.{fmt}" for name in drawn]
    for path in written:
        assert path.stat().st_size > 500
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in path.read_bytes()
    assert f"Wrote {len(written)} plots" in dialog.message.text()
    model.close()
    views.close()


def test_the_file_suffix_follows_the_chosen_format(
    qtbot: QtBot, history: Path, tmp_path: Path
) -> None:
    dialog = ExportDialog(history, "first", start_dir=str(tmp_path))
    qtbot.addWidget(dialog)
    assert Path(dialog.path_edit.text()) == tmp_path / "first-best.yaml"
    dialog.set_format("csv")  # the dialog's own name follows the format
    assert Path(dialog.path_edit.text()) == tmp_path / "first-trials.csv"
    dialog.set_format("checkpoint")
    assert Path(dialog.path_edit.text()) == tmp_path / "first-best.pt"
    dialog.path_edit.setText(str(tmp_path / "model.pt"))  # the user's own name
    dialog.set_format("csv")
    assert Path(dialog.path_edit.text()) == tmp_path / "model.csv"
    dialog.set_format("yaml")
    assert Path(dialog.path_edit.text()) == tmp_path / "model.yaml"
    dialog.set_format("hydra")  # a .yaml file already
    assert Path(dialog.path_edit.text()) == tmp_path / "model.yaml"
    assert with_format_suffix(Path("a/run.v2"), "json") == Path("a/run.json")
    assert with_format_suffix(Path("a/run.YML"), "yaml") == Path("a/run.YML")


@pytest.mark.parametrize(
    ("answer", "written"),
    [
        (QMessageBox.StandardButton.Yes, "best.csv"),
        (QMessageBox.StandardButton.No, "best.pt"),
        (QMessageBox.StandardButton.Cancel, None),
    ],
)
def test_a_name_that_does_not_fit_the_format_is_asked_about(
    qtbot: QtBot,
    history: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: QMessageBox.StandardButton,
    written: str | None,
) -> None:
    asked: list[str] = []

    def exec_(box: QMessageBox) -> int:
        asked.append(box.text())
        return int(answer.value)

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    dialog = ExportDialog(history, "first", start_dir=str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.set_format("csv")
    dialog.path_edit.setText(str(tmp_path / "best.pt"))
    result = dialog.export()
    assert len(asked) == 1 and "best.pt" in asked[0] and "best.csv" in asked[0]
    if written is None:
        assert result is None and not list(tmp_path.iterdir())
        assert "Nothing was written" in dialog.message.text()
        return
    assert result == tmp_path / written and dialog.written == [tmp_path / written]
    assert [p.name for p in tmp_path.iterdir()] == [written]
    assert (tmp_path / written).read_text(encoding="utf-8").startswith("number,")


def test_the_dialog_starts_in_the_last_folder_or_the_documents_folder(
    qtbot: QtBot, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # never the folder the app was started in
    fresh = ExportDialog(history, "first")
    qtbot.addWidget(fresh)
    assert Path(fresh.path_edit.text()).parent != tmp_path
    remembered = ExportDialog(history, "first", start_dir=str(tmp_path / "exports"))
    qtbot.addWidget(remembered)  # a folder that is gone: the documents folder again
    assert Path(remembered.path_edit.text()).parent == Path(fresh.path_edit.text()).parent
