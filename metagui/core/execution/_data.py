"""Task-set data for workers on other hosts: a folder or file on the driver's disk is used in
place where a worker sees the same path (a shared filesystem), and otherwise packed once
into a tar archive that travels through Ray's object store and is unpacked on each node into
a cache folder named by its content hash (so every trial on that node, and every later
study with the same data, unpacks it once)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metagui.core.errors import MetaguiError

__all__ = ["DATA_FIELDS", "PackedData", "data_path", "materialise", "pack_data"]

DATA_FIELDS = ("root", "path")
"""The task-set fields that name data on disk (an image folder, Omniglot, a CSV file)."""


@dataclass(frozen=True)
class PackedData:
    """A task set's data, packed on the driver: ``source`` is the path the settings name,
    ``digest`` the SHA-256 of the archive, ``archive`` its bytes (or Ray's reference to
    them, resolved by Ray before a worker sees this)."""

    field: str
    source: str
    digest: str
    archive: Any


def data_path(spec_json: str) -> tuple[str, str] | None:
    """``(field, path)`` of the task set's data in a trial's settings, or None (sinusoid)."""
    taskset = json.loads(spec_json).get("taskset", {})
    for field in DATA_FIELDS:
        value = taskset.get(field)
        if isinstance(value, str) and value:
            return field, value
    return None


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The same files give the same archive (and digest) on every machine and every day.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_data(field: str, source: str) -> PackedData:
    """The file or folder at ``source`` as a deterministic tar archive."""
    path = Path(source)
    if not path.exists():
        raise MetaguiError(f"taskset.{field}: {source} does not exist on this machine")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if path.is_file():
            tar.add(path, arcname=path.name, filter=_reset)
        else:
            tar.add(path, arcname=path.name, recursive=False, filter=_reset)
            for item in sorted(path.rglob("*")):
                if item.is_file() or item.is_dir():
                    arcname = f"{path.name}/{item.relative_to(path).as_posix()}"
                    tar.add(item, arcname=arcname, recursive=False, filter=_reset)
    data = buffer.getvalue()
    return PackedData(field, source, hashlib.sha256(data).hexdigest(), data)


def materialise(spec_json: str, packed: PackedData | None, cache: Path) -> str:
    """``spec_json`` with its data path valid on this host: unchanged where the path exists
    here (a shared filesystem), else pointing into ``cache``, unpacked from ``packed``."""
    if packed is None:
        return spec_json
    spec = json.loads(spec_json)
    taskset = spec["taskset"]
    if taskset.get(packed.field) != packed.source or Path(packed.source).exists():
        return spec_json
    archive = packed.archive
    if hashlib.sha256(archive).hexdigest() != packed.digest:
        raise MetaguiError(f"taskset.{packed.field}: the data sent to this host is damaged")
    target = cache / packed.digest
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=f".{packed.digest[:12]}-"))
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
                tar.extractall(staging, filter="data")
            try:
                os.rename(staging, target)  # atomic: another worker may have won the race
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    taskset[packed.field] = str(target / Path(packed.source).name)
    return json.dumps(spec)
