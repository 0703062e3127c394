"""The invariant checker of the chaos tests: every id is delivered once, lost, or duplicated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from uuid import UUID

from proctor.events.bus import EventBus

__all__ = ("DeliveryReport", "classify", "stored_event_ids")


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
