"""The one way a metagui object that holds a resource (a history's connection) becomes a context
manager: define ``close()`` and inherit :class:`Closable`, so ``with HistoryReader(path) as
reader:`` closes it however the block ends. ``close()`` must be safe to call twice."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["Closable"]


class Closable(ABC):
    """A ``close()``-based context manager: ``__enter__`` returns the object itself and
    ``__exit__`` calls :meth:`close`; exceptions in the ``with`` block propagate."""

    __slots__ = ()

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds; calling it again does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
