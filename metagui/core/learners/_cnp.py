"""Conditional neural process (Garnelo et al. 2018), the model-based learner.

Regression: an encoder maps each support pair ``(x, y)`` to a representation, their mean ``r``
conditions a decoder that predicts a Gaussian ``(mu, sigma)`` at each query ``x``; trained by
negative log-likelihood, reported as the MSE of ``mu``.

Classification: the feature network embeds every example; each class's representation
``r_c`` is the mean of an encoder over its support embeddings, and the decoder scores each
query against each ``r_c``. Scores are per class, so the learner is equivariant to how the
classes of an episode are numbered and works for any number of ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from metagui.core.learners._amortized import AmortizedLearner
from metagui.core.learners._base import full_precision, task_losses

if TYPE_CHECKING:
    from metagui.core.models import MetaModel
    from metagui.core.spec import AlgorithmSpec, ModelSpec
    from metagui.core.tasksets import TaskInfo

__all__ = ["CNP"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CNP(AmortizedLearner):
    name = "cnp"

    def __init__(self, model: MetaModel, spec: AlgorithmSpec, info: TaskInfo) -> None:
        super().__init__(model, spec, info)
        h = spec.cnp_hidden
        width = model.out_features
        if info.kind == "regression":
            self.encoder = _mlp([width + 1, h, h, h])
            self.decoder = _mlp([width + h, h, h, 2])
        else:
            self.encoder = _mlp([width, h, h])
            self.decoder = _mlp([width + h, h, 1])

    @classmethod
    def build_model(cls, model_spec: ModelSpec, info: TaskInfo) -> MetaModel:
        """The feature network: the chosen architecture without its head (an identity-like
        MLP of the given hidden sizes for regression inputs)."""
        from metagui.core.models import build_model

        return build_model(model_spec, info, head=False)

    def _embed(self, x: torch.Tensor, batched: bool) -> torch.Tensor:
        return self.call(self.model, dict(self.model.named_parameters()), x, batched)

    def outputs(
        self,
        x_s: torch.Tensor,
        y_s: torch.Tensor,
        x_q: torch.Tensor,
        y_q: torch.Tensor | None,
        batched: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        e_s = self._embed(x_s, batched)
        e_q = self._embed(x_q, batched)
        if self.info.kind == "regression":
            return self._regress(e_s, y_s, e_q, y_q)
        return self._classify(e_s, y_s, e_q, y_q)

    def _regress(
        self, e_s: torch.Tensor, y_s: torch.Tensor, e_q: torch.Tensor, y_q: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        r = self.encoder(torch.cat([e_s, y_s], -1)).mean(-2, keepdim=True)  # [.., 1, h]
        out = self.decoder(torch.cat([e_q, r.expand(*e_q.shape[:-1], r.shape[-1])], -1))
        out = full_precision(out)  # the likelihood in fp32 under autocast
        mu, raw_sigma = out[..., :1], out[..., 1:]
        sigma = 0.1 + 0.9 * F.softplus(raw_sigma)
        if y_q is None:
            return mu, None
        nll = (torch.log(sigma) + 0.5 * ((y_q - mu) / sigma) ** 2).flatten(-2).mean(-1)
        return mu, nll

    def _classify(
        self, e_s: torch.Tensor, y_s: torch.Tensor, e_q: torch.Tensor, y_q: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n_classes = max(self.info.output_dim, int(y_s.max()) + 1)
        onehot = F.one_hot(y_s, n_classes).to(e_s.dtype)  # [.., S, N]
        counts = onehot.sum(-2).clamp_min(1.0).unsqueeze(-1)
        r = onehot.transpose(-1, -2) @ self.encoder(e_s) / counts  # [.., N, h]
        q = e_q.unsqueeze(-2).expand(*e_q.shape[:-1], n_classes, e_q.shape[-1])
        pairs = torch.cat([q, r.unsqueeze(-3).expand(*q.shape[:-1], r.shape[-1])], -1)
        logits = self.decoder(pairs).squeeze(-1)  # [.., Q, N]
        loss = None if y_q is None else task_losses(logits, y_q, "classification")
        return logits, loss
