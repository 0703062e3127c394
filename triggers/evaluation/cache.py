"""``StateCache``: trigger records read through to a store, changed with compare-and-set, each
with a wake-up time for the clock.

A change is a pure function of the current record; the cache applies it and writes the result
with the revision it read, re-reading and re-applying on a conflict (another evaluator wrote
first). Within one evaluator, changes of one record take turns (a striped lock) unless the store
is atomic (never suspends). Each record can ask to be visited at a time (a proactive window's
end, a schedule's next slot, its expiry); one heap holds one pending visit per record.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol, TypeVar

from proctor.core.errors import TriggerStateConflictError
from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.records import Record, StateRef, Versioned

__all__ = ("MAX_ATTEMPTS", "Change", "StateCache")

MAX_ATTEMPTS: Final = 16
"""Compare-and-set attempts on one record before giving up."""
_LOCK_STRIPES: Final = 64
_BACKOFF_S: Final = 0.002
_new_tuple = tuple.__new__  # a named tuple without its own ``__new__`` (a Python function)


class Change(Protocol):
    """The outcome of a change: the new record, or ``None`` to leave it as it is."""

    @property
    def record(self) -> Record | None: ...


C = TypeVar("C", bound=Change)
WakeOf = Callable[[StateRef, Record], datetime | None]


class StateCache:
    """Records by ``StateRef`` over a ``TriggerStateStore``, and when to visit each."""

    def __init__(self, store: TriggerStateStore, wake_of: WakeOf) -> None:
        self.store = store
        self._wake_of = wake_of
        self._records: dict[StateRef, Versioned] = {}
        self.get: Callable[[StateRef], Versioned | None] = self._records.get
        """The cached record of a ref (no store read): the dict's own ``get``, called for
        every count."""
        self._heap: list[tuple[datetime, int, StateRef]] = []
        self._wake: dict[StateRef, datetime] = {}
        self._sequence = itertools.count()
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    def __contains__(self, ref: object) -> bool:
        return ref in self._records

    def keep(self, ref: StateRef, versioned: Versioned) -> None:
        """Cache a record read elsewhere (a scan) and plan its visit."""
        self._records[ref] = versioned
        self.plan(ref, versioned.record)

    def store_now(
        self, ref: StateRef, record: Record, current: Versioned, *, planned: bool = False
    ) -> bool:
        """Save ``record`` (made from the cached ``current``) if the store can at once;
        ``False`` if it cannot (then use ``change``, which reads the record again).
        ``planned``: the caller knows that the visit planned for ``current`` comes no later
        than the one ``record`` needs (so planning is skipped)."""
        try:
            revision = self.store.save_now(ref, record, current[1])  # (its revision)
        except TriggerStateConflictError:
            self._records.pop(ref, None)
            return False
        if revision is None:
            return False
        self._records[ref] = _new_tuple(Versioned, (record, revision))
        if not planned:
            self.plan(ref, record)
        return True

    async def change(self, ref: StateRef, change: Callable[[Record | None], C]) -> C:
        """Apply a pure ``change`` to a record with compare-and-set, retrying on conflict."""
        if self.store.atomic:
            return await self._change(ref, change)
        async with self._locks[hash(ref) % _LOCK_STRIPES]:
            return await self._change(ref, change)

    async def _change(self, ref: StateRef, change: Callable[[Record | None], C]) -> C:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, _BACKOFF_S * attempt))
            current = self._records.get(ref)
            if current is None:
                current = await self.store.load(ref)
                if current is not None:
                    self.keep(ref, current)
            outcome = change(None if current is None else current.record)
            new = outcome.record
            if new is None:
                return outcome
            try:
                revision = await self.store.save(
                    ref, new, None if current is None else current.revision
                )
            except TriggerStateConflictError:
                self._records.pop(ref, None)
                continue
            self._records[ref] = Versioned(new, revision)
            self.plan(ref, new)
            return outcome
        raise TriggerStateConflictError(ref.trigger, expected=None)

    async def delete(self, ref: StateRef) -> None:
        """Forget a record here and in the store (unless it changed since it was read)."""
        current = self._records.pop(ref, None)
        self._wake.pop(ref, None)
        if current is not None:
            with contextlib.suppress(TriggerStateConflictError):
                await self.store.delete(ref, current.revision)

    def drop(self, trigger: str) -> None:
        """Forget every cached record of one trigger (the store keeps them)."""
        for ref in [ref for ref in self._records if ref.trigger == trigger]:
            del self._records[ref]
            self._wake.pop(ref, None)

    # -- visits ----------------------------------------------------------------------------

    def plan(self, ref: StateRef, record: Record) -> None:
        """Make sure ``ref`` is visited by the time ``wake_of`` says (if it says)."""
        wake = self._wake_of(ref, record)
        if wake is None:
            return
        planned = self._wake.get(ref)
        if planned is None or wake < planned:
            self._wake[ref] = wake
            heapq.heappush(self._heap, (wake, next(self._sequence), ref))

    def due(self, now: datetime) -> list[StateRef]:
        """Records whose visit has come, each once; their visits are taken off the plan."""
        found: list[StateRef] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, ref = heapq.heappop(self._heap)
            if self._wake.get(ref) == when:
                del self._wake[ref]
                found.append(ref)
        return found

    def is_planned(self, ref: StateRef) -> bool:
        return ref in self._wake

    def next_visit(self) -> datetime | None:
        """The earliest planned visit."""
        heap = self._heap
        while heap and self._wake.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None
