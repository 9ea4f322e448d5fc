"""Search strategies: one ask/tell interface over grid, random, Sobol, TPE, GP, CMA-ES,
NSGA-II (Optuna samplers), PSO and differential evolution (nevergrad), with Optuna's pruners.

Importing this package is cheap: Optuna and nevergrad are imported when a strategy is built.
"""

from __future__ import annotations

from metagui.core.strategies._common import PastTrial, PriorTrial, Proposal, StrategyExhausted
from metagui.core.strategies._grid import GRID_POINTS, grid_axis, grid_combinations
from metagui.core.strategies._strategy import Strategy

__all__ = [
    "GRID_POINTS",
    "PastTrial",
    "PriorTrial",
    "Proposal",
    "Strategy",
    "StrategyExhausted",
    "grid_axis",
    "grid_combinations",
]
