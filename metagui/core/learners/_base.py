"""The interface every meta-learner implements, and what they share: losses and metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from metagui.core.models import MetaModel
    from metagui.core.spec import AlgorithmSpec, ModelSpec
    from metagui.core.tasksets import EpisodeBatch, TaskInfo

__all__ = ["MetaLearner", "StepOutput", "task_losses", "task_metrics"]


@dataclass
class StepOutput:
    """What one meta-gradient computation measured, as detached tensors (no host sync)."""

    loss: torch.Tensor
    accuracy: torch.Tensor | None = None


def task_losses(outputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss of each task: outputs ``[B, S, out]`` and targets ``[B, S(, 1)]`` -> ``[B]``.

    Unbatched inputs (``[S, out]``) give a 0-d tensor."""
    if kind == "regression":
        return ((outputs - targets) ** 2).flatten(-2).mean(-1)
    per_example = F.cross_entropy(
        outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), reduction="none"
    )
    return per_example.view(targets.shape).mean(-1)


def task_metrics(outputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """The reported metric of each task: MSE for regression, accuracy for classification."""
    if kind == "regression":
        return ((outputs - targets) ** 2).flatten(-2).mean(-1)
    return (outputs.argmax(-1) == targets).to(outputs.dtype).mean(-1)


class MetaLearner(nn.Module, ABC):
    """A meta-learning algorithm over a network. Its ``parameters()`` are everything the outer
    optimizer trains: the network's initialisation and any learned hyperparameters.

    ``batched`` computations run all tasks of a meta-batch at once (``torch.func.vmap``);
    the per-task loop is the reference they are tested against. ``supports_batched`` says
    whether the batched path is exact for this learner and network.
    """

    name: str = ""
    adapts_by_gradient: bool = False

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.info = info
        self.iteration = 0

    @classmethod
    def build_model(cls, model_spec: ModelSpec, info: TaskInfo) -> MetaModel:
        """The network this learner trains (with a classifier head by default)."""
        from metagui.core.models import build_model

        return build_model(model_spec, info, head=True)

    @property
    def supports_batched(self) -> bool:
        return True

    @abstractmethod
    def meta_gradient(
        self, batch: EpisodeBatch, *, batched: bool, scale: float = 1.0
    ) -> StepOutput:
        """Add ``scale`` times the meta-gradient of ``batch`` (mean over its tasks) to the
        ``.grad`` of the learner's parameters; return the detached mean query loss."""

    @abstractmethod
    def evaluate(self, batch: EpisodeBatch, steps: int, *, batched: bool = True) -> torch.Tensor:
        """Query metric per task after 0..``steps`` adaptation steps: ``[steps + 1, B]``
        (``[1, B]`` for learners that do not adapt by gradient steps)."""

    @abstractmethod
    def predict(
        self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor, steps: int
    ) -> torch.Tensor:
        """Outputs for the query examples of one task after adapting to its support set."""

    def learned_hyperparameters(self) -> dict[str, float]:
        """Hyperparameters the learner itself learns (e.g. inner learning rates per layer)."""
        return {}

    def set_iteration(self, iteration: int) -> None:
        """Told by the trainer before each outer step (for schedules such as MAML++'s)."""
        self.iteration = iteration
