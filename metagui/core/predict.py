"""Use a meta-trained model on a new few-shot task: :class:`FewShotModel` adapts to a support
set (a folder with one subfolder per class, or examples in memory) and classifies queries.

Examples are read exactly as the task set that trained the model reads them (same size,
channels and resampling for images; same hashed n-grams for texts). This module imports torch
only when a model is loaded, so the command line can read its choices without that cost.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from metagui.core.errors import MetaguiError, TaskSetError

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

    from metagui.core.learners import MetaLearner
    from metagui.core.spec import TrainSpec

__all__ = [
    "BN_HELP",
    "BN_MODES",
    "DEFAULT_BN",
    "BatchNormMode",
    "FewShotModel",
    "Prediction",
    "example_reader",
    "load_model",
    "query_files",
    "support_classes",
]

BatchNormMode = Literal["support", "transductive"]
BN_MODES: tuple[BatchNormMode, ...] = ("support", "transductive")
#: Each query's class must not change with the other files that happen to be predicted with it.
DEFAULT_BN: BatchNormMode = "support"
BN_HELP = (
    "where batch-norm layers take their statistics from when classifying the queries: "
    "'support' normalises every query with the support set's statistics, so a file's class "
    "and score do not depend on the other queries (and one file alone works); "
    "'transductive' normalises the queries by their own batch, as meta-training and the "
    "MAML-family papers evaluate (use it to compare with their accuracies on balanced query "
    f"sets). Default: {DEFAULT_BN}, because a prediction should not change with the company "
    "a file keeps. Networks without batch norm give the same result either way"
)

_TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})


@dataclass(frozen=True)
class Prediction:
    """The class predicted for one query: ``path`` is the file's path (None for an example
    given in memory), ``label`` the class name, ``score`` its probability (softmax over the
    support classes), ``scores`` every class's probability."""

    path: str | None
    label: str
    score: float
    scores: Mapping[str, float]


def example_reader(
    spec: TrainSpec,
) -> tuple[Callable[[Path], torch.Tensor], Callable[[Path], bool]]:
    """How the task set of ``spec`` turns a file into one model input, and which files count."""
    import torch

    from metagui.core.tasksets import SinusoidConfig, TextCSVConfig

    cfg = spec.taskset
    if isinstance(cfg, SinusoidConfig):
        raise MetaguiError(
            "predict: the checkpoint was trained on sinusoid regression; predict classifies "
            "files and needs a model trained on images or texts"
        )
    if isinstance(cfg, TextCSVConfig):
        from metagui.core.textenc import encode

        text_cfg = cfg

        def read_text(path: Path) -> torch.Tensor:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise MetaguiError(f"predict: cannot read text file {path}: {exc}") from exc
            ids = encode(
                text,
                text_cfg.buckets,
                text_cfg.ngram,
                text_cfg.max_tokens,
                char_trigrams=text_cfg.char_trigrams,
            )
            return torch.tensor(ids, dtype=torch.int64)

        return read_text, lambda p: p.suffix.lower() in _TEXT_SUFFIXES

    from metagui.core.tasksets._images import decode_image, is_image_name

    size = cfg.image_size
    channels = getattr(cfg, "channels", 1)

    def read_image(path: Path) -> torch.Tensor:
        try:
            array = decode_image(path, str(path), size, channels)
        except TaskSetError as exc:
            raise MetaguiError(f"predict: {exc}") from exc
        return torch.from_numpy(array).to(torch.float32).div_(255.0)

    return read_image, lambda p: is_image_name(p.name)


def query_files(folder: Path, accept: Callable[[Path], bool]) -> list[Path]:
    """The files of a query folder that the model reads, in name order (at least one)."""
    if not folder.is_dir():
        raise MetaguiError(f"predict: query folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and accept(p))
    if not files:
        raise MetaguiError(f"predict: query folder {folder} has no usable files")
    return files


def support_classes(root: Path, accept: Callable[[Path], bool]) -> dict[str, list[Path]]:
    """The classes of a support folder: every folder under ``root`` that directly holds usable
    files, named by its ``/``-separated path relative to ``root`` (so ``root/cat/*.png`` and
    Omniglot's ``root/Alphabet/characterNN/*.png`` both work, as in training), in name order.

    Unlike a training folder, a class folder without usable files is an error here (the user
    named it as a class), and text files count for text models."""
    if not root.is_dir():
        raise MetaguiError(f"predict: support folder {root} does not exist")
    classes: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        # Sorted in place: the walk order, and so the first problem reported, is reproducible.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        folder = Path(dirpath)
        files = sorted(folder / name for name in filenames if accept(folder / name))
        if folder == root:
            if files:
                raise MetaguiError(
                    f"predict: support folder {root} holds examples directly ({files[0].name}, "
                    "...); put each class's examples in its own subfolder"
                )
        elif files:
            classes[folder.relative_to(root).as_posix()] = files
        elif not dirnames:
            raise MetaguiError(f"predict: class folder {folder} has no usable examples")
    return dict(sorted(classes.items()))


@contextlib.contextmanager
def _support_batch_norm(model: nn.Module, support_rows: int) -> Iterator[None]:
    """While active, a batch-norm layer given more than ``support_rows`` examples normalises all
    of them with the statistics of the first ``support_rows`` (the support set, as it reaches
    that layer under the weights of that very forward pass, adapted ones included). A batch of
    the support set alone is left untouched, so adaptation runs exactly as in training."""
    import torch.nn.functional as F
    from torch import nn

    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> Any:
        x = args[0]
        if x.shape[0] <= support_rows:
            return None
        dims = [0, *range(2, x.dim())]
        support = x[:support_rows]
        # The biased variance, as batch norm normalises a training batch.
        mean, var = support.mean(dims), support.var(dims, unbiased=False)
        bn = cast(nn.modules.batchnorm._BatchNorm, module)
        return F.batch_norm(x, mean, var, bn.weight, bn.bias, training=False, eps=bn.eps)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class FewShotModel:
    """A meta-trained model: :meth:`adapt` to a support set, then :meth:`predict` queries.

    Build it with :func:`load_model` (or ``metagui.load``). ``bn`` is one of :data:`BN_MODES`
    (see :data:`BN_HELP`); ``steps`` the adaptation steps of gradient-based learners (None: the
    checkpoint's evaluation setting). The adaptation itself runs within each :meth:`predict`
    call: a few gradient steps (or one forward pass) on the support examples.
    """

    def __init__(
        self,
        learner: MetaLearner,
        spec: TrainSpec,
        device: torch.device,
        *,
        bn: str = DEFAULT_BN,
        steps: int | None = None,
    ) -> None:
        if bn not in BN_MODES:
            raise MetaguiError(f"predict: bn must be one of {', '.join(BN_MODES)}, got {bn!r}")
        if steps is not None and steps < 0:
            raise MetaguiError(f"predict: adaptation steps must not be negative, got {steps}")
        self.learner = learner.eval()
        self.spec = spec
        self.device = device
        self.bn: BatchNormMode = cast(BatchNormMode, bn)
        self.steps = spec.algorithm.adaptation_steps_at_eval if steps is None else steps
        self._read, self._accept = example_reader(spec)
        self._classes: tuple[str, ...] = ()
        self._support: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes of the support set adapted to, in label order (empty before)."""
        return self._classes

    @property
    def accepts(self) -> Callable[[Path], bool]:
        """Whether a file is one this model reads (by its name: image or text suffixes)."""
        return self._accept

    def adapt(
        self, support: str | os.PathLike[str] | Mapping[str, Sequence[Any] | torch.Tensor]
    ) -> FewShotModel:
        """Take ``support`` as the task's labelled examples: a folder with one subfolder per
        class (nested class folders as in training), or a mapping class name -> examples (file
        paths, PIL images, model-input tensors, or one tensor batch). Classes are numbered in
        name order, as a folder's are. Returns the model, for chaining."""
        import torch

        if isinstance(support, Mapping):
            groups = {
                str(name): self._examples(items, f"class {name}") for name, items in support.items()
            }
            groups = dict(sorted(groups.items()))
        else:
            files = support_classes(Path(support), self._accept)
            groups = {name: [self._read(f) for f in paths] for name, paths in files.items()}
        if len(groups) < 2:
            what = (
                "the support set needs at least two classes"
                if isinstance(support, Mapping)
                else f"support folder {support} needs at least two class subfolders"
            )
            raise MetaguiError(f"predict: {what}, found {len(groups)}")
        learner = self.learner
        if learner.name not in ("protonet", "cnp") and len(groups) > learner.info.output_dim:
            raise MetaguiError(
                f"predict: the {learner.name} model has a {learner.info.output_dim}-way head but "
                f"the support set has {len(groups)} classes"
            )
        xs = [x for examples in groups.values() for x in examples]
        ys = [label for label, examples in enumerate(groups.values()) for _ in examples]
        self._support = (
            torch.stack(xs).to(self.device),
            torch.tensor(ys, dtype=torch.int64, device=self.device),
        )
        self._classes = tuple(groups)
        return self

    def predict(
        self, query: str | os.PathLike[str] | Sequence[Any] | torch.Tensor
    ) -> list[Prediction]:
        """Classify ``query``: a folder (its usable files, in name order), a list of examples
        (file paths, PIL images, model-input tensors) or a tensor batch; one
        :class:`Prediction` per query, in order."""
        import torch

        if self._support is None:
            raise MetaguiError("predict: adapt the model to a support set before predicting")
        if isinstance(query, (str, os.PathLike)):
            files = query_files(Path(query), self._accept)
            paths: list[str | None] = [str(f) for f in files]
            x_query = torch.stack([self._read(f) for f in files])
        else:
            items = list(query) if not isinstance(query, torch.Tensor) else [query]
            if isinstance(query, torch.Tensor) and query.dim() == len(self._input_shape) + 1:
                items = list(query.unbind(0))
            if not items:
                raise MetaguiError("predict: no queries were given")
            paths = [str(x) if isinstance(x, (str, os.PathLike)) else None for x in items]
            x_query = torch.stack(self._examples(items, "the queries"))
        probabilities = self._probabilities(x_query.to(self.device))
        return [self._prediction(path, row) for path, row in zip(paths, probabilities, strict=True)]

    # --- internals ----------------------------------------------------------------------------
    @property
    def _input_shape(self) -> tuple[int, ...]:
        return self.learner.info.input_shape

    def _probabilities(self, x_query: torch.Tensor) -> torch.Tensor:
        import torch

        assert self._support is not None
        x_support, y_support = self._support
        rows = int(x_support.shape[0])
        with contextlib.ExitStack() as stack:
            if self.bn == "support":
                # The query goes through the network after the support set in one batch whose
                # batch-norm statistics come from the support rows only; the support rows'
                # outputs are dropped. Every other layer treats examples one by one.
                stack.enter_context(_support_batch_norm(self.learner, rows))
                x_query = torch.cat([x_support, x_query.to(x_support.dtype)])
            outputs = self.learner.predict(x_support, y_support, x_query, self.steps)
        if self.bn == "support":
            outputs = outputs[rows:]
        # Heads wider than this task's classes: only the classes present can be predicted.
        return outputs[:, : len(self._classes)].float().softmax(-1).cpu()

    def _prediction(self, path: str | None, probabilities: torch.Tensor) -> Prediction:
        values = probabilities.tolist()
        best = max(range(len(values)), key=values.__getitem__)
        return Prediction(
            path, self._classes[best], values[best], dict(zip(self._classes, values, strict=True))
        )

    def _examples(self, items: Sequence[Any] | torch.Tensor, what: str) -> list[torch.Tensor]:
        import torch

        if isinstance(items, torch.Tensor):
            if items.dim() != len(self._input_shape) + 1:
                raise MetaguiError(
                    f"predict: {what}: a tensor of examples must have shape [N, "
                    f"{', '.join(map(str, self._input_shape))}], got {list(items.shape)}"
                )
            items = list(items.unbind(0))
        if isinstance(items, (str, os.PathLike)):
            raise MetaguiError(f"predict: {what}: give a list of examples, not one path")
        examples = [self._example(item, what) for item in items]
        if not examples:
            raise MetaguiError(f"predict: {what} has no examples")
        return examples

    def _example(self, item: Any, what: str) -> torch.Tensor:
        import torch
        from PIL import Image

        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if not path.is_file():
                raise MetaguiError(f"predict: {what}: no such file {path}")
            return self._read(path)
        if isinstance(item, Image.Image):
            return self._read_image(item, what)
        if isinstance(item, torch.Tensor):
            shape = self._input_shape
            if tuple(item.shape) != shape:
                raise MetaguiError(
                    f"predict: {what}: an example tensor must have shape {list(shape)}, "
                    f"got {list(item.shape)}"
                )
            if self.learner.info.input_dtype == "long":
                return item.to(torch.int64)
            # Task sets keep images as uint8 and scale them to [0, 1] when sampled.
            return item.float().div(255.0) if item.dtype == torch.uint8 else item.float()
        raise MetaguiError(
            f"predict: {what}: an example must be a file path, a PIL image or a tensor, "
            f"got {type(item).__name__}"
        )

    def _read_image(self, image: Image.Image, what: str) -> torch.Tensor:
        import torch

        from metagui.core.tasksets._images import decode_image

        if self.learner.info.input_dtype == "long":
            raise MetaguiError(f"predict: {what}: the model reads texts, not images")
        # Through PNG bytes, the one decoding path of the task sets: same conversion, same
        # resampling as training.
        buffer = io.BytesIO()
        try:
            image.save(buffer, format="PNG")
        except (OSError, ValueError, KeyError):
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, format="PNG")
        channels, size = self._input_shape[0], self._input_shape[-1]
        array = decode_image(buffer.getvalue(), f"{what} (in-memory image)", size, channels)
        return torch.from_numpy(array).to(torch.float32).div_(255.0)


def load_model(
    checkpoint: str | os.PathLike[str],
    *,
    device: str = "cpu",
    bn: str = DEFAULT_BN,
    steps: int | None = None,
) -> FewShotModel:
    """The model saved in ``checkpoint``, read with ``torch.load(weights_only=True)`` (no code
    from the file runs), on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
    from metagui.core.checkpoint import load_checkpoint
    from metagui.core.device import resolve_device

    dev = resolve_device(device)
    learner, spec = load_checkpoint(checkpoint, dev)
    return FewShotModel(learner, spec, dev, bn=bn, steps=steps)
