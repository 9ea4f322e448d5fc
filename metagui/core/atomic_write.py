"""Atomic file writes: the one way metagui replaces a file, so that a reader (or the next start
after a crash, a power cut or Ctrl-C) sees either the old file or the whole new one, never half.

Every file metagui writes for a user goes through here: experiment files, exports, the app's
settings, checkpoints, the Omniglot download. The bytes go to a temporary file in the target's
folder, named ``.<name>.<random>.tmp`` and created exclusively (two writers of the same file never
share one), which is flushed and fsync'ed, renamed over the target (``os.replace``: atomic on
POSIX and Windows), and then the folder is fsync'ed where the OS allows, so that the rename
itself survives a power cut. On any failure, ``KeyboardInterrupt`` included, the temporary file
is removed and the target is left as it was.

:func:`write_bytes_atomic` and :func:`write_text_atomic` write what is in memory;
:func:`atomic_writer` yields the binary file for a writer that streams (a download).
:func:`partial_writes` finds the temporary files that a killed process left behind.

A failure of the write itself raises :class:`~metagui.core.errors.FileWriteError`, both an
``OSError`` and a :class:`~metagui.core.errors.MetaguiError` whose message names the file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from metagui.core.errors import FileWriteError

__all__ = ["atomic_writer", "partial_writes", "write_bytes_atomic", "write_text_atomic"]

_SUFFIX = ".tmp"
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see the module); return the path. The folder
    must exist."""
    target = Path(path)
    with atomic_writer(target) as file:
        try:
            file.write(data)
        except OSError as exc:  # e.g. the disk is full
            raise _write_error(target, exc) from exc
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``text`` atomically (see the module), line endings as given;
    return the path. The folder must exist."""
    return write_bytes_atomic(path, text.encode(encoding))


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` when the
    ``with`` block ends normally. An exception in the block removes the temporary file, leaves
    ``path`` as it was and propagates unchanged."""
    target = Path(path)
    temporary, file = _create_temporary(target)
    try:
        with file:
            yield file
            try:
                file.flush()
                os.fsync(file.fileno())
            except OSError as exc:
                raise _write_error(target, exc) from exc
        try:
            os.replace(temporary, target)
        except OSError as exc:
            raise _write_error(target, exc) from exc
    except BaseException:  # KeyboardInterrupt too: never leave a temporary file behind
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def partial_writes(folder: str | os.PathLike[str], name_pattern: str = "*") -> list[Path]:
    """The temporary files that writes of files matching ``name_pattern`` (a glob, e.g.
    ``"*.pt"``) in ``folder`` left behind when their process was killed. Only the process that
    owns the folder's writes may remove them: another one's write may still be running."""
    return sorted(Path(folder).glob(f".{name_pattern}.*{_SUFFIX}"))


def _create_temporary(target: Path) -> tuple[Path, BinaryIO]:
    """A new, empty temporary file beside ``target`` and its open binary file. ``O_EXCL``
    makes the name this writer's alone; ``os.open`` applies the umask, so the file ends up with
    the permissions of any new file (``tempfile.mkstemp`` would make it private)."""
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}{_SUFFIX}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            continue  # another writer drew the same name: draw again
        except OSError as exc:
            raise _write_error(target, exc) from exc
        return temporary, os.fdopen(fd, "wb")


def _write_error(target: Path, exc: OSError) -> FileWriteError:
    return FileWriteError(f"{target}: cannot write ({exc.strerror or exc})")


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable. Windows cannot open a folder, and some file
    systems refuse to sync one: the rename has happened all the same, so that is no error."""
    if os.name == "nt":
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
