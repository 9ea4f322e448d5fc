"""The history store: an SQLite file holding studies, their trials, per-step metrics and
learned hyperparameters (with a downsampled curve of each metric series, :class:`Curve`, so
that a study of thousands of trials draws without reading its rows), and artifacts.

One :class:`HistoryWriter` (in the worker that trains) writes it; any number of
:class:`HistoryReader` objects, in this process or others, read it at the same time and follow
a live run with :meth:`HistoryReader.changes_since`. The file is in WAL mode, so readers and the
writer never wait for each other. Studies and trials carry the researcher's notes and tags,
and a study its provenance (where and with what it was made).
"""

from __future__ import annotations

from metagui.core.history._curves import Curve, polylines
from metagui.core.history._lease import HEARTBEAT_S, STALE_AFTER_S, Holder, Lease
from metagui.core.history._notebook import (
    TAG_MAX_CHARS,
    StudyFootprint,
    artifact_folder,
    check_tag,
)
from metagui.core.history._reader import Changes, HistoryReader, Watermark
from metagui.core.history._rows import (
    DIRECTIONS,
    FINISHED_STATES,
    STUDY_STATUSES,
    TRIAL_STATES,
    ArtifactRow,
    BestSoFar,
    Direction,
    MetricRow,
    Objective,
    StudyRow,
    StudyStatus,
    StudySummary,
    TrialRow,
    TrialState,
)
from metagui.core.history._schema import SCHEMA_VERSION
from metagui.core.history._writer import HistoryWriter, step_metrics

__all__ = [
    "DIRECTIONS",
    "FINISHED_STATES",
    "HEARTBEAT_S",
    "SCHEMA_VERSION",
    "STALE_AFTER_S",
    "STUDY_STATUSES",
    "TAG_MAX_CHARS",
    "TRIAL_STATES",
    "ArtifactRow",
    "BestSoFar",
    "Changes",
    "Curve",
    "Direction",
    "HistoryReader",
    "HistoryWriter",
    "Holder",
    "Lease",
    "MetricRow",
    "Objective",
    "StudyFootprint",
    "StudyRow",
    "StudyStatus",
    "StudySummary",
    "TrialRow",
    "TrialState",
    "Watermark",
    "artifact_folder",
    "check_tag",
    "polylines",
    "step_metrics",
]
