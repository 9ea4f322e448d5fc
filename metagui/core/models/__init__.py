"""Networks for meta-learning. Each is a plain ``nn.Module`` whose last ``nn.Linear`` is the
task-specific *head* (``head_prefix`` names it, for ANIL); learners call them through
``torch.func.functional_call`` with a params dict, possibly batched over tasks with ``vmap``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metagui.core.models._nets import Conv4, MetaModel, TextEncoder, build_mlp

if TYPE_CHECKING:
    from metagui.core.spec import ModelSpec
    from metagui.core.tasksets import TaskInfo

__all__ = ["Conv4", "MetaModel", "TextEncoder", "build_mlp", "build_model", "resolve_kind"]


def resolve_kind(spec: ModelSpec, info: TaskInfo) -> str:
    """The concrete model kind for ``spec.kind`` (``auto`` follows the task set's inputs)."""
    if spec.kind != "auto":
        return spec.kind
    if info.input_dtype == "long":
        return "text"
    return "conv4" if len(info.input_shape) == 3 else "mlp"


def build_model(spec: ModelSpec, info: TaskInfo, *, head: bool = True) -> MetaModel:
    """The network for ``spec`` and a task set's ``info``; ``head=False`` gives an embedding
    network without the classifier (ProtoNet, CNP encoders)."""
    kind = resolve_kind(spec, info)
    out = info.output_dim if head else None
    if kind == "mlp":
        if len(info.input_shape) != 1 or info.input_dtype != "float":
            raise ValueError(f"model.kind: an MLP needs flat float inputs, got {info.input_shape}")
        return build_mlp(info.input_shape[0], spec.hidden_sizes, out, spec.activation)
    if kind == "conv4":
        if len(info.input_shape) != 3:
            raise ValueError(
                f"model.kind: conv4 needs image inputs (C, H, W), got {info.input_shape}"
            )
        return Conv4(info.input_shape, spec.filters, spec.norm, spec.groups, out)
    if kind == "text":
        if info.input_dtype != "long" or info.vocab_size < 2:
            raise ValueError("model.kind: the text encoder needs a text task set (token ids)")
        return TextEncoder(info.vocab_size, spec.embed_dim, spec.hidden_sizes, out, spec.activation)
    raise ValueError(f"model.kind: unknown model {kind!r}")
