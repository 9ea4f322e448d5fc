"""The settings of one meta-training run, as pydantic models.

``TrainSpec`` is the single source of truth for a run: the CLI, the app's forms, checkpoints
and exports all read and write it. Every architecture and optimizer choice is a plain field so
that a search space can range over it by its dotted path (e.g. ``algorithm.inner_lr``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from metagui.core.device import device_name_problem
from metagui.core.search_space import PathError, assign
from metagui.core.tasksets import SinusoidConfig, TaskSetConfig, has_validation_split
from metagui.core.tasksets._base import CHECK_RESOURCES, checks_resources

__all__ = [
    "ALGORITHMS",
    "CHECK_RESOURCES",
    "GRADIENT_BASED",
    "AlgorithmSpec",
    "ModelSpec",
    "OptimizerSpec",
    "TrainSpec",
    "TrainingSpec",
    "apply_override",
    "load_train_spec",
    "validate_train_spec",
]

AlgorithmName = Literal["maml", "fomaml", "reptile", "metasgd", "anil", "mamlpp", "protonet", "cnp"]
ALGORITHMS: tuple[str, ...] = AlgorithmName.__args__  # type: ignore[attr-defined]
# Learners that adapt by gradient steps on the support set (inner_lr / inner_steps apply).
GRADIENT_BASED: frozenset[str] = frozenset(
    {"maml", "fomaml", "reptile", "metasgd", "anil", "mamlpp"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    """The network. ``auto`` picks an MLP for regression, the 4-block conv net for images and
    the hashed n-gram text encoder for texts."""

    kind: Literal["auto", "mlp", "conv4", "text"] = "auto"
    hidden_sizes: list[int] = Field(
        default_factory=lambda: [40, 40],
        min_length=1,
        max_length=64,
        description="units of each hidden layer of the MLP (1 to 65536 each)",
    )
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    filters: int = Field(64, ge=1, le=1024, description="channels of each conv block")
    norm: Literal["none", "batch", "group", "layer"] = Field(
        "batch", description="normalisation after each conv (batch statistics, as in MAML)"
    )
    groups: int = Field(4, ge=1, description="groups for norm=group (must divide filters)")
    embed_dim: int = Field(64, ge=1, le=4096, description="text encoder embedding width")

    @model_validator(mode="after")
    def _groups_divide(self) -> ModelSpec:
        if self.norm == "group" and self.filters % self.groups:
            raise ValueError(f"groups ({self.groups}) must divide filters ({self.filters})")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError("hidden_sizes: every layer needs at least one unit")
        if any(h > 65536 for h in self.hidden_sizes):
            # A wider layer would not fit in any device's memory next to its neighbours.
            raise ValueError("hidden_sizes: a layer has at most 65536 units")
        return self


class AlgorithmSpec(_Strict):
    """The meta-learner and its own hyperparameters."""

    name: AlgorithmName = "maml"
    inner_lr: float = Field(
        0.01, gt=0, description="inner-loop step size (initial value when learned)"
    )
    inner_steps: int = Field(1, ge=1, le=100, description="adaptation steps during meta-training")
    eval_inner_steps: int | None = Field(
        None, ge=0, le=200, description="adaptation steps at evaluation (default: inner_steps)"
    )
    first_order: bool = Field(
        False, description="drop second-order terms (maml, metasgd, mamlpp, anil)"
    )
    msl_iterations: int = Field(
        0,
        ge=0,
        description="mamlpp: iterations over which the multi-step loss anneals to the last step",
    )
    cnp_hidden: int = Field(128, ge=1, le=4096, description="cnp: width of encoder and decoder")

    @property
    def adaptation_steps_at_eval(self) -> int:
        return self.inner_steps if self.eval_inner_steps is None else self.eval_inner_steps


class OptimizerSpec(_Strict):
    """The outer (meta) optimizer."""

    name: Literal["sgd", "momentum", "nesterov", "adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"


class TrainingSpec(_Strict):
    """How long to train and how often to measure."""

    iterations: int = Field(1000, ge=1, description="meta-iterations (outer steps)")
    meta_batch_size: int = Field(25, ge=1, le=4096, description="tasks per outer step")
    eval_every: int = Field(0, ge=0, description="validate every N iterations (0: only at the end)")
    eval_tasks: int = Field(100, ge=1, description="validation tasks per evaluation")
    test_tasks: int = Field(600, ge=1, description="held-out tasks for the final meta-test")
    log_every: int = Field(10, ge=1, description="report the training loss every N iterations")
    eval_seed: int | None = Field(
        None,
        ge=0,
        description="seed of the fixed validation and test task streams (default: the run's "
        "seed); the trials of a study share one, so they are scored on the same tasks",
    )
    batched: Literal["auto", "on", "off"] = Field(
        "auto", description="run a meta-batch as one batched computation where exactly correct"
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="wall time in seconds after which the training stops (whichever of this "
        "and iterations comes first); the final evaluation still runs. A cosine schedule then "
        "anneals over the time",
    )
    time_budget_includes_eval: bool = Field(
        False,
        description="with time_budget_s: stop the training early enough that the final "
        "evaluation also ends within the budget (its cost is estimated from timed evaluations)",
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="arithmetic of the network's forward passes (inner and outer loop): bf16 "
        "on a CPU or a GPU that has it, fp16 on CUDA only (with a dynamic loss scale); weights, "
        "meta-gradients and optimizer state stay fp32",
    )
    compile: bool = Field(
        False,
        description="torch.compile the network's forward passes where that is exact: all of "
        "them for first-order and amortized learners, only the query pass for second-order "
        "ones (a compiled graph cannot be differentiated twice); compiling takes seconds to "
        "minutes at the start",
    )


class TrainSpec(_Strict):
    """Everything that defines one meta-training run."""

    taskset: TaskSetConfig = Field(default_factory=SinusoidConfig)
    model: ModelSpec = Field(default_factory=ModelSpec)
    algorithm: AlgorithmSpec = Field(default_factory=AlgorithmSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    seed: int = Field(0, ge=0, lt=2**63)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        problem = device_name_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _validation_split_if_used(self) -> TrainSpec:
        if self.training.eval_every and not has_validation_split(self.taskset):
            raise ValueError(
                "training.eval_every: the task set has no validation split (its validation "
                "fraction is 0) to evaluate on during training; set eval_every to 0"
            )
        return self

    @model_validator(mode="after")
    def _precision_fits_device(self) -> TrainSpec:
        if self.training.precision == "fp16" and self.device in ("cpu", "mps"):
            raise ValueError(
                f"training.precision: fp16 needs a CUDA device (device is {self.device}); "
                "use bf16 or fp32"
            )
        return self

    @model_validator(mode="after")
    def _device_is_here(self, info: ValidationInfo) -> TrainSpec:
        if checks_resources(info) and self.device not in ("auto", "cpu") and self._runs_here():
            from metagui.core.device import resolve_device
            from metagui.core.errors import MetaguiError

            try:
                resolve_device(self.device)
            except MetaguiError as exc:
                raise ValueError(str(exc)) from None
        return self

    def _runs_here(self) -> bool:
        """Whether the runs of these settings use this machine's devices."""
        return True


# Task-set fields that name files; relative values in a spec file are relative to that file.
_PATH_FIELDS = ("root", "path")


def load_train_spec(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> TrainSpec:
    """A ``TrainSpec`` from a YAML or JSON file (``yaml.safe_load``: never runs code), with
    ``key.path=value`` overrides applied (values parsed as YAML scalars or lists).

    Relative data paths in the file are taken relative to the file's folder; those given as
    overrides, relative to the current directory. Errors name the file, the field path and
    the problem."""
    import yaml

    from metagui.core.errors import MetaguiError

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MetaguiError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # PyYAML's constructors let some conversion errors through (``2020-13-45``, ``!!int x``)
        detail = " ".join(str(exc).split())
        raise MetaguiError(f"{path}: not valid YAML/JSON ({detail})") from exc
    if not isinstance(data, dict):
        raise MetaguiError(f"{path}: expected a mapping of settings at the top level")
    if not data:
        raise MetaguiError(f"{path}: the file holds no settings")
    taskset = data.get("taskset")
    if isinstance(taskset, dict):
        for key in _PATH_FIELDS:
            value = taskset.get(key)
            if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                taskset[key] = str((path.parent / value).resolve())
    for item in overrides:
        apply_override(data, item, str(path))
    return validate_train_spec(data, str(path))


def apply_override(data: dict[str, Any], item: str, source: str) -> None:
    """Set ``a.b.c=value`` in the nested mapping ``data``: missing mapping levels are created,
    a decimal part indexes a list (``search_space.params.0.low=5``). The value is read as YAML
    (a scalar, a list or a mapping). Every problem is a :class:`MetaguiError` naming the key."""
    import yaml

    from metagui.core.errors import MetaguiError

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise MetaguiError(f"{source}: override {_shorten(item)} is not KEY=VALUE")
    if not key.isprintable() or "" in key.split("."):
        raise MetaguiError(f"{source}: override {_shorten(key)} is not a dotted setting path")
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "syntax error"
        raise MetaguiError(
            f"{source}: override {key}: cannot read the value {_shorten(raw)} ({problem})"
        ) from exc
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # PyYAML's constructors let conversion errors through: ``2020-13-45``, ``!!int abc``,
        # an integer of more than 4300 digits.
        detail = _shorten(" ".join(str(exc).split()), 120, quote=False)
        raise MetaguiError(
            f"{source}: override {key}: cannot read the value {_shorten(raw)} ({detail})"
        ) from exc
    if key.rpartition(".")[2] in _PATH_FIELDS and isinstance(value, str):
        # A path that cannot be resolved stays as given: validation names what is wrong.
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            value = str(Path(value).expanduser().resolve())
    try:
        assign(data, key, value, create=True)
    except PathError as exc:
        raise MetaguiError(f"{source}: override {key}: {exc}") from None


def _shorten(text: str, limit: int = 60, *, quote: bool = True) -> str:
    """``text`` for a one-line message: quoted (``repr``) and cut to about ``limit`` chars."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(cut) if quote else cut


def validate_train_spec(data: object, source: str) -> TrainSpec:
    """``data`` as a ``TrainSpec``; a :class:`MetaguiError` names ``source``, the field path
    and the problem of the first error (and how many more there are)."""
    from pydantic import ValidationError

    from metagui.core.errors import MetaguiError

    try:
        return TrainSpec.model_validate(data, context={CHECK_RESOURCES: True})
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MetaguiError(f"{source}: {where}: {first['msg']}{more}") from exc
