"""Bad experiments and bad ``--set`` values are refused at load with one line naming the file,
the field and the problem (a ``MetaguiError``), never a traceback or a silent default."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagui.core.errors import MetaguiError
from metagui.core.experiment import ExperimentSpec
from metagui.core.experiment_io import load_experiment

BASE = (
    "name: base\n"
    "search_space:\n  params:\n"
    "  - {name: algorithm.inner_lr, type: float, low: 0.001, high: 0.1, log: true}\n"
    "  - {name: model.activation, type: categorical, choices: [relu, tanh]}\n"
)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "e.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path


def refused(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(MetaguiError) as info:
        load_experiment(path, overrides or [])
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


# ---------------------------------------------------------------------------------------------
# --set values and dotted paths


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2020-13-45", "month must be in 1..12"),
        ("!!int abc", "invalid literal for int()"),
        ("9" * 5000, "4300 digits"),
        ("[unclosed", "cannot read the value"),
    ],
)
def test_an_unreadable_value_names_its_key(base: Path, value: str, problem: str) -> None:
    message = refused(base, [f"seed={value}"])
    assert "override seed: cannot read the value" in message and problem in message


def test_a_list_item_is_set_by_its_index(base: Path) -> None:
    spec = load_experiment(base, ["search_space.params.0.low=0.005"])
    assert spec.search_space.params[0].low == 0.005  # type: ignore[union-attr]
    assert spec.search_space.params[1].name == "model.activation"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("search_space.params.5.low", "index 5 is out of range (the list has 2 items)"),
        ("search_space.params.first.low", "'first' is not an index of a list"),
        ("search_space.params.-1.low", "'-1' is not an index of a list"),
        ("name.first", "'first': the level above is a str, not a mapping"),
        ("algorithm..name", "is not a dotted setting path"),
    ],
)
def test_a_path_that_leads_nowhere_is_one_line(base: Path, key: str, problem: str) -> None:
    assert problem in refused(base, [f"{key}=1"])


def test_a_null_section_can_be_filled_in(base: Path) -> None:
    base.write_text(BASE + "execution: null\n", encoding="utf-8")
    assert load_experiment(base, ["execution.parallel=2"]).execution.parallel == 2  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Data paths


def _with_taskset(path: Path, taskset: str) -> Path:
    path.write_text(f"taskset: {taskset}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        ("/etc/passwd", "/etc/passwd is not a folder"),
        ("/dev/zero", "/dev/zero is in the system folder /dev"),
        ("/proc/self", "is in the system folder /proc"),
        ("{tmp}/missing", "missing does not exist"),
        ("{tmp}/empty", "empty is an empty folder"),
    ],
)
@pytest.mark.parametrize("family", ["image_folder", "omniglot"])
def test_a_data_folder_must_be_one(tmp_path: Path, family: str, root: str, problem: str) -> None:
    (tmp_path / "empty").mkdir()
    root = root.format(tmp=tmp_path)
    path = _with_taskset(tmp_path / "e.yaml", f"{{family: {family}, root: '{root}'}}")
    message = refused(path)
    assert f"{path}: taskset.root: " in message and problem in message


def test_omniglot_needs_its_sets_or_a_download(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("x", encoding="utf-8")
    path = _with_taskset(tmp_path / "e.yaml", "{family: omniglot, root: data}")
    assert "background: Omniglot set 'images_background' not found" in refused(path)
    for name in ("images_background", "images_evaluation"):  # the zips will do
        with zipfile.ZipFile(tmp_path / "data" / f"{name}.zip", "w") as zf:
            zf.writestr("A/c1/1.png", b"")
    assert load_experiment(path).taskset.family == "omniglot"
    # With download, the folder may be missing or empty: the download fills it.
    path = _with_taskset(path, "{family: omniglot, root: later, download: true}")
    assert load_experiment(path).taskset.family == "omniglot"


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        ("{tmp}", "is a folder, not a file"),
        ("/dev/zero", "/dev/zero is in the system folder /dev"),
        ("{tmp}/missing.csv", "missing.csv does not exist"),
        ("{tmp}/empty.csv", "empty.csv is an empty file"),
    ],
)
def test_a_text_file_must_be_a_regular_file(tmp_path: Path, file: str, problem: str) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    path = _with_taskset(tmp_path / "e.yaml", f"{{family: text_csv, path: '{file}'}}")
    path.write_text(path.read_text().replace("{tmp}", str(tmp_path)), encoding="utf-8")
    message = refused(path)
    assert f"{path}: taskset.path: " in message and problem in message


def test_data_that_is_there_loads_and_in_code_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "t.csv").write_text("text,label\na,b\n", encoding="utf-8")
    for taskset in ("{family: image_folder, root: images}", "{family: text_csv, path: t.csv}"):
        assert load_experiment(_with_taskset(tmp_path / "e.yaml", taskset))
    # Specs built in code (tests, the app's forms, workers) are not checked against the disk.
    assert ExperimentSpec.model_validate({"taskset": {"family": "image_folder", "root": "/x"}})


# ---------------------------------------------------------------------------------------------
# Search values against their settings, numbers, the device, empty files


@pytest.mark.parametrize(
    ("param", "problem"),
    [
        ("{name: algorithm.name, type: categorical, choices: [maml, mammal]}",
         "search_space.params.0.choices.1: 'mammal' is not a value of algorithm.name: "
         "Input should be 'maml'"),
        ("{name: algorithm.inner_steps, type: int, low: 1, high: 1000}",
         "search_space.params.0.high: 1000 is not a value of algorithm.inner_steps: Input "
         "should be less than or equal to 100"),
        ("{name: optimizer.lr, type: float, low: 0, high: 0.1}",
         "search_space.params.0.low: 0.0 is not a value of optimizer.lr: Input should be "
         "greater than 0"),
        ("{name: model.filters, type: fixed, value: 0}",
         "search_space.params.0.value: 0 is not a value of model.filters"),
        ("{name: model.hidden_sizes.0, type: int, low: 0, high: 80}",
         "search_space.params.0.low: 0 is not a value of model.hidden_sizes.0: hidden_sizes: "
         "every layer needs at least one unit"),
        ("{name: model.hidden_sizes.7, type: int, low: 8, high: 80}",
         "search_space.params.0.name: 'model.hidden_sizes.7' is not a setting of this "
         "experiment"),
    ],
)  # fmt: skip
def test_search_values_must_be_values_of_their_setting(
    tmp_path: Path, param: str, problem: str
) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"search_space:\n  params:\n  - {param}\n", encoding="utf-8")
    assert problem in refused(path)


def test_a_list_item_is_searched_by_its_index(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "model: {kind: mlp, hidden_sizes: [40, 40]}\nsearch_space:\n  params:\n"
        "  - {name: model.hidden_sizes.0, type: int, low: 20, high: 80}\n",
        encoding="utf-8",
    )
    spec = load_experiment(path)
    assert spec.trial_spec({"model.hidden_sizes.0": 64}).model.hidden_sizes == [64, 40]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("key", ["optimizer.lr", "algorithm.inner_lr", "pruner.lower"])
def test_numbers_must_be_finite(base: Path, key: str, value: str) -> None:
    assert f"{key}: Input should be a finite number" in refused(base, [f"{key}={value}"])


def test_an_unknown_device_is_refused(base: Path) -> None:
    message = refused(base, ["device=tpu:7"])
    assert "device: unknown device 'tpu:7' (use auto, cpu, cuda, cuda:N or mps)" in message


def test_a_device_this_machine_lacks_is_refused(base: Path) -> None:
    import torch

    if torch.cuda.is_available():
        message = refused(base, [f"device=cuda:{torch.cuda.device_count()}"])
        assert "this machine has" in message
    else:
        assert "CUDA is not available here" in refused(base, ["device=cuda:0"])
    # Trials on a named Ray cluster run on its machines: not checked here.
    spec = load_experiment(base, ["device=cuda:9", "execution.address=head:6379"])
    assert spec.device == "cuda:9"


@pytest.mark.parametrize(
    ("name", "text"), [("e.yaml", ""), ("c.yaml", "# nothing\n"), ("e.json", "{}"), ("e.toml", "")]
)
def test_an_empty_file_is_not_the_default_experiment(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert "the file holds no settings" in refused(tmp_path / name)


# ---------------------------------------------------------------------------------------------
# Any --set line ends in a spec or in one line

DOTTED = sorted(
    {
        "seed", "device", "name", "budget.trials", "budget.timeout_s", "execution.parallel",
        "taskset.family", "taskset.root", "taskset.path", "taskset.k_shot",
        "algorithm.name", "algorithm.inner_lr", "algorithm.inner_steps", "optimizer.lr",
        "model.hidden_sizes", "model.hidden_sizes.0", "model.filters", "training.iterations",
        "search_space.params", "search_space.params.0", "search_space.params.0.low",
        "search_space.params.1.choices", "search_space.params.1.choices.0",
        "search_space.params.2.low", "pruner.lower", "strategy.name", "warm_start.0",
    }
)  # fmt: skip
RAW_VALUES = st.one_of(
    st.sampled_from(
        [
            "2020-13-45", "2020-01-01", "!!int abc", "!!float x", "!!binary AAA=", "!!set {a}",
            ".inf", "-.inf", ".nan", "null", "~", "[1, 2", "{a: 1}", "[1, [2]]", "0x1F", "1e999",
            "!!python/object:os.system x", "&a [*a]", "'", "9" * 5000, "-" + "9" * 400, "",
            "/etc/passwd", "/dev/zero", "/proc/self", "cuda:99", "maml", "- a\n- b", "a: b: c",
        ]
    ),
    st.integers().map(str),
    st.floats().map(str),
    st.text(max_size=20),
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sets=st.lists(st.tuples(st.sampled_from(DOTTED) | st.text(max_size=10), RAW_VALUES), max_size=3)
)
def test_any_override_ends_in_a_spec_or_one_line(
    sets: list[tuple[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "e.yaml"
    path.write_text(BASE + "  - {name: seed, type: int, low: 0, high: 9}\n", encoding="utf-8")
    try:
        spec = load_experiment(path, [f"{key}={value}" for key, value in sets])
    except MetaguiError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
    else:
        assert isinstance(spec, ExperimentSpec)


# The command line over the same values, and its own flags: each run ends in a finished tiny
# study, a usage error, or one error line; never a traceback. The last overrides keep a valid
# run to one tiny trial (a later --set wins), so the settings that size the work are not drawn
# here (the loader's test above covers their values); execution.parallel is left out too (a
# Ray cluster per example is tested in test_ray.py).
TINY_RUN = [
    "training.iterations=1", "training.eval_every=1", "training.eval_tasks=2",
    "training.test_tasks=2", "training.meta_batch_size=1", "budget.trials=1",
    "taskset.k_shot=2", "taskset.q_query=2", "model.hidden_sizes=[8]",
    "algorithm.inner_steps=1", "algorithm.eval_inner_steps=1",
]  # fmt: skip
SIZING = {line.split("=", 1)[0] for line in TINY_RUN}
CLI_KEYS = [
    key
    for key in DOTTED
    if key != "execution.parallel" and not any(key.startswith(s) for s in SIZING)
]
FLAGS = st.lists(
    st.tuples(
        st.sampled_from(["--trials", "--timeout", "--device", "--study"]),
        RAW_VALUES | st.sampled_from(["1", "0", "-1", "nan", "inf", "0.5", "cpu", "tpu:7", "a/b"]),
    ),
    max_size=2,
)


@settings(
    max_examples=60,
    deadline=None,
    # capsys is read out (and so emptied) by every example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sets=st.lists(
        st.tuples(st.sampled_from(CLI_KEYS), RAW_VALUES),
        max_size=2,
    ),
    flags=FLAGS,
)
def test_any_command_line_runs_or_fails_in_one_line(
    sets: list[tuple[str, str]],
    flags: list[tuple[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from metagui.cli import main

    capsys.readouterr()
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "e.yaml"
    path.write_text(BASE, encoding="utf-8")
    args = ["run", str(path), "--db", str(folder / "h.sqlite")]
    for flag, value in flags:
        args.append(f"{flag}={value}")
    for key, value in [*sets, *(line.split("=", 1) for line in TINY_RUN)]:
        args += ["--set", f"{key}={value}"]
    try:
        code = main(args)
    except SystemExit as usage:  # argparse: a flag's value is not of its type
        assert usage.code == 2
        assert capsys.readouterr().err.splitlines()[-1].startswith("metagui run: error: ")
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("metagui: error: ")]
        assert len(errors) == 1, err
    else:
        # A run: its one trial completed, or failed and the run says why with exit 1.
        assert code in (0, 1), err
