"""Meta-testing: a learner's metric on held-out tasks, mean and 95% confidence interval."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from metagui.core.reports import EvalResult

if TYPE_CHECKING:
    from metagui.core.learners import MetaLearner
    from metagui.core.tasksets import Split, TaskSet

__all__ = ["evaluate", "summarise"]


def summarise(per_task: torch.Tensor, metric: str) -> EvalResult:
    """``per_task`` is ``[steps + 1, N]``; the 95% CI is 1.96 standard errors (normal
    approximation, as in the meta-learning literature)."""
    values = per_task.double()
    n = values.shape[1]
    means = values.mean(1)
    std = values.std(1, unbiased=True) if n > 1 else torch.zeros_like(means)
    ci = 1.96 * std / math.sqrt(n)
    return EvalResult(metric, tuple(means.tolist()), tuple(ci.tolist()), n)


def evaluate(
    learner: MetaLearner,
    taskset: TaskSet,
    split: Split,
    tasks: int,
    steps: int,
    *,
    seed: int,
    device: torch.device,
    batch_size: int = 50,
    batched: bool = True,
) -> EvalResult:
    """Adapt to ``tasks`` fresh tasks of ``split`` (drawn from ``seed``) and measure the query
    metric after 0..``steps`` inner steps: MSE for regression, accuracy for classification."""
    generator = torch.Generator().manual_seed(seed)
    columns = []
    done = 0
    while done < tasks:
        size = min(batch_size, tasks - done)
        batch = taskset.sample(split, size, generator).to(device)
        columns.append(learner.evaluate(batch, steps, batched=batched).cpu())
        done += size
    metric = "mse" if learner.info.kind == "regression" else "accuracy"
    return summarise(torch.cat(columns, dim=1), metric)
