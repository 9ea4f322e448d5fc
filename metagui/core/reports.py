"""Small frozen reports that cross from the training loop to its consumers (CLI, history
store, Qt worker). They carry plain Python numbers only, never tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EvalResult", "StepReport", "Tick", "TrainingFinished"]


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
    """The end of a run: the final meta-test, the validation result of the final model, and
    the device it ran on."""

    steps: int
    test: EvalResult
    device: str
    elapsed_s: float
    validation: EvalResult
