"""The experience pool (DESIGN.md): what past studies in a history can teach a new one.

Every study stores a :class:`Fingerprint` of its problem (task-set family and episode shape,
data meta-features and a content hash, learner, network, objective, search-space signature),
computed by :func:`fingerprint_of` when the study is created and back-filled from the stored
experiment (:func:`fingerprint_of_stored`) when an older history is upgraded.
:func:`similarity` compares two fingerprints (a number in [0, 1] and the reasons in words);
:func:`rank_studies` ranks a history's studies by their similarity to a new one.

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

__all__ = [
    "FINGERPRINT_VERSION",
    "OTHER_FAMILY",
    "SMALL_FOLDER_BYTES",
    "WEIGHTS",
    "DataCache",
    "DataFeatures",
    "EpisodeShape",
    "Fingerprint",
    "NetworkSignature",
    "ObjectiveSignature",
    "ParamSignature",
    "SimilarStudy",
    "Similarity",
    "data_features",
    "episode_shape",
    "fingerprint_of",
    "fingerprint_of_stored",
    "param_overlap",
    "rank_studies",
    "similarity",
]
