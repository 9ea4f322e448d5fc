"""The experience pool (DESIGN.md): what past studies in a history can teach a new one.

Every study stores a :class:`Fingerprint` of its problem (task-set family and episode shape,
data meta-features and a content hash, learner, network, objective, search-space signature),
computed by :func:`fingerprint_of` when the study is created and back-filled from the stored
experiment (:func:`fingerprint_of_stored`) when an older history is upgraded.
:func:`similarity` compares two fingerprints (a number in [0, 1] and the reasons in words);
:func:`rank_studies` ranks a history's studies by their similarity to a new one;
:func:`choose_pool` and :func:`load_pool` make the experience pool a ``warm_start: auto``
study learns from (:func:`map_params` maps a past trial's settings into its space);
:class:`ExperiencePruner` stops a trial whose curve is worse than the pool's good trials' at
the same step.

Nothing here imports torch or Optuna: the app's GUI thread uses it.
"""

from __future__ import annotations

from metagui.core.experience._features import SMALL_FOLDER_BYTES, data_features
from metagui.core.experience._fingerprint import (
    FINGERPRINT_VERSION,
    DataFeatures,
    EpisodeShape,
    Fingerprint,
    NetworkSignature,
    ObjectiveSignature,
    ParamSignature,
)
from metagui.core.experience._mapping import config_key, map_params
from metagui.core.experience._pool import (
    RECORD_VERSION,
    ExperiencePool,
    PoolStatus,
    PoolStudy,
    choose_pool,
    load_pool,
    new_sources,
    pool_statuses,
    quantiles,
    sources_of_record,
)
from metagui.core.experience._pruning import (
    ExperiencePruner,
    PoolCurve,
    pool_curves,
    validation_series,
)
from metagui.core.experience._ranking import SimilarStudy, rank_studies
from metagui.core.experience._similarity import (
    OTHER_FAMILY,
    WEIGHTS,
    Similarity,
    param_overlap,
    similarity,
)
from metagui.core.experience._spec import (
    DataCache,
    episode_shape,
    fingerprint_of,
    fingerprint_of_stored,
)
from metagui.core.experience._warm_start import WarmStart, open_pool

__all__ = [
    "FINGERPRINT_VERSION",
    "OTHER_FAMILY",
    "RECORD_VERSION",
    "SMALL_FOLDER_BYTES",
    "WEIGHTS",
    "DataCache",
    "DataFeatures",
    "EpisodeShape",
    "ExperiencePool",
    "ExperiencePruner",
    "Fingerprint",
    "NetworkSignature",
    "ObjectiveSignature",
    "ParamSignature",
    "PoolCurve",
    "PoolStatus",
    "PoolStudy",
    "SimilarStudy",
    "Similarity",
    "WarmStart",
    "choose_pool",
    "config_key",
    "data_features",
    "episode_shape",
    "fingerprint_of",
    "fingerprint_of_stored",
    "load_pool",
    "map_params",
    "new_sources",
    "open_pool",
    "param_overlap",
    "pool_curves",
    "pool_statuses",
    "quantiles",
    "rank_studies",
    "similarity",
    "sources_of_record",
    "validation_series",
]
