"""Where a study's trials train. The driver (``metagui.core.runner``) keeps the strategy,
the pruning decisions and the only history writer; workers only train, from a
:class:`TrialJob` (plain settings) to frozen :class:`TrialEvent` objects. An
:class:`Executor` sits between them: :class:`SerialExecutor` trains in the driver's own
thread, one trial at a time; the Ray executor (``_ray``, imported only when used) runs
``parallel`` trials at once on a pool of Ray actors, on this machine or a cluster."""

from __future__ import annotations

from metagui.core.execution._events import (
    Failed,
    Finished,
    Placed,
    Reported,
    TrialEvent,
    TrialJob,
)
from metagui.core.execution._executor import Executor, SerialExecutor, make_executor
from metagui.core.execution._trial import describe_error, release_memory, train_trial

__all__ = [
    "Executor",
    "Failed",
    "Finished",
    "Placed",
    "Reported",
    "SerialExecutor",
    "TrialEvent",
    "TrialJob",
    "describe_error",
    "make_executor",
    "release_memory",
    "train_trial",
]
