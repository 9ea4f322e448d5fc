"""Gradient-based meta-learners: MAML and its family share one inner loop.

The inner loop runs on a params dict through ``torch.func.functional_call``. In the batched
path every adapted parameter is expanded to one copy per task (``[B, ...]``, no memory copied)
and the forward pass is ``vmap``-ed over tasks; the inner gradient is ordinary autograd of the
*sum* of the per-task losses with respect to those per-task copies. Tasks never interact, so
that gradient is exactly each task's own gradient, and second-order terms come from ordinary
``create_graph`` autograd, not from nested functorch transforms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from metagui.core.learners._base import (
    MetaLearner,
    StepOutput,
    full_precision,
    task_losses,
    task_metrics,
)

if TYPE_CHECKING:
    from metagui.core.tasksets import EpisodeBatch

__all__ = ["GradientLearner", "layer_of"]

Params = dict[str, torch.Tensor]


def layer_of(name: str) -> str:
    """``body.0.weight`` -> ``body.0``: the layer a parameter belongs to."""
    return name.rsplit(".", 1)[0]


def add_grad(param: torch.Tensor, grad: torch.Tensor) -> None:
    if param.grad is None:
        param.grad = grad.detach().clone()
    else:
        param.grad.add_(grad.detach())


class GradientLearner(MetaLearner):
    """MAML (second order, or first order with ``first_order``). Subclasses change which
    parameters adapt (ANIL), the inner learning rates (Meta-SGD, MAML++), the outer loss
    (MAML++'s multi-step loss) or the meta-gradient itself (Reptile)."""

    name = "maml"
    adapts_by_gradient = True

    # --- what subclasses override -------------------------------------------------------------
    @property
    def decoder(self) -> nn.Module:
        """The part of the network that adapts in the inner loop."""
        return self.model

    @property
    def decoder_prefix(self) -> str:
        return ""

    def encode(self, x: torch.Tensor, batched: bool) -> torch.Tensor:
        """Inputs -> what the decoder reads (identity unless only a head adapts)."""
        return x

    def inner_lr(self, name: str, step: int) -> torch.Tensor | float:
        return self.spec.inner_lr

    def step_weights(self, steps: int) -> torch.Tensor | None:
        """Weights of the query loss after each inner step (None: only the last one counts)."""
        return None

    @property
    def first_order(self) -> bool:
        return self.spec.first_order

    # --- shared machinery ---------------------------------------------------------------------
    def _fast_weights(self, batch_size: int | None, detach: bool) -> Params:
        fast: Params = {}
        for name, param in self.decoder.named_parameters():
            p: torch.Tensor = param.detach().requires_grad_() if detach else param
            fast[name] = p if batch_size is None else p.unsqueeze(0).expand(batch_size, *p.shape)
        return fast

    def _forward(
        self, fast: Params, h: torch.Tensor, batched: bool, twice_differentiable: bool = False
    ) -> torch.Tensor:
        return self.call(
            self.decoder,
            fast,
            h,
            batched,
            frozenset(fast) if batched else frozenset(),
            twice_differentiable=twice_differentiable,
        )

    def _inner_step(
        self,
        fast: Params,
        h_s: torch.Tensor,
        y_s: torch.Tensor,
        step: int,
        batched: bool,
        create_graph: bool,
    ) -> Params:
        out = self._forward(fast, h_s, batched, twice_differentiable=create_graph)
        loss = task_losses(out, y_s, self.info.kind).sum()
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=create_graph)
        prefix = self.decoder_prefix
        return {
            name: p - self.inner_lr(prefix + name, step) * g
            for (name, p), g in zip(fast.items(), grads, strict=True)
        }

    def _query_losses(
        self, batch: EpisodeBatch, batched: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outer loss (mean over the tasks given) and the final query outputs."""
        steps = self.spec.inner_steps
        size = len(batch) if batched else None
        h_s = self.encode(batch.x_support, batched)
        h_q = self.encode(batch.x_query, batched)
        fast = self._fast_weights(size, detach=False)
        weights = self.step_weights(steps)
        per_step: list[torch.Tensor] = []
        create_graph = not self.first_order
        for step in range(steps):
            fast = self._inner_step(fast, h_s, batch.y_support, step, batched, create_graph)
            if weights is not None and step < steps - 1:
                out = self._forward(fast, h_q, batched)
                per_step.append(task_losses(out, batch.y_query, self.info.kind))
        out_q = self._forward(fast, h_q, batched)
        final = task_losses(out_q, batch.y_query, self.info.kind)
        if weights is None:
            return final.mean(), out_q
        per_step.append(final)
        return (weights.to(final.dtype) * torch.stack(per_step, 0).mean(-1)).sum(), out_q

    def meta_gradient(
        self, batch: EpisodeBatch, *, batched: bool, scale: float = 1.0
    ) -> StepOutput:
        if batched:
            with self.autocast():
                loss, out_q = self._query_losses(batch, batched=True)
            self.backward(loss * scale)
            return StepOutput(loss.detach(), self._accuracy(out_q, batch.y_query))
        losses, accs = [], []
        n = len(batch)
        for i in range(n):
            task = batch.slice(i, i + 1)
            single = _squeeze(task)
            with self.autocast():
                loss, out_q = self._query_losses(single, batched=False)
            self.backward(loss * (scale / n))
            losses.append(loss.detach())
            accs.append(self._accuracy(out_q, single.y_query))
        return StepOutput(
            torch.stack(losses).mean(),
            None if accs[0] is None else torch.stack(accs).mean(),  # type: ignore[arg-type]
        )

    def _accuracy(self, out_q: torch.Tensor, y_q: torch.Tensor) -> torch.Tensor | None:
        if self.info.kind != "classification":
            return None
        return task_metrics(out_q.detach(), y_q, "classification").mean()

    def _adapted_metrics(self, batch: EpisodeBatch, steps: int, batched: bool) -> torch.Tensor:
        size = len(batch) if batched else None
        with torch.no_grad():
            h_s = self.encode(batch.x_support, batched)
            h_q = self.encode(batch.x_query, batched)
        fast = self._fast_weights(size, detach=True)
        kind = self.info.kind
        with torch.no_grad():
            metrics = [task_metrics(self._forward(fast, h_q, batched), batch.y_query, kind)]
        for step in range(steps):
            with torch.enable_grad():
                fast = self._inner_step(fast, h_s, batch.y_support, step, batched, False)
            fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
            with torch.no_grad():
                metrics.append(task_metrics(self._forward(fast, h_q, batched), batch.y_query, kind))
        return torch.stack(metrics)

    def evaluate(self, batch: EpisodeBatch, steps: int, *, batched: bool = True) -> torch.Tensor:
        with self.autocast():
            if batched:
                return self._adapted_metrics(batch, steps, True)
            columns = [
                self._adapted_metrics(_squeeze(batch.slice(i, i + 1)), steps, False)
                for i in range(len(batch))
            ]
            return torch.stack(columns, dim=-1)

    def predict(
        self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor, steps: int
    ) -> torch.Tensor:
        with torch.no_grad():
            h_s = self.encode(x_support, False)
            h_q = self.encode(x_query, False)
        fast = self._fast_weights(None, detach=True)
        for step in range(steps):
            with torch.enable_grad():
                fast = self._inner_step(fast, h_s, y_support, step, False, False)
            fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
        with torch.no_grad():
            return full_precision(self._forward(fast, h_q, False))


def _squeeze(batch: EpisodeBatch) -> EpisodeBatch:
    """A one-task batch as a single unbatched episode."""
    from metagui.core.tasksets import EpisodeBatch

    return EpisodeBatch(batch.x_support[0], batch.y_support[0], batch.x_query[0], batch.y_query[0])
