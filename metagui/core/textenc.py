"""Offline text encoding by hashed n-grams: no vocabulary to fit or ship, the same ids on every
machine and Python process.

A text is lower-cased and split into words (``\\w+``, Unicode aware). For each word position, in
order, the word n-grams starting there (``n`` from ``ngram[0]`` to ``ngram[1]``) are hashed with
CRC-32 (``zlib.crc32`` of the UTF-8 bytes of ``"w<n>:<words joined by spaces>"``) into ids
``1 .. buckets - 1``; id 0 is padding. With ``char_trigrams`` the character trigrams of each
word padded as ``<word>`` follow (``"c3:<trigram>"``). The ids are cut or zero-padded to
``max_tokens``; emitting the n-grams position by position means a long text loses its tail, not
its bigrams. Python's ``hash()`` is never used: it is salted per process.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["encode", "encode_many", "tokenize"]

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return _WORD.findall(text.lower())


def _bucket(gram: str, buckets: int) -> int:
    # Stable across processes and machines, unlike the salted built-in hash().
    return zlib.crc32(gram.encode("utf-8")) % (buckets - 1) + 1


def _check(buckets: int, ngram: tuple[int, int], max_tokens: int) -> None:
    if buckets < 2:
        raise ValueError(f"buckets must be at least 2 (0 is padding), got {buckets}")
    if not 1 <= ngram[0] <= ngram[1]:
        raise ValueError(f"ngram must be (low, high) with 1 <= low <= high, got {ngram}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")


def encode(
    text: str,
    buckets: int = 2**14,
    ngram: tuple[int, int] = (1, 2),
    max_tokens: int = 64,
    *,
    char_trigrams: bool = False,
) -> list[int]:
    """``text`` as exactly ``max_tokens`` hashed n-gram ids in ``0 .. buckets - 1`` (0 = pad)."""
    _check(buckets, ngram, max_tokens)
    words = tokenize(text)
    ids: list[int] = []
    low, high = ngram
    for i in range(len(words)):
        if len(ids) >= max_tokens:
            break
        for n in range(low, high + 1):
            if i + n <= len(words):
                ids.append(_bucket(f"w{n}:" + " ".join(words[i : i + n]), buckets))
    if char_trigrams:
        for word in words:
            if len(ids) >= max_tokens:
                break
            padded = f"<{word}>"
            ids.extend(_bucket(f"c3:{padded[j : j + 3]}", buckets) for j in range(len(padded) - 2))
    ids = ids[:max_tokens]
    return ids + [0] * (max_tokens - len(ids))


def encode_many(
    texts: Sequence[str],
    buckets: int = 2**14,
    ngram: tuple[int, int] = (1, 2),
    max_tokens: int = 64,
    *,
    char_trigrams: bool = False,
) -> np.ndarray:
    """Several texts encoded with :func:`encode`, as ``int64 [len(texts), max_tokens]``."""
    _check(buckets, ngram, max_tokens)
    out = np.zeros((len(texts), max_tokens), dtype=np.int64)
    for i, text in enumerate(texts):
        out[i] = encode(text, buckets, ngram, max_tokens, char_trigrams=char_trigrams)
    return out
