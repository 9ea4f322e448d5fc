"""text_csv and the hashed n-gram encoder: stable ids, CSV / TSV / JSON-lines reading and the
errors a user can meet."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metagui.core.errors import TaskSetError
from metagui.core.tasksets import TextCSVConfig
from metagui.core.textenc import encode, encode_many, tokenize

# --- encoder ----------------------------------------------------------------------------------


def _crc(gram: str, buckets: int) -> int:
    return zlib.crc32(gram.encode("utf-8")) % (buckets - 1) + 1


def test_encode_hashes_word_ngrams_position_by_position() -> None:
    ids = encode("Hello, World! hello", buckets=1000, ngram=(1, 2), max_tokens=8)
    expected = [
        _crc("w1:hello", 1000),
        _crc("w2:hello world", 1000),
        _crc("w1:world", 1000),
        _crc("w2:world hello", 1000),
        _crc("w1:hello", 1000),
    ]
    assert ids == [*expected, 0, 0, 0]
    assert encode("hello world hello", 1000, (1, 2), 8) == ids  # lower-cased, punctuation gone
    assert encode("Hello, World! hello", 1000, (1, 2), 3) == expected[:3]
    assert encode("", 1000, (1, 2), 4) == [0, 0, 0, 0]


def test_char_trigrams_follow_the_words() -> None:
    plain = encode("ab", 1000, (1, 1), 6)
    tri = encode("ab", 1000, (1, 1), 6, char_trigrams=True)
    assert plain == [_crc("w1:ab", 1000), 0, 0, 0, 0, 0]
    assert tri == [_crc("w1:ab", 1000), _crc("c3:<ab", 1000), _crc("c3:ab>", 1000), 0, 0, 0]


def test_ids_are_the_same_in_another_process_with_another_hash_seed() -> None:
    text = "Meta-learning learns to learn quickly, très vite"
    code = (
        "from metagui.core.textenc import encode; "
        f"print(encode({text!r}, 4096, (1, 3), 20, char_trigrams=True))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == encode(text, 4096, (1, 3), 20, char_trigrams=True)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=200),
    buckets=st.integers(2, 2**20),
    low=st.integers(1, 3),
    span=st.integers(0, 2),
    max_tokens=st.integers(1, 40),
    trigrams=st.booleans(),
)
def test_encode_shape_and_range(
    text: str, buckets: int, low: int, span: int, max_tokens: int, trigrams: bool
) -> None:
    ids = encode(text, buckets, (low, low + span), max_tokens, char_trigrams=trigrams)
    assert len(ids) == max_tokens
    assert all(0 <= i < buckets for i in ids)
    used = [i for i in ids if i != 0]
    assert ids[: len(used)] == used, "padding must only be at the end"
    words = len(tokenize(text))
    assert bool(used) == (words >= low or (trigrams and words > 0))


def test_encode_many_and_bad_arguments() -> None:
    arr = encode_many(["a b", "c"], 50, (1, 2), 4)
    assert arr.dtype == np.int64 and arr.shape == (2, 4)
    assert arr[1].tolist() == encode("c", 50, (1, 2), 4)
    for kwargs in ({"buckets": 1}, {"ngram": (2, 1)}, {"ngram": (0, 1)}, {"max_tokens": 0}):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=name):
            encode("x", **kwargs)  # type: ignore[arg-type]


# --- task set ---------------------------------------------------------------------------------


def _rows(labels: int = 12, per_label: int = 4) -> list[tuple[str, str]]:
    return [
        (f"row {label}-{i} about thing{label} number{i}", f"L{label}")
        for label in range(labels)
        for i in range(per_label)
    ]


def _write_csv(path: Path, rows: list[tuple[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _cfg(path: Path, **kw: object) -> TextCSVConfig:
    base: dict[str, object] = {
        "path": str(path),
        "n_way": 2,
        "k_shot": 2,
        "q_query": 2,
        "max_tokens": 16,
        "split": (0.5, 0.25, 0.25),
    }
    return TextCSVConfig.model_validate(base | kw)


def test_csv_tsv_and_jsonl_give_the_same_task_set(tmp_path: Path) -> None:
    rows = _rows()
    a = _cfg(_write_csv(tmp_path / "t.csv", rows)).build()
    b = _cfg(_write_csv(tmp_path / "t.tsv", rows, delimiter="\t")).build()
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"label": lab, "text": t, "extra": 1}) for t, lab in rows) + "\n\n"
    )
    c = _cfg(jsonl).build()
    assert a.classes == b.classes == c.classes
    for other in (b, c):
        x = a.sample("train", 3, torch.Generator().manual_seed(4))
        y = other.sample("train", 3, torch.Generator().manual_seed(4))
        assert torch.equal(x.x_support, y.x_support) and torch.equal(x.x_query, y.x_query)
    assert a.info.input_shape == (16,) and a.info.input_dtype == "long"
    assert a.info.vocab_size == 2**14


def test_episode_rows_encode_the_texts_of_their_label(tmp_path: Path) -> None:
    rows = _rows()
    ts = _cfg(_write_csv(tmp_path / "t.csv", rows), char_trigrams=True, ngram=(1, 3)).build()
    codes = {tuple(encode(t, 2**14, (1, 3), 16, char_trigrams=True)): lab for t, lab in rows}
    batch = ts.sample("validation", 5, torch.Generator().manual_seed(0))
    for e in range(5):
        labels = [codes[tuple(r)] for r in batch.x_support[e].tolist()]
        assert labels[0] == labels[1] != labels[2] == labels[3]
        assert set(labels) <= set(ts.classes["validation"])


def test_preview_shows_texts(tmp_path: Path) -> None:
    rows = _rows()
    ts = _cfg(_write_csv(tmp_path / "t.csv", rows)).build()
    p = ts.preview(1)
    assert p.kind == "texts" and len(p.support) == 4 and len(p.query) == 4
    label_of = dict(rows)
    for item in p.support + p.query:
        assert isinstance(item.data, str) and label_of[item.data] == item.label


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaskSetError, match=r"path: file .*nothing\.csv does not exist"):
        _cfg(tmp_path / "nothing.csv").build()


def test_empty_csv_and_header_only(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(TaskSetError, match=r"e\.csv is empty"):
        _cfg(tmp_path / "e.csv").build()
    (tmp_path / "h.csv").write_text("text,label\n")
    with pytest.raises(TaskSetError, match=r"h\.csv has no data rows"):
        _cfg(tmp_path / "h.csv").build()


def test_missing_column_names_it_and_the_columns_present(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", _rows())
    with pytest.raises(
        TaskSetError, match=r"label_column: .* no column 'category' .*'text', 'label'"
    ):
        _cfg(path, label_column="category").build()
    with pytest.raises(TaskSetError, match=r"text_column: .* no column 'body'"):
        _cfg(path, text_column="body").build()
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(json.dumps({"text": "a", "tag": "b"}) + "\n")
    with pytest.raises(TaskSetError, match=r"label_column: line 1 .* no key 'label' .*'tag'"):
        _cfg(jsonl).build()


def test_label_with_too_few_rows_is_named(tmp_path: Path) -> None:
    rows = [r for r in _rows() if not (r[1] == "L7" and r[0].startswith("row 7-3"))]
    path = _write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(
        TaskSetError, match=r"k_shot \+ q_query = 4 exceeds the 3 rows of class 'L7'"
    ):
        _cfg(path).build()


def test_too_many_ways_and_bad_lines(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", _rows())
    with pytest.raises(TaskSetError, match=r"n_way = 4 exceeds the 3 classes of the validation"):
        _cfg(path, n_way=4).build()
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(TaskSetError, match=r"path: line 2 of .*b\.jsonl is not JSON"):
        _cfg(bad).build()
    empty_label = _write_csv(tmp_path / "l.csv", [*_rows(), ("text", " ")])
    with pytest.raises(TaskSetError, match=r"label_column: line 50 of .*l\.csv has an empty"):
        _cfg(empty_label).build()
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1"))
    with pytest.raises(TaskSetError, match=r"path: .*latin1\.csv is not UTF-8"):
        _cfg(tmp_path / "latin1.csv").build()
