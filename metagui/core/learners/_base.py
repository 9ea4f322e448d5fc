"""The interface every meta-learner implements, and what they share: losses and metrics,
the network call (batched over tasks, compiled where exact) and mixed precision.

Mixed precision (``set_precision``): the network runs in the low-precision dtype, inner loop
included (its params and inputs are cast on the way in, see :func:`call_module`), and the
learners' other forward computations under ``torch.autocast``; the parameters, the adapted
(fast) weights, the losses and so the meta-gradients stay fp32, because each cast sends its
gradient back in fp32. With fp16 the outer loss goes through ``loss_scaler`` (a ``GradScaler``)
before ``backward``.

Compilation (``set_compile``): ``call`` runs a network through ``torch.compile`` unless the
pass is differentiated twice (the inner loop of second-order MAML): a compiled graph's
backward cannot itself be differentiated (AOTAutograd refuses), so those passes stay eager.
A compiled function traced inside ``vmap`` falls back to eager, so the whole vmapped call is
what gets compiled.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

if TYPE_CHECKING:
    from metagui.core.models import MetaModel
    from metagui.core.spec import AlgorithmSpec, ModelSpec
    from metagui.core.tasksets import EpisodeBatch, TaskInfo

__all__ = [
    "LOW_PRECISION",
    "MetaLearner",
    "StepOutput",
    "call_module",
    "full_precision",
    "task_losses",
    "task_metrics",
]

#: The low-precision dtypes a network may run in; losses, metrics and prototypes are taken in
#: fp32 from its outputs.
LOW_PRECISION = (torch.float16, torch.bfloat16)

# One compiled network call meets support and query shapes, evaluation chunks, grad and
# no-grad mode, and expanded (stride 0) as well as adapted weights: more variants than
# dynamo's default of 8 per function, past which it silently runs eager.
_RECOMPILE_LIMIT = 64
_NON_LEAF_GRAD = "The .grad attribute of a Tensor that is not a leaf Tensor"


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in fp32 when it was computed in a low-precision dtype (else unchanged)."""
    return t.float() if t.dtype in LOW_PRECISION else t


def call_module(
    module: nn.Module,
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    batched: bool,
    per_task: frozenset[str],
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``module`` applied with ``params`` to ``x``; when ``batched``, ``x`` has a leading task
    dimension, and so do the params named in ``per_task`` (the others are shared). ``dtype``:
    the float params and inputs are cast to it (differentiably: their gradients come back in
    their own dtype), so the whole network runs in it."""
    if dtype is not None:
        # Explicit, because autocast does not reach convolutions and linear layers inside
        # vmap (their batching rules dispatch below it): both paths then compute alike.
        params = {k: v.to(dtype) if v.is_floating_point() else v for k, v in params.items()}
        x = x.to(dtype) if x.is_floating_point() else x
    params = dict(params)
    if not batched:
        return functional_call(module, params, (x,))
    in_dims = {name: (0 if name in per_task else None) for name in params}

    def one_task(p: dict[str, torch.Tensor], xx: torch.Tensor) -> torch.Tensor:
        return functional_call(module, p, (xx,))

    return vmap(one_task, in_dims=(in_dims, 0))(params, x)


@dataclass
class StepOutput:
    """What one meta-gradient computation measured, as detached tensors (no host sync)."""

    loss: torch.Tensor
    accuracy: torch.Tensor | None = None


def task_losses(outputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss of each task: outputs ``[B, S, out]`` and targets ``[B, S(, 1)]`` -> ``[B]``.

    Unbatched inputs (``[S, out]``) give a 0-d tensor."""
    outputs = full_precision(outputs)
    if kind == "regression":
        return ((outputs - targets) ** 2).flatten(-2).mean(-1)
    per_example = F.cross_entropy(
        outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), reduction="none"
    )
    return per_example.view(targets.shape).mean(-1)


def task_metrics(outputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """The reported metric of each task: MSE for regression, accuracy for classification."""
    outputs = full_precision(outputs)
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
        self._autocast: tuple[str, torch.dtype] | None = None
        #: fp16: scales a loss before ``backward`` (``GradScaler.scale``); None: no scaling.
        self.loss_scaler: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._compile_backend: str | None = None
        self._compiled: dict[nn.Module, Callable[..., torch.Tensor]] = {}

    @classmethod
    def build_model(cls, model_spec: ModelSpec, info: TaskInfo) -> MetaModel:
        """The network this learner trains (with a classifier head by default)."""
        from metagui.core.models import build_model

        return build_model(model_spec, info, head=True)

    @property
    def supports_batched(self) -> bool:
        return True

    @property
    def backpropagates(self) -> bool:
        """Whether the meta-gradient comes from ``backward`` of a loss (Reptile's does not),
        so that a loss scale applies to it."""
        return True

    def set_precision(self, device_type: str, dtype: torch.dtype | None) -> None:
        """Run the network in ``dtype`` and the rest of the forward passes under autocast to
        it on ``device_type`` (None: all in fp32)."""
        self._autocast = None if dtype is None else (device_type, dtype)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The autocast context of the forward passes (none in fp32)."""
        if self._autocast is None:
            return contextlib.nullcontext()
        device_type, dtype = self._autocast
        return torch.autocast(device_type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, through the loss scaler where there is one."""
        (loss if self.loss_scaler is None else self.loss_scaler(loss)).backward()

    def set_compile(self, backend: str | None) -> None:
        """Compile the network calls that allow it with ``backend`` (None: run eagerly)."""
        if backend is not None:
            import torch._dynamo

            config = torch._dynamo.config
            # ``recompile_limit`` since torch 2.7; ``cache_size_limit`` before it.
            name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
            setattr(config, name, max(getattr(config, name), _RECOMPILE_LIMIT))
            # Dynamo reads ``.grad`` of every tensor input while tracing, adapted weights
            # included: a warning about its internals, not about this code. Installed once
            # (process-wide), not entered around every call of a training step.
            warnings.filterwarnings("ignore", _NON_LEAF_GRAD, UserWarning)
        self._compile_backend = backend
        self._compiled = {}

    def call(
        self,
        module: nn.Module,
        params: Mapping[str, torch.Tensor],
        x: torch.Tensor,
        batched: bool,
        per_task: frozenset[str] = frozenset(),
        *,
        twice_differentiable: bool = False,
    ) -> torch.Tensor:
        """:func:`call_module`, compiled when compilation is on and the pass allows it: not
        ``twice_differentiable`` (its backward is itself differentiated)."""
        dtype = None if self._autocast is None else self._autocast[1]
        if self._compile_backend is None or twice_differentiable:
            return call_module(module, params, x, batched, per_task, dtype)
        compiled = self._compiled.get(module)
        if compiled is None:
            compiled = torch.compile(
                functools.partial(call_module, module), backend=self._compile_backend
            )
            self._compiled[module] = compiled
        return compiled(params, x, batched, per_task, dtype)

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
