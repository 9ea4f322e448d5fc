"""The three network families: MLP, the standard 4-block conv net, a hashed n-gram text encoder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Conv4", "MetaModel", "TextEncoder", "build_mlp"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MetaModel(nn.Module):
    """A network with a named head. ``head_prefix`` is the parameter-name prefix of the last
    linear layer (empty when the network has no head); ``out_features`` its output width."""

    head_prefix: str = ""
    out_features: int = 0


class _Sequential(MetaModel):
    def __init__(self, body: nn.Sequential, head: nn.Linear | None, out_features: int) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.head_prefix = "head." if head is not None else ""
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(h) if self.head is not None else h


def build_mlp(
    in_features: int, hidden: list[int], out_features: int | None, activation: str = "relu"
) -> MetaModel:
    """An MLP ``in -> hidden... -> out`` (no output layer when ``out_features`` is None)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
        width = h
    head = nn.Linear(width, out_features) if out_features is not None else None
    return _Sequential(nn.Sequential(*layers), head, out_features or width)


def _norm(kind: str, channels: int, groups: int) -> nn.Module:
    # Batch norm always uses the statistics of the batch at hand (no running averages), as in
    # MAML: every episode is normalised by itself, at meta-training and at meta-test alike.
    if kind == "batch":
        return nn.BatchNorm2d(channels, track_running_stats=False)
    if kind == "group":
        return nn.GroupNorm(groups, channels)
    if kind == "layer":
        # Layer norm over (C, H, W) with a per-channel affine: GroupNorm with one group.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class Conv4(_Sequential):
    """The 4-block conv net of Vinyals et al. / Finn et al.: [conv3x3, norm, ReLU, maxpool2] x 4,
    flattened, then a linear head."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        filters: int = 64,
        norm: str = "batch",
        groups: int = 4,
        out_features: int | None = 5,
    ) -> None:
        channels = input_shape[0]
        if min(input_shape[1:]) < 16:
            raise ValueError(
                f"image_size: conv4 halves the image four times and needs at least 16x16 pixels, "
                f"got {input_shape[1]}x{input_shape[2]}"
            )
        blocks: list[nn.Module] = []
        for _ in range(4):
            blocks += [
                nn.Conv2d(channels, filters, 3, padding=1),
                _norm(norm, filters, groups),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = filters
        blocks.append(nn.Flatten())
        body = nn.Sequential(*blocks)
        with torch.no_grad():
            width = int(body(torch.zeros(2, *input_shape)).shape[1])
        head = nn.Linear(width, out_features) if out_features is not None else None
        super().__init__(body, head, out_features or width)


class _MaskedMeanEmbedding(nn.Module):
    """Mean of the embeddings of the non-padding ids (id 0 is padding)."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        summed = (self.embedding(ids) * mask).sum(dim=-2)
        return summed / mask.sum(dim=-2).clamp_min(1.0)


class TextEncoder(_Sequential):
    """Hashed word n-gram ids -> trainable embedding bag (masked mean) -> MLP -> head."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden: list[int],
        out_features: int | None,
        activation: str = "relu",
    ) -> None:
        layers: list[nn.Module] = [_MaskedMeanEmbedding(vocab_size, embed_dim)]
        width = embed_dim
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            width = h
        head = nn.Linear(width, out_features) if out_features is not None else None
        super().__init__(nn.Sequential(*layers), head, out_features or width)
