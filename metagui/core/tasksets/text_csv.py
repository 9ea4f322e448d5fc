"""N-way K-shot text classification from a file of labelled texts, encoded offline as hashed
n-gram ids (:mod:`metagui.core.textenc`); no pretrained embedding or network access is needed.

The file is a CSV with a header row (``.tsv``: tab separated) or JSON lines (``.jsonl``,
``.ndjson``, ``.json``: one object per line). Each distinct label is a class; the labels are
split into train / validation / test by the same recorded rule as ``image_folder``: sort,
shuffle with ``random.Random(split_seed)``, cut by the ``split`` fractions. Examples are
``int64 [max_tokens]`` rows of ids in ``0 .. buckets - 1`` (0 = padding)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from metagui.core.errors import TaskSetError
from metagui.core.tasksets._base import (
    SPLITS,
    EpisodePreview,
    PreviewItem,
    Split,
    TaskInfo,
    checked_data_path,
)
from metagui.core.tasksets._images import (
    ClassPool,
    PooledTaskSet,
    check_episode_fits,
    check_fractions,
    no_validation_note,
    split_classes,
    used_splits,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TextCSVConfig", "TextCSVTaskSet", "read_labelled_texts"]

_JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


class TextCSVConfig(BaseModel):
    """Few-shot classification of the labelled texts in a CSV or JSON-lines file."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    family: Literal["text_csv"] = "text_csv"
    path: str = Field(..., min_length=1, description="CSV, TSV or JSON-lines file")
    text_column: str = Field("text", min_length=1, description="column holding the text")
    label_column: str = Field("label", min_length=1, description="column holding the class")
    n_way: int = Field(5, ge=2, le=1000, description="classes per episode")
    k_shot: int = Field(5, ge=1, le=10_000, description="support texts per class")
    q_query: int = Field(5, ge=1, le=10_000, description="query texts per class")
    max_tokens: int = Field(64, ge=1, le=4096, description="ids per text (cut or padded)")
    buckets: int = Field(2**14, ge=2, le=2**24, description="hash buckets (vocabulary size)")
    ngram: tuple[int, int] = Field((1, 2), description="word n-gram lengths [low, high]")
    char_trigrams: bool = Field(False, description="also hash character trigrams of words")
    split: tuple[float, float, float] = Field(
        (0.64, 0.16, 0.20),
        description="fractions of the labels for train, validation, test (validation 0: no "
        "validation split)",
    )
    split_seed: int = Field(0, description="seed of the recorded class-split shuffle")

    @field_validator("split")
    @classmethod
    def _fractions(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        check_fractions(v)
        return v

    @property
    def has_validation(self) -> bool:
        """Whether the task set has a validation split (its fraction is not 0)."""
        return self.split[1] > 0

    @field_validator("ngram")
    @classmethod
    def _ngram(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1] <= 8:
            raise ValueError(f"ngram: need 1 <= low <= high <= 8, got {v}")
        return v

    @field_validator("path")
    @classmethod
    def _path_is_there(cls, v: str, info: ValidationInfo) -> str:
        return checked_data_path(v, "file", info)

    def build(self) -> TextCSVTaskSet:
        return TextCSVTaskSet(self)


def _cell(value: object) -> str:
    """A CSV or JSON value as stripped text (None and missing cells are empty)."""
    return "" if value is None else str(value).strip()


def _read_json_lines(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskSetError(f"path: line {line_no} of {path} is not JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise TaskSetError(f"path: line {line_no} of {path} is not a JSON object")
            for column in (text_column, label_column):
                if column not in obj:
                    present = ", ".join(map(repr, obj)) or "none"
                    field = "text_column" if column == text_column else "label_column"
                    raise TaskSetError(
                        f"{field}: line {line_no} of {path} has no key {column!r} "
                        f"(keys present: {present})"
                    )
            rows.append((_cell(obj[text_column]), _cell(obj[label_column]), line_no))
    return _checked(rows, path, label_column)


def _read_csv(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            header = reader.fieldnames
            if not header:
                raise TaskSetError(f"path: {path} is empty (no header row)")
            for column, field in ((text_column, "text_column"), (label_column, "label_column")):
                if column not in header:
                    present = ", ".join(map(repr, header))
                    raise TaskSetError(
                        f"{field}: {path} has no column {column!r} (columns present: {present})"
                    )
            for row in reader:
                rows.append((_cell(row[text_column]), _cell(row[label_column]), reader.line_num))
        except csv.Error as exc:
            raise TaskSetError(f"path: {path}, line {reader.line_num}: {exc}") from exc
    return _checked(rows, path, label_column)


def _checked(
    rows: Sequence[tuple[str, str, int]], path: Path, label_column: str
) -> list[tuple[str, str]]:
    if not rows:
        raise TaskSetError(f"path: {path} has no data rows")
    for _, label, line_no in rows:
        if not label:
            raise TaskSetError(
                f"label_column: line {line_no} of {path} has an empty {label_column!r}"
            )
    return [(text, label) for text, label, _ in rows]


def read_labelled_texts(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """The ``(text, label)`` rows of a CSV / TSV / JSON-lines file, in file order."""
    if not path.is_file():
        raise TaskSetError(f"path: file {path} does not exist")
    reader = _read_json_lines if path.suffix.lower() in _JSON_SUFFIXES else _read_csv
    try:
        return reader(path, text_column, label_column)
    except UnicodeDecodeError as exc:
        raise TaskSetError(f"path: {path} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise TaskSetError(f"path: cannot read {path}: {exc}") from exc


class TextCSVTaskSet(PooledTaskSet):
    """Text episodes over the labels of ``config.path``, encoded into memory at construction."""

    def __init__(self, config: TextCSVConfig) -> None:
        from metagui.core.textenc import encode_many

        self.config = c = config
        self.n_way, self.k_shot, self.q_query = c.n_way, c.k_shot, c.q_query
        self.path = Path(c.path).expanduser()
        by_label: dict[str, list[str]] = {}
        for text, label in read_labelled_texts(self.path, c.text_column, c.label_column):
            by_label.setdefault(label, []).append(text)
        splits = split_classes(list(by_label), c.split, c.split_seed)
        hint = (
            f"split = {c.split} of {len(by_label)} labels (split_seed = {c.split_seed}) leaves "
            "too few; add labels, lower n_way or change split"
        )
        counts = {label: len(texts) for label, texts in by_label.items()}
        per_class = c.k_shot + c.q_query
        check_episode_fits(
            splits,
            counts,
            c.n_way,
            per_class,
            str(self.path),
            unit="rows",
            hint=hint,
            validation=c.has_validation,
        )
        self.classes = {s: tuple(splits[s]) for s in SPLITS}
        self.pools = {}
        # The texts of each split in the pool's row order, for the preview.
        self.texts: dict[Split, list[str]] = {}
        for split in used_splits(c.has_validation):
            groups = [
                encode_many(
                    by_label[label], c.buckets, c.ngram, c.max_tokens, char_trigrams=c.char_trigrams
                )
                for label in splits[split]
            ]
            classes = [(label, i, 0) for i, label in enumerate(splits[split])]
            self.pools[split] = ClassPool.build(groups, classes)
            self.texts[split] = [t for label in splits[split] for t in by_label[label]]
        self.info = TaskInfo(
            kind="classification",
            input_shape=(c.max_tokens,),
            output_dim=c.n_way,
            input_dtype="long",
            vocab_size=c.buckets,
            # Episode labels are positions, not these names; they list the training labels.
            class_names=self.classes["train"],
        )

    def describe(self) -> str:
        c = self.config
        sizes = "/".join(str(len(self.classes[s])) for s in SPLITS)
        return (
            f"texts {self.path}: {c.n_way}-way {c.k_shot}-shot, {c.q_query} query, "
            f"{c.max_tokens} hashed {c.ngram[0]}-{c.ngram[1]}-gram ids in {c.buckets} buckets, "
            f"{sizes} train/validation/test labels"
            + no_validation_note(c.has_validation, "split[1] = 0")
        )

    def preview(self, seed: int = 0) -> EpisodePreview:
        import torch

        pool, texts = self.pools["train"], self.texts["train"]
        g = torch.Generator().manual_seed(seed)
        rows, chosen = pool.draw_rows(1, self.n_way, self.k_shot + self.q_query, g)
        names = [pool.names[i] for i in chosen[0].tolist()]

        def items(part: torch.Tensor) -> tuple[PreviewItem, ...]:
            # part is [n_way, count]: class-major, like the episodes' support and query.
            return tuple(
                PreviewItem(data=texts[row], label=names[j])
                for j, class_rows in enumerate(part.tolist())
                for row in class_rows
            )

        return EpisodePreview(
            kind="texts",
            support=items(rows[0, :, : self.k_shot]),
            query=items(rows[0, :, self.k_shot :]),
        )
