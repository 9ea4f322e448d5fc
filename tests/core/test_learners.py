"""Correctness oracles for every meta-learner: the batched path against the per-task loop,
meta-gradients against central finite differences in float64, and each algorithm against a
direct, independent computation of its definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metagui.core.learners import LEARNERS, MAMLPlusPlus, build_learner, prototype_logits
from metagui.core.spec import ALGORITHMS, AlgorithmSpec, ModelSpec
from metagui.core.tasksets import EpisodeBatch, TaskInfo

REGRESSION = TaskInfo(kind="regression", input_shape=(1,), output_dim=1)
IMAGES = TaskInfo(kind="classification", input_shape=(1, 16, 16), output_dim=3)
TEXT = TaskInfo(
    kind="classification", input_shape=(12,), output_dim=3, input_dtype="long", vocab_size=50
)
NORMS = ("none", "batch", "group", "layer")


def regression_batch(tasks: int = 3, k: int = 5, q: int = 6, seed: int = 0) -> EpisodeBatch:
    g = torch.Generator().manual_seed(seed)
    xs = torch.rand(tasks, k, 1, generator=g, dtype=torch.float64) * 10 - 5
    xq = torch.rand(tasks, q, 1, generator=g, dtype=torch.float64) * 10 - 5
    amp = torch.rand(tasks, 1, 1, generator=g, dtype=torch.float64) * 4 + 1
    return EpisodeBatch(xs, amp * torch.sin(xs), xq, amp * torch.sin(xq))


def classification_batch(
    info: TaskInfo, tasks: int = 3, k: int = 2, q: int = 2, seed: int = 0
) -> EpisodeBatch:
    g = torch.Generator().manual_seed(seed)
    n = info.output_dim
    ys = torch.arange(n).repeat_interleave(k).expand(tasks, -1).contiguous()
    yq = torch.arange(n).repeat_interleave(q).expand(tasks, -1).contiguous()
    if info.input_dtype == "long":
        xs = torch.randint(0, info.vocab_size, (tasks, n * k, *info.input_shape), generator=g)
        xq = torch.randint(0, info.vocab_size, (tasks, n * q, *info.input_shape), generator=g)
    else:
        xs = torch.randn(tasks, n * k, *info.input_shape, generator=g, dtype=torch.float64)
        xq = torch.randn(tasks, n * q, *info.input_shape, generator=g, dtype=torch.float64)
    return EpisodeBatch(xs, ys, xq, yq)


def make(name: str, info: TaskInfo, norm: str = "none", **algo: object) -> torch.nn.Module:
    torch.manual_seed(0)
    defaults: dict[str, object] = {"inner_steps": 2, "inner_lr": 0.1, "cnp_hidden": 8}
    defaults.update(algo)
    model = ModelSpec(
        hidden_sizes=[8, 8], activation="tanh", filters=4, norm=norm, groups=2, embed_dim=6
    )
    return build_learner(AlgorithmSpec(name=name, **defaults), model, info).double()


def meta_grad(
    learner: torch.nn.Module, batch: EpisodeBatch, batched: bool
) -> dict[str, torch.Tensor]:
    learner.zero_grad(set_to_none=True)
    learner.meta_gradient(batch, batched=batched)
    return {n: p.grad.clone() for n, p in learner.named_parameters() if p.grad is not None}


CASES = (
    [(name, REGRESSION, "none") for name in ALGORITHMS if name != "protonet"]
    + [(name, IMAGES, norm) for name in ALGORITHMS for norm in NORMS]
    + [(name, TEXT, "none") for name in ("maml", "anil", "protonet", "cnp")]
)


@pytest.mark.parametrize(("name", "info", "norm"), CASES, ids=lambda v: getattr(v, "kind", v))
def test_batched_path_matches_per_task_loop(name: str, info: TaskInfo, norm: str) -> None:
    learner = make(name, info, norm, msl_iterations=10)
    batch = regression_batch() if info.kind == "regression" else classification_batch(info)
    loop = meta_grad(learner, batch, batched=False)
    batched = meta_grad(learner, batch, batched=True)
    assert loop.keys() == batched.keys()
    assert len(loop) == len([p for p in learner.parameters()]) or name == "reptile"
    assert any(g.abs().max() > 1e-9 for g in loop.values()), "a zero gradient proves nothing"
    for key in loop:
        torch.testing.assert_close(batched[key], loop[key], rtol=1e-9, atol=1e-11, msg=key)
    steps = 2 if learner.adapts_by_gradient else 0
    torch.testing.assert_close(
        learner.evaluate(batch, steps, batched=True), learner.evaluate(batch, steps, batched=False)
    )


def test_every_algorithm_is_registered() -> None:
    assert set(LEARNERS) == set(ALGORITHMS)


# --- MAML: an independent reference and finite differences ------------------------------------


def reference_maml_loss(
    model: torch.nn.Module,
    params: dict[str, torch.Tensor],
    batch: EpisodeBatch,
    lr: float,
    steps: int,
    kind: str,
) -> torch.Tensor:
    """MAML's meta-objective written out plainly, one task at a time."""

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (x,))
        return F.mse_loss(out, y) if kind == "regression" else F.cross_entropy(out, y)

    total = torch.zeros((), dtype=torch.float64)
    for i in range(len(batch)):
        fast = dict(params)
        for _ in range(steps):
            grads = torch.autograd.grad(
                loss(fast, batch.x_support[i], batch.y_support[i]),
                list(fast.values()),
                create_graph=True,
            )
            fast = {n: p - lr * g for (n, p), g in zip(fast.items(), grads, strict=True)}
        total = total + loss(fast, batch.x_query[i], batch.y_query[i])
    return total / len(batch)


# ReLU and max-pooling make the conv net piecewise smooth; a step of 1e-7 in float64 stays clear
# of the nearest kink for these seeds while rounding error stays ~1e-9.
def directional_fd(
    f, params: dict[str, torch.Tensor], direction: dict[str, torch.Tensor], eps: float
) -> float:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        plus = {n: p + eps * direction[n] for n, p in params.items()}
        minus = {n: p - eps * direction[n] for n, p in params.items()}
    return float((f(plus) - f(minus)) / (2 * eps))


@pytest.mark.parametrize(
    ("info", "norm"), [(REGRESSION, "none"), (IMAGES, "none"), (IMAGES, "group"), (IMAGES, "batch")]
)
@pytest.mark.parametrize("batched", [True, False])
def test_maml_meta_gradient_matches_finite_differences(
    info: TaskInfo, norm: str, batched: bool
) -> None:
    learner = make("maml", info, norm, inner_steps=2, inner_lr=0.05)
    batch = regression_batch() if info.kind == "regression" else classification_batch(info)
    grads = meta_grad(learner, batch, batched=batched)
    params = {n: p.detach() for n, p in learner.model.named_parameters()}

    def objective(p: dict[str, torch.Tensor]) -> torch.Tensor:
        leaves = {n: v.clone().requires_grad_() for n, v in p.items()}
        return reference_maml_loss(learner.model, leaves, batch, 0.05, 2, info.kind).detach()

    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        direction = {
            n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()
        }
        analytic = sum(float((grads["model." + n] * direction[n]).sum()) for n in params)
        numeric = directional_fd(objective, params, direction, 1e-7)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_first_order_gradient_differs_from_second_order() -> None:
    """A guard on the oracle above: dropping second-order terms must be detectable."""
    batch = regression_batch()
    full = meta_grad(make("maml", REGRESSION), batch, batched=True)
    first = meta_grad(make("maml", REGRESSION, first_order=True), batch, batched=True)
    assert max(float((full[k] - first[k]).abs().max()) for k in full) > 1e-4


@pytest.mark.parametrize("name", ["fomaml", "maml"])
def test_first_order_variants_follow_their_definition(name: str) -> None:
    """FOMAML's meta-gradient is the query-loss gradient at the adapted weights."""
    learner = make(name, REGRESSION, first_order=True)
    batch = regression_batch()
    grads = meta_grad(learner, batch, batched=True)
    model = learner.model
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(len(batch)):
        fast = {n: p.detach().clone() for n, p in model.named_parameters()}
        for _ in range(2):
            fast = {n: v.requires_grad_() for n, v in fast.items()}
            loss = F.mse_loss(
                functional_call(model, fast, (batch.x_support[i],)), batch.y_support[i]
            )
            g = torch.autograd.grad(loss, list(fast.values()))
            fast = {n: (v - 0.1 * gi).detach() for (n, v), gi in zip(fast.items(), g, strict=True)}
        fast = {n: v.requires_grad_() for n, v in fast.items()}
        loss = F.mse_loss(functional_call(model, fast, (batch.x_query[i],)), batch.y_query[i])
        for (n, _), gi in zip(
            fast.items(), torch.autograd.grad(loss, list(fast.values())), strict=True
        ):
            expected[n] += gi / len(batch)
    for n in expected:
        torch.testing.assert_close(grads["model." + n], expected[n])


def test_reptile_gradient_is_initialisation_minus_mean_adapted_weights() -> None:
    learner = make("reptile", REGRESSION, inner_steps=3)
    batch = regression_batch()
    grads = meta_grad(learner, batch, batched=True)
    model = learner.model
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    adapted = []
    for i in range(len(batch)):
        fast = dict(theta)
        for _ in range(3):
            fast = {n: v.requires_grad_() for n, v in fast.items()}
            loss = F.mse_loss(
                functional_call(model, fast, (batch.x_support[i],)), batch.y_support[i]
            )
            g = torch.autograd.grad(loss, list(fast.values()))
            fast = {n: (v - 0.1 * gi).detach() for (n, v), gi in zip(fast.items(), g, strict=True)}
        adapted.append(fast)
    for n, t in theta.items():
        expected = t - torch.stack([a[n] for a in adapted]).mean(0)
        torch.testing.assert_close(grads["model." + n], expected)


@pytest.mark.parametrize("name", ["metasgd", "mamlpp", "anil"])
def test_learned_rate_and_head_only_gradients_match_finite_differences(name: str) -> None:
    """Meta-gradients with respect to every parameter, learned inner learning rates included."""
    learner = make(name, REGRESSION, inner_steps=2, inner_lr=0.05, msl_iterations=100)
    batch = regression_batch()
    grads = meta_grad(learner, batch, batched=True)
    names = [n for n, _ in learner.named_parameters()]
    params = {n: p.detach().clone() for n, p in learner.named_parameters()}

    def objective(p: dict[str, torch.Tensor]) -> torch.Tensor:
        saved = {n: q.detach().clone() for n, q in learner.named_parameters()}
        with torch.no_grad():
            for n, q in learner.named_parameters():
                q.copy_(p[n])
        loss, _ = learner._query_losses(batch, batched=True)
        with torch.no_grad():
            for n, q in learner.named_parameters():
                q.copy_(saved[n])
        return loss.detach()

    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        direction = {
            n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()
        }
        analytic = sum(float((grads[n] * direction[n]).sum()) for n in names if n in grads)
        numeric = directional_fd(objective, params, direction, 1e-7)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7)
    if name == "anil":
        body = [n for n in names if n.startswith("model.body")]
        assert all(n in grads for n in body), "ANIL still meta-trains the body"
    else:
        assert any(n.startswith("inner_lrs") and grads[n].abs().max() > 0 for n in grads)


def test_anil_adapts_only_the_head() -> None:
    learner = make("anil", REGRESSION, inner_steps=1)
    batch = regression_batch(tasks=1)
    before = learner.evaluate(batch, 0)
    after = learner.evaluate(batch, 1)
    assert not torch.equal(before, after)
    fast = learner._fast_weights(None, detach=True)
    assert set(fast) == {"weight", "bias"}


def test_mamlpp_multi_step_loss_weights_anneal_to_the_last_step() -> None:
    learner = make("mamlpp", REGRESSION, inner_steps=4, msl_iterations=100)
    assert isinstance(learner, MAMLPlusPlus)
    learner.set_iteration(0)
    start = learner.step_weights(4)
    assert start is not None
    torch.testing.assert_close(start, torch.full((4,), 0.25))
    learner.set_iteration(50)
    middle = learner.step_weights(4)
    assert middle is not None and float(middle.sum()) == pytest.approx(1.0)
    assert float(middle[-1]) > 0.25 > float(middle[0])
    learner.set_iteration(100)
    assert learner.step_weights(4) is None
    hyper = learner.learned_hyperparameters()
    assert "inner_lr/body.0/step4" in hyper and hyper["inner_lr/body.0/step1"] == pytest.approx(0.1)


def test_protonet_logits_match_a_direct_computation() -> None:
    learner = make("protonet", IMAGES, "none")
    batch = classification_batch(IMAGES, tasks=2, k=3, q=2)
    for i in range(len(batch)):
        with torch.no_grad():
            emb_s = learner.model(batch.x_support[i])
            emb_q = learner.model(batch.x_query[i])
        logits = prototype_logits(emb_s, batch.y_support[i], emb_q, 3)
        for qi in range(emb_q.shape[0]):
            for c in range(3):
                proto = emb_s[batch.y_support[i] == c].mean(0)
                expected = -((emb_q[qi] - proto) ** 2).sum()
                assert float(logits[qi, c]) == pytest.approx(float(expected), rel=1e-9)
        out = learner.predict(batch.x_support[i], batch.y_support[i], batch.x_query[i], 0)
        torch.testing.assert_close(out, logits)


def test_metasgd_reports_learned_rates_per_layer_and_they_move() -> None:
    learner = make("metasgd", REGRESSION)
    before = learner.learned_hyperparameters()
    assert set(before) == {"inner_lr/body.0", "inner_lr/body.2", "inner_lr/head"}
    optimizer = torch.optim.SGD(learner.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        learner.meta_gradient(regression_batch(), batched=True)
        optimizer.step()
    after = learner.learned_hyperparameters()
    assert any(abs(after[k] - before[k]) > 1e-6 for k in before)
