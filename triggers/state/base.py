"""``TriggerStateStore``: where trigger buckets live between events, with compare-and-set.

Every write names the revision it read (``None``: the record must not exist yet); a store
that holds another revision raises ``TriggerStateConflictError`` and changes nothing. That is
what keeps two engine replicas, or two concurrent evaluations, from losing a count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from proctor.core.errors import TriggerStateConflictError
from proctor.triggers.state.records import Record, StateRef, Versioned

__all__ = ("TriggerStateStore",)


class TriggerStateStore(ABC):
    """Records by ``StateRef``, each with a revision that changes on every write."""

    atomic: ClassVar[bool] = False
    """True when no method ever suspends (awaits I/O): a read-modify-write in one task is then
    atomic, and an evaluator needs no lock around it."""

    @abstractmethod
    async def load(self, ref: StateRef) -> Versioned | None:
        """The record and its revision, or ``None`` if there is none."""

    @abstractmethod
    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        """Write ``record`` if the stored revision is ``revision`` (``None``: absent).

        Returns the new revision; ``TriggerStateConflictError`` if the revision moved.
        """

    @abstractmethod
    async def delete(self, ref: StateRef, revision: int) -> None:
        """Remove the record if its revision is ``revision``; conflict error otherwise."""

    @abstractmethod
    async def scan(self, trigger: str, node: str) -> list[tuple[StateRef, Versioned]]:
        """Every record of one node of one trigger (used when an engine starts)."""

    def save_now(self, ref: StateRef, record: Record, revision: int | None) -> int | None:
        """``save`` without suspending, when the store can (it holds the record in memory);
        ``None`` when it cannot (use ``save``). Raises ``TriggerStateConflictError`` like
        ``save``."""
        return None

    async def save_many(
        self, writes: Sequence[tuple[StateRef, Record, int | None]]
    ) -> list[int | None]:
        """``save`` each ``(ref, record, revision)``; the new revisions, ``None`` for each
        write that lost its compare-and-set. Stores may pipeline the writes."""
        revisions: list[int | None] = []
        for ref, record, revision in writes:
            try:
                revisions.append(await self.save(ref, record, revision))
            except TriggerStateConflictError:
                revisions.append(None)
        return revisions

    async def scan_all(self, trigger: str | None = None) -> list[tuple[StateRef, Versioned]]:
        """Every record (of one trigger, if given): an engine reads them all once when it
        starts instead of one at a time. Stores that cannot list raise ``NotImplementedError``."""
        raise NotImplementedError

    async def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing
        """Release connections the store owns."""
