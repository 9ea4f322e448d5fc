"""The Python API: use a meta-trained model from your own code.

>>> import metagui
>>> model = metagui.load("model.pt")
>>> model.adapt("support/")          # one subfolder per class, or {"cat": [paths...], ...}
>>> for p in model.predict("query/"):  # a folder, a list of paths / PIL images, a tensor batch
...     print(p.path, p.label, p.score)

Importing this module is light: torch is imported when a model is loaded.
"""

from __future__ import annotations

import os

from metagui.core.predict import BN_MODES, DEFAULT_BN, FewShotModel, Prediction

__all__ = ["BN_MODES", "DEFAULT_BN", "FewShotModel", "Prediction", "load"]


def load(
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    bn: str = DEFAULT_BN,
    steps: int | None = None,
) -> FewShotModel:
    """The model saved in ``checkpoint`` (by ``metagui train -o``, ``metagui export --format
    checkpoint`` or the app), ready to :meth:`~FewShotModel.adapt` to a new task.

    The file is read with ``torch.load(weights_only=True)``: no code from it runs. ``device``
    is ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; ``bn`` says where batch-norm
    statistics come from when classifying (``support``, the default: each query's prediction
    is independent of the others; ``transductive``: from the query batch, as the MAML-family
    papers evaluate); ``steps`` overrides the checkpoint's number of adaptation steps.
    Raises :class:`metagui.core.errors.MetaguiError` with a one-line reason on bad input."""
    from metagui.core.predict import load_model

    return load_model(checkpoint, device=device, bn=bn, steps=steps)
