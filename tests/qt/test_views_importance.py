"""Parameter importance (computed in the background, only when the completed trials change)
and exporting every plot as PNG and SVG."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot
from test_views_data import TRIALS, Clock, History, shown, write_study

from metagui.qt._history_model import HistoryModel
from metagui.qt.views import (
    BestSoFarPlot,
    CompareStudies,
    ImportancePlot,
    LiveView,
    LossPlot,
    ParallelCoordinates,
    TrajectoryPlot,
    TrialsTable,
    export_plot,
)
from metagui.qt.views._importance import (
    _EVALUATOR_LABELS,
    compute_importances,
    evaluator_label,
    importance_evaluator,
)
from metagui.qt.views._trials_model import format_duration


def shown_importance(qtbot: QtBot, model: HistoryModel, study_id: int) -> ImportancePlot:
    view = ImportancePlot(model)
    view.min_interval_s = 0.0
    shown(qtbot, view, study_id)
    return view


def test_importance_bars_appear_once_enough_trials_completed(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = shown_importance(qtbot, model, history.study_id)
    qtbot.waitUntil(lambda: view.importances is not None, timeout=20_000)
    assert not view.showing_message()
    result = view.importances
    assert result is not None and result.trials == 5
    assert set(result.values) == {
        "algorithm.name",
        "algorithm.inner_lr",
        "algorithm.inner_steps",
        "optimizer.lr",
        "model.activation",
    }
    assert sum(result.values.values()) == pytest.approx(1.0)
    assert view.bars is not None
    widths = list(view.bars.opts["width"])
    assert widths == sorted(widths, reverse=True) == list(result.values.values())
    ticks = [name for _, name in view.plot.getAxis("left")._tickLevels[0]]
    assert ticks == list(result.values)

    # A new completed trial: computed again (a new running trial alone changes nothing).
    history.write_steps(7, 1500, value=0.05)
    history.writer.finish_trial(history.ids[7], "COMPLETE", value=0.05)
    model.poll()
    qtbot.waitUntil(lambda: view.importances is not result and not view.busy(), timeout=20_000)
    assert view.importances is not None and view.importances.trials == 6
    again = view.importances
    history.start(8, dict(TRIALS[1][2]))
    history.write_steps(8, 300)
    model.poll()
    view.redraw()
    assert not view.busy() and view.importances is again


def test_closing_the_view_waits_for_its_evaluation_and_drops_it(
    qtbot: QtBot, history: History, model: HistoryModel
) -> None:
    view = shown_importance(qtbot, model, history.study_id)
    assert view.busy() and view.loader.busy  # the result has not reached the GUI thread
    view.close()
    assert view.loader.active_threads() == 0 and not view.loader.busy
    qtbot.wait(50)  # a result already on its way is not shown
    assert view.importances is None and view.showing_message()


def test_importance_asks_for_more_completed_trials(
    qtbot: QtBot, tmp_path: Path, clock: Clock
) -> None:
    built = write_study(tmp_path / "few.db", clock, TRIALS[:4])  # 3 complete, 1 pruned
    hm = HistoryModel()
    hm.open(built.path)
    try:
        view = shown_importance(qtbot, hm, built.study_id)
        assert view.showing_message()
        assert "needs at least 4 completed trials (3 so far)" in view.message_label.text()
        assert not view.busy()
    finally:
        hm.close()
        built.writer.close()


def test_compute_importances_finds_the_parameter_that_matters() -> None:
    rng = random.Random(0)
    entries = [
        {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        {"name": "model.activation", "type": "categorical", "choices": ["relu", "tanh"]},
        {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 5},
    ]
    trials = []
    for _ in range(30):
        lr = 10 ** rng.uniform(-4, -2)
        params = {
            "optimizer.lr": lr,
            "model.activation": rng.choice(["relu", "tanh"]),
            "algorithm.inner_steps": rng.randint(1, 5),
        }
        trials.append((params, (lr - 3e-3) ** 2 * 1e4 + rng.gauss(0, 1e-3)))
    result = compute_importances(entries, trials, maximize=False)
    assert max(result.values, key=result.values.__getitem__) == "optimizer.lr"
    assert result.values["optimizer.lr"] > 0.5 and result.trials == 30


def test_the_importance_evaluator_is_optunas_ped_anova_and_named_so() -> None:
    import optuna

    assert hasattr(optuna.importance, "PedAnovaImportanceEvaluator"), (
        "Optuna has no importance.PedAnovaImportanceEvaluator any more: choose the evaluator "
        "anew in importance_evaluator() (metagui/qt/views/_importance.py)"
    )
    evaluator = importance_evaluator()
    assert isinstance(evaluator, optuna.importance.BaseImportanceEvaluator)
    assert type(evaluator).__name__ == "PedAnovaImportanceEvaluator"
    assert evaluator_label(evaluator) == "PED-ANOVA"
    # Every evaluator named for the views is still Optuna's, under that name.
    missing = [name for name in _EVALUATOR_LABELS if not hasattr(optuna.importance, name)]
    assert not missing, f"optuna.importance lost {missing}: update _EVALUATOR_LABELS"
    assert evaluator_label(optuna.importance.FanovaImportanceEvaluator()) == "fANOVA"


def test_the_label_of_the_importances_is_the_evaluators_that_computed_them() -> None:
    import optuna

    # Two parameters (one importance alone is always 1.0, whatever computed it), in a study
    # where PED-ANOVA and fANOVA weigh them differently.
    entries = [
        {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "y", "type": "float", "low": 0.0, "high": 1.0},
    ]
    points = [((i * 7 % 31) / 30, (i * 13 % 31) / 30) for i in range(31)]
    trials = [({"x": x, "y": y}, (x - 0.3) ** 2 + 0.3 * abs(y - 0.5)) for x, y in points]
    result = compute_importances(entries, trials, maximize=False)
    assert result.evaluator == evaluator_label(importance_evaluator()) == "PED-ANOVA"
    # The explicit evaluator is what computed them: the same as asking PED-ANOVA directly,
    # not what another evaluator says.
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    study = optuna.create_study()
    for params, value in trials:
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions={"x": distribution, "y": distribution}, value=value
            )
        )

    def by(evaluator: optuna.importance.BaseImportanceEvaluator) -> dict[str, float]:
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))

    assert result.values == pytest.approx(by(optuna.importance.PedAnovaImportanceEvaluator()))
    fanova = by(optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert result.values != pytest.approx(fanova, abs=1e-3)


def test_format_duration() -> None:
    assert format_duration(None) == ""
    assert format_duration(9.04) == "9.0 s"
    assert format_duration(62) == "1 min 02 s"
    assert format_duration(3 * 3600 + 125) == "3 h 02 min"


# -- export -----------------------------------------------------------------------------------
PLOTS: list[type[LiveView]] = [
    LossPlot,
    TrajectoryPlot,
    BestSoFarPlot,
    ParallelCoordinates,
    ImportancePlot,
    CompareStudies,
]


@pytest.mark.parametrize("view_type", PLOTS, ids=lambda t: t.__name__)
def test_export_plot_writes_png_and_svg(
    view_type: type[LiveView],
    qtbot: QtBot,
    tmp_path: Path,
    history: History,
    model: HistoryModel,
) -> None:
    view = view_type(model)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    if isinstance(view, CompareStudies):
        view.set_studies([history.study_id])
    else:
        view.set_study(history.study_id)
    view.redraw()
    png = export_plot(view, tmp_path / "plot.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 800
    svg = export_plot(view, tmp_path / "plot.svg")
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "<path" in text


def test_export_refuses_what_it_cannot_write(
    qtbot: QtBot, tmp_path: Path, history: History, model: HistoryModel
) -> None:
    view = BestSoFarPlot(model)
    qtbot.addWidget(view)
    with pytest.raises(ValueError, match=r"cannot export a plot as \.pdf"):
        export_plot(view, tmp_path / "plot.pdf")
    table = TrialsTable(model)
    qtbot.addWidget(table)
    with pytest.raises(TypeError, match="TrialsTable has no plot"):
        export_plot(table, tmp_path / "table.png")


def test_many_pyside_calls_do_not_abort_the_interpreter() -> None:
    """PySide6 6.12.0 on Python 3.11 takes a reference from None with every void call and from
    True with every emit; the views' guard keeps a long live run from aborting Python."""
    code = (
        "import os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "import metagui.qt.views\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "class Source(QObject):\n"
        "    fired = Signal(object)\n"
        "source = Source()\n"
        "for _ in range(200_000):\n"
        "    source.setObjectName('x')\n"
        "    source.fired.emit(0)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_svg_paths_are_closed_explicitly_for_pyqtgraphs_clean_up() -> None:
    from metagui.qt.views._export import close_explicitly

    assert close_explicitly("M0,0 L2,0 L2,1 Z M5,5 L6,6 Z ") == (
        "M0,0 L2,0 L2,1 L0,0 M5,5 L6,6 L5,5"
    )
    assert close_explicitly("M1,3 L2,1 L3,2 ") == "M1,3 L2,1 L3,2 "
