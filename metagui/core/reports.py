"""Small frozen reports that cross from the training loop to its consumers (CLI, history
store, Qt worker). They carry plain Python numbers only, never tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = [
    "EvalResult",
    "StepReport",
    "Tick",
    "TrainingFinished",
    "format_clock",
    "format_rate",
    "format_value",
]


@dataclass(frozen=True)
class EvalResult:
    """A meta-test or validation result: the metric's mean and 95% confidence half-width
    after 0..k adaptation steps (one entry for learners that do not adapt by gradient)."""

    metric: str
    means: tuple[float, ...]
    ci95: tuple[float, ...]
    tasks: int

    @property
    def final(self) -> float:
        return self.means[-1]

    @property
    def final_ci95(self) -> float:
        return self.ci95[-1]


@dataclass(frozen=True)
class Tick:
    """Yielded between pieces of work so a consumer can stop or pause the run promptly."""

    step: int


@dataclass(frozen=True)
class StepReport:
    """Meta-training progress after ``step`` outer iterations (1-based)."""

    step: int
    total_steps: int
    train_loss: float
    train_accuracy: float | None
    learned: dict[str, float] = field(default_factory=dict)
    validation: EvalResult | None = None
    meta_iters_per_s: float = 0.0
    tasks_per_s: float = 0.0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class TrainingFinished:
    """The end of a run: the iterations that ran, the final meta-test and the validation
    result of the final model (each None where the task set has no such split), and the device
    it ran on. ``stopped_by_time``: the time budget ended the training before its iterations."""

    steps: int
    test: EvalResult | None
    device: str
    elapsed_s: float
    validation: EvalResult | None
    stopped_by_time: bool = False

    def result(self, split: str) -> EvalResult:
        """The final result on ``split`` (``validation`` or ``test``)."""
        result = self.test if split == "test" else self.validation
        if result is None:
            raise ValueError(f"the run had no {split} split to score")
        return result

    @property
    def final(self) -> EvalResult:
        """The result that says how good the final model is: the meta-test, or the validation
        where the task set has no test split."""
        result = self.test or self.validation
        assert result is not None, "a task set has a test or a validation split"
        return result


def format_rate(value: float) -> str:
    """A throughput (tasks/s, trials/h) as it reads at a glance, in the app and on the command
    line: two significant figures below 100 (``0.052``, ``3.4``, ``68``), whole numbers with
    separators above (``123``, ``1,234``); never ``0`` for a slow run that is going."""
    if not math.isfinite(value) or value <= 0:
        return "0"
    # 99.5 and above would read 1e+02 with two significant figures.
    return f"{value:,.0f}" if value >= 99.5 else f"{value:.2g}"


def format_value(value: float | None, unknown: str = "–") -> str:
    """An objective value as the CLI and the app show it: 4 significant digits; ``unknown``
    for none or a value that is not finite."""
    if value is None or not math.isfinite(value):
        return unknown
    return f"{value:.4g}"


def format_clock(seconds: float | None, unknown: str = "–") -> str:
    """A time span as a clock reads, for elapsed times and ETAs in the CLI and the app:
    ``1:05`` or ``2:03:07``; ``unknown`` when it is not known."""
    if seconds is None or not math.isfinite(seconds):
        return unknown
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
