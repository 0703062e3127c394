"""The invariant checker of the chaos tests: every id is delivered once, lost, or duplicated."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from proctor.events.bus import EventBus

__all__ = ("DeliveryReport", "classify", "dead_letters", "indexed_event_ids", "stored_event_ids")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What became of the ids sent through a system under faults."""

    sent: int
    acknowledged: int
    delivered_once: int
    lost: frozenset[Hashable]
    """Acknowledged, never observed: a broken promise."""
    duplicated: dict[Hashable, int]
    """Observed more than once (id -> times)."""
    unexpected: frozenset[Hashable]
    """Observed, never sent."""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)

    def summary(self) -> str:
        return (
            f"sent {self.sent}, acknowledged {self.acknowledged}, delivered once "
            f"{self.delivered_once}, lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
            f"unexpected {len(self.unexpected)}"
        )


def classify(
    sent: Iterable[Hashable], acknowledged: Iterable[Hashable], observed: Iterable[Hashable]
) -> DeliveryReport:
    """Compare what was sent and acknowledged with what the store or receiver ``observed``.

    A sent but unacknowledged id may or may not be observed (its sender was told nothing).
    """
    sent_ids, acked = set(sent), set(acknowledged)
    counts = Counter(observed)
    return DeliveryReport(
        sent=len(sent_ids),
        acknowledged=len(acked),
        delivered_once=sum(1 for i in acked if counts[i] == 1),
        lost=frozenset(acked - counts.keys()),
        duplicated={i: n for i, n in counts.items() if n > 1},
        unexpected=frozenset(counts.keys() - sent_ids),
    )


async def stored_event_ids(bus: EventBus, timeout_s: float = 10.0) -> list[UUID]:
    """The id of every event the bus's stream holds, duplicates included, in stream order."""
    count = (await bus.stats()).messages
    async with await bus.subscribe(start="all") as feed:
        return [(await feed.next(timeout_s)).id for _ in range(count)]


async def indexed_event_ids(
    database_url: str, names: Iterable[str], *, expected: set[UUID], timeout_s: float = 90.0
) -> list[UUID]:
    """The ids of the events named ``names`` in a store's events index (read straight from
    its database, another process's), once ``expected`` are all there or ``timeout_s`` has
    passed (the checker then names what is missing)."""
    query = text("SELECT id FROM event WHERE event IN :names").bindparams(
        bindparam("names", expanding=True)
    )
    engine = create_async_engine(database_url, poolclass=NullPool)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            async with engine.connect() as connection:
                rows = (await connection.execute(query, {"names": list(names)})).all()
            ids = [UUID(str(row.id)) for row in rows]
            if expected <= set(ids) or time.monotonic() > deadline:
                return ids
            await asyncio.sleep(0.2)  # allow-sleep: polling another process's store
    finally:
        await engine.dispose()


async def dead_letters(database_url: str) -> list[tuple[str, str, str]]:
    """(event name, reason, error) of every message a store's recorder dead-lettered."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT event_name, reason, error FROM dead_letter")
            )
            return [(row.event_name, row.reason, row.error) for row in rows]
    finally:
        await engine.dispose()
