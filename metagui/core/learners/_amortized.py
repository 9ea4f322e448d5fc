"""Learners that adapt by a forward pass over the support set instead of gradient steps:
prototypical networks here, the conditional neural process in ``_cnp.py``."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from metagui.core.learners._base import (
    MetaLearner,
    StepOutput,
    full_precision,
    task_losses,
    task_metrics,
)
from metagui.core.learners._gradient import _squeeze

if TYPE_CHECKING:
    from metagui.core.models import MetaModel
    from metagui.core.spec import AlgorithmSpec, ModelSpec
    from metagui.core.tasksets import EpisodeBatch, TaskInfo

__all__ = ["AmortizedLearner", "ProtoNet", "prototype_logits"]


class AmortizedLearner(MetaLearner):
    """A learner whose adaptation is a function of the support set: ``outputs`` maps an episode
    (batched ``[B, ...]`` or a single task) to query predictions and per-task training losses."""

    @abstractmethod
    def outputs(
        self,
        x_s: torch.Tensor,
        y_s: torch.Tensor,
        x_q: torch.Tensor,
        y_q: torch.Tensor | None,
        batched: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Query predictions (logits or regression means) and, given ``y_q``, the loss per task."""

    def _run(self, batch: EpisodeBatch, batched: bool) -> tuple[torch.Tensor, torch.Tensor]:
        pred, loss = self.outputs(
            batch.x_support, batch.y_support, batch.x_query, batch.y_query, batched
        )
        assert loss is not None
        return pred, loss

    def meta_gradient(
        self, batch: EpisodeBatch, *, batched: bool, scale: float = 1.0
    ) -> StepOutput:
        kind = self.info.kind
        if batched:
            with self.autocast():
                pred, losses = self._run(batch, True)
            loss = losses.mean()
            self.backward(loss * scale)
            acc = (
                task_metrics(pred.detach(), batch.y_query, kind).mean()
                if kind == "classification"
                else None
            )
            return StepOutput(loss.detach(), acc)
        n = len(batch)
        all_losses, accs = [], []
        for i in range(n):
            task = _squeeze(batch.slice(i, i + 1))
            with self.autocast():
                pred, loss = self._run(task, False)
            self.backward(loss * (scale / n))
            all_losses.append(loss.detach())
            if kind == "classification":
                accs.append(task_metrics(pred.detach(), task.y_query, kind))
        return StepOutput(
            torch.stack(all_losses).mean(), torch.stack(accs).mean() if accs else None
        )

    def evaluate(self, batch: EpisodeBatch, steps: int, *, batched: bool = True) -> torch.Tensor:
        with torch.no_grad(), self.autocast():
            if batched:
                pred, _ = self._run(batch, True)
            else:
                pred = torch.stack(
                    [
                        self._run(_squeeze(batch.slice(i, i + 1)), False)[0]
                        for i in range(len(batch))
                    ]
                )
            return task_metrics(pred, batch.y_query, self.info.kind).unsqueeze(0)

    def predict(
        self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor, steps: int
    ) -> torch.Tensor:
        with torch.no_grad(), self.autocast():
            return full_precision(self.outputs(x_support, y_support, x_query, None, False)[0])


def prototype_logits(
    support: torch.Tensor, y_support: torch.Tensor, query: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """``-||q - c_k||^2`` for every query and class prototype ``c_k`` (the mean embedding of
    class k's support examples). Works on one task (``[S, D]``) or a batch (``[B, S, D]``)."""
    onehot = F.one_hot(y_support, n_classes).to(support.dtype)  # [.., S, N]
    counts = onehot.sum(-2).clamp_min(1.0).unsqueeze(-1)  # [.., N, 1]
    prototypes = onehot.transpose(-1, -2) @ support / counts  # [.., N, D]
    sq = (query.unsqueeze(-2) - prototypes.unsqueeze(-3)).pow(2).sum(-1)  # [.., Q, N]
    return -sq


class ProtoNet(AmortizedLearner):
    """Prototypical networks (Snell et al. 2017)."""

    name = "protonet"

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        if info.kind != "classification":
            raise ValueError("algorithm.name: protonet needs a classification task set")
        super().__init__(model, spec, info)

    @classmethod
    def build_model(cls, model_spec: ModelSpec, info: TaskInfo) -> MetaModel:
        from metagui.core.models import build_model

        return build_model(model_spec, info, head=False)

    def outputs(
        self,
        x_s: torch.Tensor,
        y_s: torch.Tensor,
        x_q: torch.Tensor,
        y_q: torch.Tensor | None,
        batched: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        params = dict(self.model.named_parameters())
        # Each task's examples go through the network together, so normalisation statistics
        # are per task in the batched path exactly as in the per-task loop.
        emb_s = self.call(self.model, params, x_s, batched)
        emb_q = self.call(self.model, params, x_q, batched)
        n_classes = max(self.info.output_dim, int(y_s.max()) + 1)
        # Distances between nearby prototypes are small differences of large sums: in fp32
        # even under autocast (cheap next to the embedding network).
        with torch.autocast(emb_s.device.type, enabled=False):
            logits = prototype_logits(full_precision(emb_s), y_s, full_precision(emb_q), n_classes)
        loss = None if y_q is None else task_losses(logits, y_q, "classification")
        return logits, loss
