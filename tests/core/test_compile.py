"""``training.compile``: the compiled network calls give the eager meta-gradient.

One small case, because compiling takes tens of seconds on a CPU: second-order MAML, batched,
in float64. Second order is the demanding case: the query pass is compiled, the inner loop's
passes, whose backward is differentiated again, stay eager (a compiled graph refuses double
backward). The backend is inductor, what training uses, where a C++ compiler is at hand (this
machine has one: about 30 s); without one, ``aot_eager``: the same capture by dynamo and the
same AOTAutograd forward and backward graphs, run without generated code.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from metagui.core.learners import build_learner
from metagui.core.spec import AlgorithmSpec, ModelSpec
from metagui.core.tasksets import EpisodeBatch, TaskInfo

REGRESSION = TaskInfo(kind="regression", input_shape=(1,), output_dim=1)


def _batch(tasks: int = 4, k: int = 5, q: int = 6) -> EpisodeBatch:
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(tasks, k, 1, generator=g, dtype=torch.float64) * 10 - 5
    xq = torch.rand(tasks, q, 1, generator=g, dtype=torch.float64) * 10 - 5
    amp = torch.rand(tasks, 1, 1, generator=g, dtype=torch.float64) * 4 + 1
    return EpisodeBatch(xs, amp * torch.sin(xs), xq, amp * torch.sin(xq))


BACKEND = "inductor" if shutil.which("c++") else "aot_eager"


# Inductor imports torch.utils.mkldnn, whose TorchScript classes warn at import (torch's own).
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_and_eager_meta_gradients_agree() -> None:
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    learner = build_learner(
        AlgorithmSpec(name="maml", inner_lr=0.1, inner_steps=2),
        ModelSpec(kind="mlp", hidden_sizes=[16, 16], activation="tanh"),
        REGRESSION,
    ).double()
    batch = _batch()

    def meta_grad() -> dict[str, torch.Tensor]:
        learner.zero_grad(set_to_none=True)
        learner.meta_gradient(batch, batched=True)
        return {n: p.grad.clone() for n, p in learner.named_parameters() if p.grad is not None}

    eager = meta_grad()
    eager_metrics = learner.evaluate(batch, 2, batched=True)
    graphs_before = counters["stats"]["unique_graphs"]
    learner.set_compile(BACKEND)
    compiled = meta_grad()
    assert counters["stats"]["unique_graphs"] > graphs_before, "nothing was compiled"
    assert compiled.keys() == eager.keys() and len(compiled) == 6
    for name in eager:
        # float64 throughout: only the order of the compiled kernels' sums differs.
        torch.testing.assert_close(compiled[name], eager[name], rtol=1e-10, atol=1e-12, msg=name)
    # Evaluation (inner steps without a second-order graph: compiled too) agrees as well.
    torch.testing.assert_close(learner.evaluate(batch, 2, batched=True), eager_metrics)
    # The learner's state is its own: the compiled calls add nothing to a checkpoint.
    assert all("_orig_mod" not in key for key in learner.state_dict())
