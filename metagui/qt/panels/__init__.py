"""The experiment editor's panels, each a view over an :class:`ExperimentDocument`:

- :class:`TaskSetPanel`: the task-set family, its settings, data by dialog or drag & drop, and a
  live preview of sample episodes;
- :class:`SearchPanel`: the algorithm and its fixed settings, the network, the optimizer, the
  training schedule, and the table of search-space parameters;
- :class:`StrategyPanel`: search strategy, pruner, budget, objective, seed, device, name,
  execution (parallel trials on Ray) and warm start.

:func:`guard_wheel` keeps the mouse wheel from changing their values while it scrolls them.
"""

from __future__ import annotations

from metagui.qt.panels._search_panel import SearchPanel
from metagui.qt.panels._strategy_panel import StrategyPanel
from metagui.qt.panels._taskset_panel import TaskSetPanel
from metagui.qt.panels._wheel import guard_wheel

__all__ = ["SearchPanel", "StrategyPanel", "TaskSetPanel", "guard_wheel"]
