"""Sinusoid regression (Finn et al. 2017): y = A sin(x - phase), A in [0.1, 5], phase in [0, pi],
x uniform in [-5, 5]. Splits differ only in their random streams: each is an infinite family."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from metagui.core.tasksets._base import (
    EpisodeBatch,
    EpisodePreview,
    Split,
    TaskInfo,
    TaskSet,
)

if TYPE_CHECKING:
    import torch

__all__ = ["SinusoidConfig", "SinusoidTaskSet"]

# Each split draws from its own stream so validation and test tasks never repeat training ones.
_SPLIT_OFFSET = {"train": 0, "validation": 1_000_003, "test": 2_000_029}


class SinusoidConfig(BaseModel):
    """Sinusoid regression tasks; ``k_shot`` support and ``q_query`` query points per task."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    family: Literal["sinusoid"] = "sinusoid"
    k_shot: int = Field(10, ge=1, le=10_000, description="support points per task")
    q_query: int = Field(10, ge=1, le=10_000, description="query points per task")
    amplitude: tuple[float, float] = Field((0.1, 5.0), description="amplitude range [low, high]")
    phase: tuple[float, float] = Field((0.0, math.pi), description="phase range [low, high]")
    x_range: tuple[float, float] = Field((-5.0, 5.0), description="input range [low, high]")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> SinusoidConfig:
        for name in ("amplitude", "phase", "x_range"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"{name}: low ({low}) must not exceed high ({high})")
        return self

    def build(self) -> SinusoidTaskSet:
        return SinusoidTaskSet(self)


class SinusoidTaskSet(TaskSet):
    def __init__(self, config: SinusoidConfig) -> None:
        self.config = config
        self.info = TaskInfo(kind="regression", input_shape=(1,), output_dim=1)

    def describe(self) -> str:
        c = self.config
        return f"sinusoid regression, {c.k_shot}-shot, {c.q_query} query points"

    def _draw(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        c = self.config
        n = c.k_shot + c.q_query
        u = torch.rand(batch_size, 2, generator=generator, dtype=torch.float64)
        amp = c.amplitude[0] + (c.amplitude[1] - c.amplitude[0]) * u[:, 0]
        phase = c.phase[0] + (c.phase[1] - c.phase[0]) * u[:, 1]
        x = torch.rand(batch_size, n, 1, generator=generator, dtype=torch.float64)
        x = c.x_range[0] + (c.x_range[1] - c.x_range[0]) * x
        return amp, phase, x

    def sample(self, split: Split, batch_size: int, generator: torch.Generator) -> EpisodeBatch:
        import torch

        # Offset the stream per split so splits never share tasks for the same generator state.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item()) + _SPLIT_OFFSET[split]
        g = torch.Generator().manual_seed(seed)
        amp, phase, x = self._draw(batch_size, g)
        y = amp[:, None, None] * torch.sin(x - phase[:, None, None])
        k = self.config.k_shot
        x, y = x.float(), y.float()
        return EpisodeBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:])

    def preview(self, seed: int = 0, tasks: int = 4) -> EpisodePreview:
        import torch

        g = torch.Generator().manual_seed(seed)
        amp, phase, x = self._draw(tasks, g)
        grid = np.linspace(self.config.x_range[0], self.config.x_range[1], 200)
        curves = []
        support = []
        k = self.config.k_shot
        for i in range(tasks):
            a, p = float(amp[i]), float(phase[i])
            curves.append((grid, a * np.sin(grid - p)))
            xs = x[i, :k, 0].numpy()
            support.append((xs, a * np.sin(xs - p)))
        return EpisodePreview(kind="curves", curves=tuple(curves), curve_support=tuple(support))
