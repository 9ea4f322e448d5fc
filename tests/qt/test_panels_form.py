"""The pieces under the panels: editors chosen from pydantic annotations, the generic form,
and the search-space rows as text."""

from __future__ import annotations

import pytest
from test_panels_support import type_into

from metagui.core.experiment import ExperimentSpec, PrunerSpec, StrategySpec
from metagui.core.spec import ALGORITHMS, AlgorithmSpec, ModelSpec
from metagui.core.tasksets import ImageFolderConfig, SinusoidConfig, TextCSVConfig
from metagui.qt._document import ExperimentDocument
from metagui.qt.panels._editors import humanize, shape_of
from metagui.qt.panels._form import ModelForm
from metagui.qt.panels._search_rows import (
    RowTexts,
    algorithm_defaults,
    format_condition,
    param_from_texts,
    parse_condition,
    row_for_setting,
    setting_paths,
    texts_from_param,
    with_type,
)
from metagui.qt.panels._taskset_panel import FAMILIES, family_defaults


def test_editor_shapes_come_from_annotations_and_constraints() -> None:
    fields = AlgorithmSpec.model_fields
    assert shape_of(fields["name"]).choices == ALGORITHMS
    inner = shape_of(fields["inner_steps"])
    assert (inner.kind, inner.low, inner.high, inner.optional) == ("int", 1, 100, False)
    assert shape_of(fields["inner_lr"]).kind == "float"
    assert shape_of(fields["eval_inner_steps"]).optional
    assert shape_of(fields["first_order"]).kind == "bool"
    hidden = shape_of(ModelSpec.model_fields["hidden_sizes"])
    assert (hidden.kind, hidden.item, hidden.length) == ("sequence", int, None)
    amplitude = shape_of(SinusoidConfig.model_fields["amplitude"])
    assert (amplitude.kind, amplitude.item, amplitude.length) == ("sequence", float, 2)
    assert shape_of(ImageFolderConfig.model_fields["channels"]).choices == (1, 3)
    assert shape_of(PrunerSpec.model_fields["lower"]).optional
    assert shape_of(TextCSVConfig.model_fields["path"]).kind == "text"


def test_form_renders_widgets_by_type(qtbot) -> None:
    doc = ExperimentDocument()
    form = ModelForm(doc, StrategySpec, "strategy")
    qtbot.addWidget(form)
    assert type(form.editor("name")).__name__ == "QComboBox"
    assert type(form.editor("startup_trials")).__name__ == "QSpinBox"
    assert type(form.editor("population_size")).__name__ == "QLineEdit"
    assert "random trials" in form.editor("startup_trials").toolTip()


def test_form_checks_against_the_whole_experiment(qtbot) -> None:
    doc = ExperimentDocument()
    form = ModelForm(doc, ModelSpec, "model")
    qtbot.addWidget(form)
    doc.set_value("model.norm", "group")
    type_into(qtbot, form.editor("groups"), "5")  # does not divide 64 filters
    assert form.error("groups") == "groups (5) must divide filters (64)"
    assert doc.invalid_fields == {"model.groups": "groups (5) must divide filters (64)"}
    doc.reset(ExperimentSpec())  # opening another experiment drops the text
    assert form.error("groups") is None and form.editor("groups").value() == 4


def test_route_names_the_field_an_error_is_about(qtbot) -> None:
    doc = ExperimentDocument()
    form = ModelForm(doc, SinusoidConfig, "taskset", fields=["k_shot", "amplitude"])
    qtbot.addWidget(form)
    assert form.route("k_shot", "taskset.sinusoid.amplitude: bad") == ("amplitude", "bad")
    assert form.route("k_shot", "taskset: whole") == ("k_shot", "whole")
    assert form.route("k_shot", "search_space.params.0.name: x") == (
        "k_shot",
        "search_space.params.0.name: x",
    )
    assert form.route("k_shot", "no location here") == ("k_shot", "no location here")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_defaults_cover_every_field(family: str) -> None:
    data = family_defaults(family)
    assert set(data) == set(FAMILIES[family].model_fields)
    assert data["family"] == family
    for key in ("root", "path"):
        if key in data:
            assert data[key] == ""


# -- search-space rows ---------------------------------------------------------------------------
def test_condition_text_round_trip() -> None:
    spec = ExperimentSpec()
    condition = parse_condition("algorithm.name in maml, fomaml", spec)
    assert condition == {"param": "algorithm.name", "in": ["maml", "fomaml"]}
    assert format_condition(condition) == "algorithm.name in maml, fomaml"
    assert parse_condition("algorithm.inner_steps = 1", spec) == {
        "param": "algorithm.inner_steps",
        "in": [1],
    }
    assert parse_condition("  ", spec) is None
    with pytest.raises(ValueError, match="write the condition"):
        parse_condition("algorithm.name maml", spec)
    with pytest.raises(ValueError, match="not one of"):
        parse_condition("algorithm.name in maml, sgd", spec)


def test_rows_round_trip_through_text() -> None:
    spec = ExperimentSpec()
    params = [
        {"name": "optimizer.lr", "type": "float", "low": 1e-4, "high": 0.01, "log": True},
        {"name": "algorithm.inner_steps", "type": "int", "low": 1, "high": 5, "step": 2},
        {"name": "model.filters", "type": "categorical", "choices": [32, 64]},
        {"name": "model.hidden_sizes", "type": "fixed", "value": [20, 20]},
        {
            "name": "algorithm.first_order",
            "type": "categorical",
            "choices": [False, True],
            "condition": {"param": "algorithm.name", "in": ["maml", "anil"]},
        },
    ]
    for param in params:
        texts = texts_from_param(param)
        back = param_from_texts(texts, spec)
        expected = {"log": False, **param} if param["type"] in ("float", "int") else param
        assert back == expected, texts


def test_a_row_says_which_cell_is_wrong() -> None:
    spec = ExperimentSpec()
    row = RowTexts("optimizer.lr", "float", "x", "1")
    with pytest.raises(ValueError, match=r"^low: enter a number"):
        param_from_texts(row, spec)
    with pytest.raises(ValueError, match=r"^name:"):
        param_from_texts(RowTexts(""), spec)
    with pytest.raises(ValueError, match=r"^choices: enter the values"):
        param_from_texts(RowTexts("model.norm", "categorical"), spec)


def test_new_rows_fit_the_setting() -> None:
    spec = ExperimentSpec()
    assert row_for_setting(spec, "optimizer.lr") == RowTexts(
        "optimizer.lr", "float", "0.0001", "0.01", True
    )
    assert row_for_setting(spec, "model.norm").choices == "none, batch, group, layer"
    assert row_for_setting(spec, "training.meta_batch_size").type == "int"
    lr = row_for_setting(spec, "optimizer.lr")
    assert with_type(lr, "categorical", spec).choices == "0.0001, 0.01"
    assert with_type(lr, "fixed", spec).choices == "0.001"
    assert "taskset.k_shot" in setting_paths(spec) and "taskset.family" not in setting_paths(spec)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kind", ["mlp", "conv4", "text"])
def test_algorithm_defaults_validate(algorithm: str, kind: str) -> None:
    spec = ExperimentSpec.model_validate(
        {"algorithm": {"name": algorithm}, "model": {"kind": kind}}
    )
    params = algorithm_defaults(spec, algorithm)
    data = spec.model_dump(mode="json", by_alias=True)
    data["search_space"] = {"params": params}
    space = ExperimentSpec.model_validate(data).search_space
    assert "optimizer.lr" in space.names
    assert ("algorithm.inner_lr" in space.names) == (algorithm not in ("protonet", "cnp"))


def test_bounds_are_worded_for_a_form() -> None:
    assert humanize("Input should be greater than or equal to 1") == "must be at least 1"
    assert humanize("Input should be greater than 0") == "must be more than 0"
    assert humanize("low: Input should be less than 100") == "low: must be less than 100"
    assert humanize("groups (5) must divide filters (64)") == "groups (5) must divide filters (64)"


def test_a_document_with_edits_freed_by_the_garbage_collector_does_not_crash() -> None:
    """An edited document in a reference cycle with a widget, freed by ``gc.collect()``: with
    QUndoStack and PySide6 6.11 this deleted the commands twice (a segfault)."""
    import subprocess
    import sys

    code = (
        "import gc, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication, QWidget\n"
        "app = QApplication([])\n"
        "from metagui.core.experiment import ExperimentSpec\n"
        "from metagui.qt._document import ExperimentDocument\n"
        "for i in range(10):\n"
        "    doc = ExperimentDocument(ExperimentSpec())\n"
        "    for k in range(3):\n"
        "        doc.set_value('seed', k + 1)\n"
        "    doc.undo_stack.undo()\n"
        "    w = QWidget(); w.doc = doc; doc.w = w\n"
        "    del doc, w\n"
        "    gc.collect()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
