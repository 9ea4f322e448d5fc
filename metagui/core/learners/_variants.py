"""The MAML family's variants: first-order MAML, ANIL, Meta-SGD, MAML++ and Reptile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from metagui.core.learners._base import StepOutput, task_losses
from metagui.core.learners._gradient import GradientLearner, _squeeze, add_grad, layer_of

if TYPE_CHECKING:
    from metagui.core.models import MetaModel
    from metagui.core.spec import AlgorithmSpec
    from metagui.core.tasksets import EpisodeBatch, TaskInfo

__all__ = ["ANIL", "FOMAML", "MAMLPlusPlus", "MetaSGD", "Reptile"]


def _key(name: str) -> str:
    # ParameterDict keys may not contain dots.
    return name.replace(".", "__")


class FOMAML(GradientLearner):
    """First-order MAML: the meta-gradient is the query-loss gradient at the adapted weights."""

    name = "fomaml"

    @property
    def first_order(self) -> bool:
        return True


class ANIL(GradientLearner):
    """Almost No Inner Loop (Raghu et al. 2020): only the head adapts; the body's features are
    computed once per episode and shared by every inner step."""

    name = "anil"

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        super().__init__(model, spec, info)
        if not model.head_prefix:
            raise ValueError("algorithm.name: anil needs a network with a head")

    @property
    def decoder(self) -> nn.Module:
        head: nn.Module = self.model.head  # type: ignore[assignment]
        return head

    @property
    def decoder_prefix(self) -> str:
        return self.model.head_prefix

    def encode(self, x: torch.Tensor, batched: bool) -> torch.Tensor:
        body: nn.Module = self.model.body  # type: ignore[assignment]
        # The body is differentiated once even in second-order ANIL: the inner gradient is
        # taken with respect to the head only.
        return self.call(body, dict(body.named_parameters()), x, batched)


class MetaSGD(GradientLearner):
    """Meta-SGD (Li et al. 2017): a learned inner learning rate for every parameter element."""

    name = "metasgd"

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        super().__init__(model, spec, info)
        self.inner_lrs = nn.ParameterDict(
            {
                _key(n): nn.Parameter(torch.full_like(p, spec.inner_lr))
                for n, p in model.named_parameters()
            }
        )

    def inner_lr(self, name: str, step: int) -> torch.Tensor:
        return self.inner_lrs[_key(name)]

    def learned_hyperparameters(self) -> dict[str, float]:
        sums: dict[str, list[torch.Tensor]] = {}
        for name, _ in self.model.named_parameters():
            sums.setdefault(layer_of(name), []).append(
                self.inner_lrs[_key(name)].detach().flatten()
            )
        return {f"inner_lr/{layer}": float(torch.cat(v).mean()) for layer, v in sums.items()}


class MAMLPlusPlus(GradientLearner):
    """MAML++ (Antoniou et al. 2019): learned per-layer, per-step inner learning rates and the
    multi-step loss, whose weights anneal from uniform to the last step over
    ``msl_iterations`` outer iterations."""

    name = "mamlpp"

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        super().__init__(model, spec, info)
        self.inner_lrs = nn.ParameterDict(
            {
                _key(n): nn.Parameter(torch.full((spec.inner_steps,), spec.inner_lr))
                for n, _ in model.named_parameters()
            }
        )

    def inner_lr(self, name: str, step: int) -> torch.Tensor:
        lrs = self.inner_lrs[_key(name)]
        return lrs[min(step, lrs.shape[0] - 1)]

    def step_weights(self, steps: int) -> torch.Tensor | None:
        """Antoniou et al.'s annealing: non-final weights decay linearly from 1/N to a floor
        of 0.03/N; the final weight takes up the rest."""
        total = self.spec.msl_iterations
        if steps < 2 or total <= 0 or self.iteration >= total:
            return None
        progress = self.iteration / total
        base = 1.0 / steps
        floor = 0.03 / steps
        weights = torch.full((steps,), max(base - progress * (base - floor), floor))
        weights[-1] = 1.0 - weights[:-1].sum()
        return weights

    def learned_hyperparameters(self) -> dict[str, float]:
        sums: dict[str, list[torch.Tensor]] = {}
        for name, _ in self.model.named_parameters():
            sums.setdefault(layer_of(name), []).append(self.inner_lrs[_key(name)].detach())
        out: dict[str, float] = {}
        for layer, values in sums.items():
            per_step = torch.stack(values).mean(0)
            for step, value in enumerate(per_step.tolist()):
                out[f"inner_lr/{layer}/step{step + 1}"] = value
        return out


class Reptile(GradientLearner):
    """Reptile (Nichol et al. 2018): adapt to each task with plain SGD, then move the
    initialisation towards the adapted weights; the meta-gradient is ``theta - mean(phi)``."""

    name = "reptile"

    @property
    def backpropagates(self) -> bool:
        return False

    def meta_gradient(
        self, batch: EpisodeBatch, *, batched: bool, scale: float = 1.0
    ) -> StepOutput:
        if batched:
            with self.autocast():
                fast, loss, acc = self._adapt_and_measure(batch, True)
            for name, p in self.decoder.named_parameters():
                add_grad(p, scale * (p.detach() - fast[name].mean(0)))
            return StepOutput(loss, acc)
        n = len(batch)
        losses, accs = [], []
        for i in range(n):
            with self.autocast():
                fast, loss, acc = self._adapt_and_measure(_squeeze(batch.slice(i, i + 1)), False)
            for name, p in self.decoder.named_parameters():
                add_grad(p, (scale / n) * (p.detach() - fast[name]))
            losses.append(loss)
            accs.append(acc)
        mean_acc = None if accs[0] is None else torch.stack(accs).mean()  # type: ignore[arg-type]
        return StepOutput(torch.stack(losses).mean(), mean_acc)

    def _adapt_and_measure(
        self, batch: EpisodeBatch, batched: bool
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        fast = self._fast_weights(len(batch) if batched else None, detach=True)
        for step in range(self.spec.inner_steps):
            with torch.enable_grad():
                fast = self._inner_step(
                    fast, batch.x_support, batch.y_support, step, batched, False
                )
            fast = {k: v.detach().requires_grad_() for k, v in fast.items()}
        with torch.no_grad():
            out_q = self._forward(fast, batch.x_query, batched)
            loss = task_losses(out_q, batch.y_query, self.info.kind).mean()
        fast = {k: v.detach() for k, v in fast.items()}
        return fast, loss, self._accuracy(out_q, batch.y_query)
