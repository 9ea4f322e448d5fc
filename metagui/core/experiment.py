"""An experiment: the base settings of a run (a ``TrainSpec``) plus what to search over, how,
for how long, and what to optimise. One pydantic model is the single source of truth for the
experiment file, the app's forms, validation, export and the JSON Schema."""

from __future__ import annotations

import copy
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from metagui.core.history import Objective
from metagui.core.objectives import SPLIT_PREFIX, SecondMetric, metric_of
from metagui.core.search_space import (
    CategoricalParam,
    FixedParam,
    SearchSpace,
    assign,
    lookup,
)
from metagui.core.spec import TrainSpec
from metagui.core.tasksets import has_test_split, has_validation_split

__all__ = [
    "MULTI_OBJECTIVE_STRATEGIES",
    "PRUNERS",
    "STRATEGIES",
    "BudgetSpec",
    "CheckpointsSpec",
    "ExecutionSpec",
    "ExperienceSpec",
    "ExperimentSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "SecondObjectiveSpec",
    "StrategySpec",
    "check_study_name",
    "set_path",
    "setting_field",
]

StrategyName = Literal["grid", "random", "sobol", "tpe", "gp", "cmaes", "nsga2", "pso", "de"]
STRATEGIES: tuple[str, ...] = StrategyName.__args__  # type: ignore[attr-defined]
MULTI_OBJECTIVE_STRATEGIES: tuple[str, ...] = ("nsga2", "tpe", "gp", "random", "sobol", "grid")
"""The strategies that search two objectives at once (Optuna's samplers run them with several
directions; random, Sobol and grid ignore the values); CMA-ES, PSO and DE rank by one value."""
PrunerName = Literal["none", "median", "percentile", "asha", "hyperband", "threshold", "patient"]
PRUNERS: tuple[str, ...] = PrunerName.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SecondObjectiveSpec(_Strict):
    """A second objective, scored beside the first: the study then searches for the trials
    that no other beats on both (its Pareto front; see :mod:`metagui.core.objectives`)."""

    metric: SecondMetric = Field(description="what else a trial is scored by")
    direction: Literal["auto", "minimize", "maximize"] = Field(
        "auto", description="auto: minimise (each of these is a cost)"
    )

    def resolved_direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.direction == "auto" else self.direction


class ObjectiveSpec(_Strict):
    """What a trial is scored by: the meta-test metric (accuracy for classification, MSE for
    regression) after the evaluation adaptation steps, on held-out tasks of ``split``; with
    ``second``, by that too (a two-objective study)."""

    split: Literal["validation", "test"] = "validation"
    direction: Literal["auto", "minimize", "maximize"] = Field(
        "auto", description="auto: maximise accuracy, minimise MSE"
    )
    second: SecondObjectiveSpec | None = Field(
        None, description="a second objective (a two-objective study), or none"
    )

    def resolved_direction(self, task_kind: str) -> Literal["minimize", "maximize"]:
        if self.direction != "auto":
            return self.direction
        return "maximize" if task_kind == "classification" else "minimize"

    def objectives(self, task_kind: str) -> tuple[Objective, ...]:
        """The study's objectives as stored (``studies.objectives``): empty for one objective,
        else the first (the metric on ``split``, e.g. ``val/accuracy``) and the second."""
        if self.second is None:
            return ()
        first = f"{SPLIT_PREFIX[self.split]}/{metric_of(task_kind)}"
        return (
            Objective(first, self.resolved_direction(task_kind)),
            Objective(self.second.metric, self.second.resolved_direction()),
        )


class StrategySpec(_Strict):
    """How the next trial's parameters are chosen."""

    name: StrategyName = "tpe"
    startup_trials: int = Field(
        10, ge=0, description="random trials before a model-based strategy takes over"
    )
    population_size: int | None = Field(
        None, ge=2, description="genetic, PSO, DE and CMA-ES population (default: library's)"
    )


class PrunerSpec(_Strict):
    """When to stop an unpromising trial early, from its intermediate validation values."""

    name: PrunerName = "none"
    startup_trials: int = Field(5, ge=0, description="trials that are never pruned")
    warmup_steps: int = Field(0, ge=0, description="evaluations before pruning may happen")
    percentile: float = Field(25.0, gt=0, lt=100, description="percentile pruner's cut")
    reduction_factor: int = Field(3, ge=2, description="ASHA / Hyperband")
    min_resource: int = Field(1, ge=1, description="ASHA / Hyperband: evaluations first rung")
    patience: int = Field(3, ge=1, description="patient pruner: evaluations without improving")
    lower: float | None = Field(None, description="threshold pruner: prune below this")
    upper: float | None = Field(None, description="threshold pruner: prune above this")


class BudgetSpec(_Strict):
    """How much searching: a number of trials, a wall time, or both (whichever ends first)."""

    trials: int | None = Field(20, ge=1)
    timeout_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_budget(self) -> BudgetSpec:
        if self.trials is None and self.timeout_s is None:
            raise ValueError("give trials, timeout_s or both")
        return self


class ExecutionSpec(_Strict):
    """Where and how many trials run at once. Not a hyperparameter: it never changes a
    trial's result (only how fast the study gets through its budget), and exports of a
    trial's settings leave it out. Without it a study runs one trial at a time, in process."""

    parallel: int = Field(1, ge=1, le=4096, description="trials running at once")
    address: str = Field(
        "local",
        min_length=1,
        description="local (a Ray cluster on this machine, started for the study) or the "
        "address of a running Ray cluster (host:port)",
    )
    cpus_per_trial: float = Field(1.0, gt=0, description="CPU cores each trial reserves")
    gpus_per_trial: float = Field(
        0.0, ge=0, description="GPUs each trial reserves (0.25: four trials share one GPU)"
    )
    retry_lost_trials: bool = Field(
        False, description="run a trial whose worker was lost again, as a new trial number"
    )

    @property
    def distributed(self) -> bool:
        """Whether the trials run on Ray (several at once, or on a named cluster)."""
        return self.parallel > 1 or self.address != "local"


class CheckpointsSpec(_Strict):
    """Which trained models the study keeps (see :mod:`metagui.core.kept_checkpoints`): the
    checkpoints of its top ``keep`` trials; one that falls out of the top is deleted."""

    keep: int = Field(
        1,
        ge=1,
        le=1000,
        description="the checkpoints of this many best trials are kept (1: the best's only)",
    )


class ExperienceSpec(_Strict):
    """How a study learns from similar earlier studies of its history (the experience pool)
    when ``warm_start`` is ``auto``."""

    min_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="studies less similar than this (0 to 1) are not learned from",
    )
    max_studies: int = Field(5, ge=1, le=100, description="most similar studies in the pool")
    exclude: list[str] = Field(
        default_factory=list,
        description="studies never learned from, however similar (unticked in the app)",
    )
    initial_design: bool = Field(
        True, description="run the pool's best configurations first, mapped into this space"
    )
    initial_configs: int = Field(
        5, ge=0, le=1000, description="how many of the pool's best configurations run first"
    )
    prior: bool = Field(
        True,
        description="give the sampler the pool's trials (normalised per study, weighted by "
        "similarity) as extra observations that count less as this study's own accumulate",
    )
    pruning: bool = Field(
        True, description="prune a trial whose curve is worse than the pool's at the same step"
    )
    pruning_quantile: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="pool pruning: the quantile of the pool's curves a trial must beat",
    )


def check_study_name(name: str) -> str:
    """``name`` if it can name a study: its artifacts live in a folder of that name, so it must
    be one folder name on every system (no path separators, no ``.``/``..``, no control
    characters, no blanks at either end). Raises ValueError saying why not."""
    if not name or name.strip() != name:
        raise ValueError("a study name must not be empty or start or end with blanks")
    if name in (".", "..") or any(c in name for c in '/\\:*?"<>|'):
        raise ValueError(
            f'{name!r} cannot name a folder (no . or .., nor any of / \\ : * ? " < > |)'
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"{name!r} holds a control character")
    return name


StudyName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_study_name)]


class ExperimentSpec(TrainSpec):
    """A hyperparameter search over meta-training runs. The inherited ``TrainSpec`` fields are
    the base settings; each trial overrides the ``search_space`` parameters it samples."""

    name: StudyName = "experiment"
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    search_space: SearchSpace = Field(default_factory=SearchSpace)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    warm_start: Literal["auto"] | list[str] = Field(
        default_factory=list,
        description="auto: learn from the most similar finished studies of the same history "
        "(see experience); or the names of studies whose best trials seed this one",
    )
    experience: ExperienceSpec = Field(
        default_factory=ExperienceSpec,
        description="how warm_start: auto learns from similar earlier studies",
    )
    execution: ExecutionSpec | None = Field(
        None, description="parallel trials on Ray; absent: one trial at a time, in process"
    )
    checkpoints: CheckpointsSpec = Field(
        default_factory=CheckpointsSpec,
        description="how many of the best trials' trained models the study keeps",
    )

    @model_validator(mode="after")
    def _objective_split_exists(self) -> ExperimentSpec:
        if self.objective.split == "validation" and not has_validation_split(self.taskset):
            raise ValueError(
                "objective.split: the task set has no validation split (its validation "
                "fraction is 0); score the trials on split: test"
            )
        if self.objective.split == "test" and not has_test_split(self.taskset):
            raise ValueError(
                "objective.split: the task set has no test split (no evaluation set); score "
                "the trials on split: validation"
            )
        return self

    @model_validator(mode="after")
    def _two_objectives_searchable(self) -> ExperimentSpec:
        # What ranks trials by one value cannot steer a search for a Pareto front.
        if self.objective.second is None:
            return self
        if self.strategy.name not in MULTI_OBJECTIVE_STRATEGIES:
            usable = ", ".join(MULTI_OBJECTIVE_STRATEGIES)
            raise ValueError(
                f"strategy.name: {self.strategy.name} searches one objective; with "
                f"objective.second use {usable}"
            )
        if self.pruner.name != "none":
            raise ValueError(
                f"pruner.name: the {self.pruner.name} pruner ranks trials by one value; with "
                "objective.second use none"
            )
        if self.warm_start == "auto":
            for flag in ("prior", "pruning"):
                if getattr(self.experience, flag):
                    raise ValueError(
                        f"experience.{flag}: ranks the pool's trials by one value; with "
                        "objective.second set experience.prior and experience.pruning to "
                        "false (the pool's best configurations still run first)"
                    )
        return self

    @model_validator(mode="after")
    def _paths_exist(self) -> ExperimentSpec:
        base = self.base_settings().model_dump(mode="json")
        names = set(self.search_space.names)
        for i, p in enumerate(self.search_space.params):
            where = f"search_space.params.{i}"
            try:
                lookup(base, p.name)
            except KeyError:
                raise ValueError(
                    f"{where}.name: {p.name!r} is not a setting of this experiment"
                ) from None
            self._check_values(p, where)
            c = p.condition
            if c is not None and c.param not in names:
                try:
                    lookup(base, c.param)
                except KeyError:
                    raise ValueError(
                        f"{where}.condition.param: {p.name!r} is conditional on {c.param!r}, "
                        "which is neither a search parameter nor a setting"
                    ) from None
        return self

    def _check_values(self, p: Any, where: str) -> None:
        """Every value ``p`` can give (the ends of a range, each choice, the fixed value) must
        be one its setting accepts: a choice of a literal, a range within the field's bounds."""
        adapter = _setting_adapter(self, p.name)
        item = p.name.rsplit(".", 1)[-1].isdigit()
        if adapter is None and not item:
            return
        values: list[tuple[str, Any]]
        if isinstance(p, CategoricalParam):
            values = [(f"{where}.choices.{i}", c) for i, c in enumerate(p.choices)]
        elif isinstance(p, FixedParam):
            values = [(f"{where}.value", p.value)]
        else:
            values = [(f"{where}.low", p.low), (f"{where}.high", p.high)]
        for at, value in values:
            try:
                if adapter is not None:
                    adapter.validate_python(value)
                else:  # a list item (model.hidden_sizes.0): the settings with it must hold
                    self.trial_spec({p.name: value})
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{at}: {value!r} is not a value of {p.name}: {msg}") from None

    def _runs_here(self) -> bool:
        # Trials on a named Ray cluster use its machines' devices, not this one's.
        return self.execution is None or self.execution.address == "local"

    def base_settings(self) -> TrainSpec:
        """The fixed settings, as a plain ``TrainSpec``."""
        fields = set(TrainSpec.model_fields)
        return TrainSpec.model_validate(
            {k: v for k, v in self.model_dump(mode="json").items() if k in fields}
        )

    def trial_spec(self, params: dict[str, Any], seed: int | None = None) -> TrainSpec:
        """The base settings with ``params`` (dotted path -> value) filled in."""
        data = self.base_settings().model_dump(mode="json")
        for name, value in params.items():
            set_path(data, name, value)
        if seed is not None:
            data["seed"] = seed
        return TrainSpec.model_validate(data)

    def with_params(self, params: dict[str, Any], seed: int | None = None) -> ExperimentSpec:
        """This experiment with ``params`` filled in as fixed settings and no search left: a
        file that re-runs exactly one trial."""
        data = self.model_dump(mode="json", by_alias=True)
        for name, value in params.items():
            set_path(data, name, value)
        if data["training"].get("eval_seed") is None:
            # The study scored every trial on the tasks of its own seed: keep scoring on them.
            data["training"]["eval_seed"] = self.seed
        if seed is not None:
            data["seed"] = seed
        data["search_space"] = {"params": []}
        data["budget"] = {"trials": 1, "timeout_s": None}
        data["warm_start"] = []
        data["execution"] = None  # how a study ran is not part of a trial's settings
        return ExperimentSpec.model_validate(data)


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``data["a"]["b"] = value`` (a copy) for ``"a.b"``; the levels must exist
    (:class:`~metagui.core.search_space.PathError`, a ``KeyError``, otherwise)."""
    assign(data, dotted, copy.deepcopy(value) if isinstance(value, list | dict) else value)


def setting_field(spec: BaseModel, dotted: str) -> tuple[type[BaseModel], str] | None:
    """The model class and field name of the setting at ``dotted`` of ``spec`` (the section
    it is in as ``spec`` holds it now, e.g. the chosen task-set family's config); None where
    the path is not a field (a list item, a missing level)."""
    node: Any = spec
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = getattr(node, part, None)
        if not isinstance(node, BaseModel):
            return None
    return (type(node), parts[-1]) if parts[-1] in type(node).model_fields else None


def _setting_adapter(spec: BaseModel, dotted: str) -> TypeAdapter[Any] | None:
    """A validator of the values of the setting at ``dotted`` of ``spec`` alone (its type and
    bounds, without the model's cross-field checks); None where the path is not a field."""
    found = setting_field(spec, dotted)
    return None if found is None else _field_adapter(*found)


def _field_adapter(model: type[BaseModel], field: str) -> TypeAdapter[Any]:
    adapter = _FIELD_ADAPTERS.get((model, field))
    if adapter is None:
        info = model.model_fields[field]
        kind: Any = info.annotation
        adapter = TypeAdapter(Annotated[kind, *info.metadata] if info.metadata else kind)
        _FIELD_ADAPTERS[model, field] = adapter
    return adapter


_FIELD_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
