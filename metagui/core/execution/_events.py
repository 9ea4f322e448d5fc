"""What crosses between the study driver and the workers that train its trials: a job in,
frozen events out. Plain data only (numbers, strings, bytes), so that the same objects travel
through a generator in this process or through Ray's object store from another host."""

from __future__ import annotations

from dataclasses import dataclass, field

from metagui.core.reports import StepReport, Tick, TrainingFinished

__all__ = ["Failed", "Finished", "Placed", "Reported", "TrialEvent", "TrialJob"]


@dataclass(frozen=True)
class TrialJob:
    """One trial to train: its complete settings and where its result goes."""

    number: int
    spec_json: str
    """The trial's ``TrainSpec`` as JSON: the study's base settings with the trial's
    parameters, seed and evaluation seed filled in."""
    device: str | None
    """``--device`` of the run (None: the spec's own ``device``)."""
    study: str
    objective_split: str
    """``validation`` or ``test``: which final value the checkpoint records as the trial's."""


@dataclass(frozen=True)
class Placed:
    """The trial started on ``host`` (Ray node ``node``, empty in process), in process
    ``pid``, on ``device``."""

    number: int
    host: str
    node: str
    pid: int
    device: str


@dataclass(frozen=True)
class Reported:
    """A progress report of the trial's training."""

    number: int
    report: StepReport | Tick


@dataclass(frozen=True)
class Finished:
    """Training ended: the final evaluations and the trained model as checkpoint bytes."""

    number: int
    result: TrainingFinished
    checkpoint: bytes
    measures: dict[str, float] = field(default_factory=dict)
    """What the trial cost, by the keys of :data:`~metagui.core.objectives.SECOND_METRICS`
    (``parameters``, ``training_time`` in s, ``adaptation_time`` in ms per task of the
    objective's split): what a two-objective study scores it by beside its metric."""


@dataclass(frozen=True)
class Failed:
    """The trial could not finish: an error of its own (``lost=False``: bad settings, out of
    memory, divergence) or the loss of the worker that ran it (``lost=True``)."""

    number: int
    error: str
    lost: bool = False


TrialEvent = Placed | Reported | Finished | Failed
