"""Big studies: the app opens them without reading their metric rows, the loss overlay of the
finished trials is one plot item holding exactly their curves (spikes kept), and the trials
table keeps its row count and its order over 100,000 trials. Sizes are small where a bigger
one would only take longer; speed is measured by ``metagui bench --history``, not here."""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from metagui.core.bench_history import generate_history
from metagui.core.history import HistoryReader, HistoryWriter, StudySummary, TrialRow
from metagui.qt._history_model import HistoryModel, StudyData
from metagui.qt.history_browser import HistoryBrowser
from metagui.qt.views import LossPlot, TrialsTable
from metagui.qt.views._faint import COLOR_STEPS, color_groups, curve_buckets
from metagui.qt.views._trials_model import TrialsTableModel

TRIALS, STEPS = 300, 400  # 400 logged steps: more than a stored curve's buckets


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "history.sqlite"
    generate_history(path, TRIALS, STEPS, seed=1)
    return path


@pytest.fixture
def history(big_history: Path, tmp_path: Path) -> Path:
    """A copy of the big history, for a test that writes to it."""
    return Path(shutil.copyfile(big_history, tmp_path / "history.sqlite"))


@pytest.fixture
def model(history: Path) -> Iterator[HistoryModel]:
    hm = HistoryModel()
    hm.open(history)
    yield hm
    hm.close()


def test_opening_reads_trials_not_series(model: HistoryModel) -> None:
    (study,) = model.studies.values()
    assert len(study.trials) == TRIALS
    assert list(study.metrics.loaded()) == []  # no metric row read yet
    assert study.metric_names() == {"train/loss"}


def test_the_overlay_item_holds_exactly_the_finished_trials_curves(
    qtbot: QtBot, model: HistoryModel, history: Path
) -> None:
    (study,) = model.studies.values()
    view = LossPlot(model)
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    view.set_study(study.summary.id)
    view.redraw()
    bundle = view.bundles["train"]
    assert sorted(bundle.trial_ids()) == sorted(study.trials)  # every trial finished
    # Read for the overlay: the stored curves; at full resolution only the bold best trial.
    best = study.best_trial()
    assert best is not None and list(study.metrics.loaded()) == [best.id]
    with HistoryReader(history) as reader:
        for trial_id in random.Random(0).sample(sorted(study.trials), 25):
            drawn = bundle.curve(trial_id)
            assert drawn is not None
            rows = reader.metrics(trial_id, "train/loss")
            values = np.array([r.value for r in rows])
            assert len(drawn[0]) < len(rows)  # decimated ...
            assert np.nanmax(drawn[1]) == np.nanmax(values)  # ... keeping every spike
            assert np.nanmin(drawn[1]) == np.nanmin(values)
            assert set(drawn[0]) <= {float(r.step) for r in rows}

    view.set_states({"PRUNED"})
    view.redraw()
    pruned = {t.id for t in study.trials.values() if t.state == "PRUNED"}
    assert pruned and set(bundle.trial_ids()) == pruned

    # A trial that starts is drawn on its own, in full, and joins the overlay when it ends.
    view.set_states({"COMPLETE", "PRUNED", "FAILED", "RUNNING"})
    with HistoryWriter(history) as writer:
        trial_id = writer.start_trial(study.summary.id, TRIALS, {"optimizer.lr": 0.001})
        for step in range(50):
            writer.add_metrics(trial_id, step, {"train/loss": 1.0 / (step + 1)})
        writer.flush()
        assert model.poll()
        view.redraw()
        assert trial_id not in bundle.trial_ids()
        assert [t.id for t in view.focus_trials()] == [trial_id]
        assert list(view.focus_curves["train"].xData) == list(range(50))
        writer.finish_trial(trial_id, "COMPLETE", value=0.5)
    assert model.poll()
    view.redraw()
    assert sorted(bundle.trial_ids()) == sorted(study.trials)


@pytest.mark.parametrize("maximize", [False, True])
def test_the_best_trials_are_the_last_colour_group_drawn_on_top(maximize: bool) -> None:
    study = fake_study(40)
    finished = [t for t in study.ordered_trials() if t.state != "RUNNING"]
    groups = color_groups(finished, (0.0, 10.0), maximize)
    valued = sorted(
        (t for t in finished if t.state == "COMPLETE" and not math.isnan(t.value or math.nan)),
        key=lambda t: t.value or 0.0,
        reverse=maximize,
    )
    best, worst = valued[0], valued[-1]
    assert groups[best.id] == max(groups.values()) <= COLOR_STEPS
    assert groups[worst.id] == min(groups[t.id] for t in valued) >= 1
    assert all(groups[t.id] == 0 for t in finished if t.state != "COMPLETE")  # grey


def test_faint_curves_keep_to_the_plot_width_and_the_point_budget() -> None:
    assert curve_buckets(560, 40) == 128  # a low and a high every 4 pixels
    assert curve_buckets(560, 10_000) == 64  # 10,000 curves: 1.5 million points at most
    assert curve_buckets(560, 1_000_000) == 8


def fake_study(count: int, seed: int = 0) -> StudyData:
    """A study of ``count`` trials, held in memory only (no history file)."""
    rng = random.Random(seed)
    states = ["COMPLETE"] * 6 + ["PRUNED", "FAILED", "RUNNING"]
    summary = StudySummary(1, "fake", 0.0, "minimize", "random", "running", 0, None, {}, 0)
    study = StudyData(summary, {"search_space": {"params": [{"name": "lr", "type": "float"}]}})
    for number in range(count):
        state = rng.choice(states)
        value = round(rng.uniform(0, 10), 3) if state == "COMPLETE" else None
        if number % 1000 == 7:
            value = math.nan if state == "COMPLETE" else value
        trial = TrialRow(
            id=number + 1,
            study_id=1,
            number=number,
            state=state,  # type: ignore[arg-type]
            params={"lr": rng.uniform(0, 1)},
            value=value,
            test_value=None,
            seed=None,
            started=1000.0 + number,
            finished=None,
            error=None,
            pruned_at_step=None,
            pruned_reason=None,
            excluded=False,
            device=None,
            updated_seq=number,
        )
        study.set_trial(trial)
    return study


def expected_order(study: StudyData, key: str, descending: bool) -> list[int]:
    """Trial numbers by ``key``, blanks (None, NaN) last either way, ties by number."""

    def value(t: TrialRow) -> float | None:
        v = t.value if key == "value" else t.params["lr"]
        return None if v is None or math.isnan(v) else v

    trials = study.ordered_trials()
    valued = sorted(
        (t for t in trials if value(t) is not None),
        key=lambda t: value(t),  # type: ignore[arg-type, return-value]
        reverse=descending,
    )
    return [t.number for t in valued] + [t.number for t in trials if value(t) is None]


def test_a_table_model_over_100k_trials_keeps_its_rows_and_its_order() -> None:
    model = HistoryModel()
    study = fake_study(100_000)
    model.studies[1] = study
    table = TrialsTableModel(model)
    table.set_study(1)
    assert table.rowCount() == 100_000
    lr = table.param_column("lr")
    for column, key in ((2, "value"), (lr, "lr")):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            table.sort(column, order)
            shown = [table.trial_at(row).number for row in range(table.rowCount())]  # type: ignore[union-attr]
            assert shown == expected_order(study, key, order == Qt.SortOrder.DescendingOrder)
    # A new trial (a new best) arrives: one row more, in its sorted place.
    table.sort(2, Qt.SortOrder.AscendingOrder)
    newest = fake_study(1).trials[1]
    study.set_trial(
        TrialRow(**{**_fields(newest), "id": 200_001, "number": 100_000, "value": -1.0})
    )
    table.refresh()
    assert table.rowCount() == 100_001
    assert table.trial_at(0).number == 100_000  # type: ignore[union-attr]
    assert table.row_of(200_001) == 0


def _fields(trial: TrialRow) -> dict[str, object]:
    return {name: getattr(trial, name) for name in TrialRow.__dataclass_fields__}


def test_the_trials_table_sorts_100k_rows_by_a_header_click(qtbot: QtBot) -> None:
    model = HistoryModel()
    study = fake_study(100_000, seed=1)
    model.studies[1] = study
    table = TrialsTable(model)
    qtbot.addWidget(table)
    table.resize(900, 400)
    table.show()
    table.set_study(1)
    table.redraw()
    table.select_trial(5)  # trial number 4
    table.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert table.proxy.rowCount() == 100_000
    top = [table.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole + 2) for row in range(5)]
    assert [study.trials[t].number for t in top] == expected_order(study, "value", True)[:5]
    assert table.selected_trial() == 5  # the selection followed its trial
    table.set_state_filter("Failed")
    failed = [t for t in study.ordered_trials() if t.state == "FAILED"]
    assert table.proxy.rowCount() == len(failed)


def test_the_browser_opens_a_big_history_with_its_plots_drawn(
    qtbot: QtBot, big_history: Path
) -> None:
    browser = HistoryBrowser()
    qtbot.addWidget(browser)
    browser.resize(1280, 800)
    browser.show()
    assert browser.open(big_history)
    views = browser.views
    loss = views.plots["loss"]
    qtbot.waitUntil(lambda: not loss.needs_redraw() and not views.table.needs_redraw())
    assert isinstance(loss, LossPlot)
    assert len(loss.bundles["train"].trial_ids()) == TRIALS
    assert views.table.proxy.rowCount() == TRIALS
    study = views.study()
    assert study is not None and len(list(study.metrics.loaded())) <= 1
    browser.close_database()
