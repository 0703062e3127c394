"""Load for chaos tests: bursts of uniquely identified events, with a fault injected mid-way."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from proctor.events.bus import EventBus
from proctor.events.model import Event

__all__ = ("Burst", "burst_through", "make_events")


def make_events(count: int, name: str = "chaos.burst") -> list[Event]:
    """``count`` events with unique ids (the ids the checker follows)."""
    return [
        Event.build(name, {"proctor.resource.id": f"r{i}"}, payload={"i": i}) for i in range(count)
    ]


@dataclass(frozen=True, slots=True)
class Burst:
    acknowledged: list[Event]
    longest_gap_s: float
    """The longest wait between two acknowledged chunks: the outage the publisher saw."""


async def burst_through(
    bus: EventBus,
    events: list[Event],
    fault: Callable[[], Awaitable[object]],
    *,
    fault_after: int,
    chunk: int = 100,
    timeout_s: float = 90.0,
) -> Burst:
    """Publish ``events`` in chunks; inject ``fault`` once ``fault_after`` are acknowledged."""
    acknowledged: list[Event] = []
    acks_at = [time.monotonic()]
    reached = asyncio.Event()

    async def publish() -> None:
        for first in range(0, len(events), chunk):
            part = events[first : first + chunk]
            await bus.publish_many(part)
            acknowledged.extend(part)
            acks_at.append(time.monotonic())
            if len(acknowledged) >= fault_after:
                reached.set()

    publisher = asyncio.create_task(publish())
    try:
        await asyncio.wait_for(reached.wait(), timeout_s)
        await fault()
        await asyncio.wait_for(asyncio.shield(publisher), timeout_s)
    finally:
        publisher.cancel()
    gaps = [later - earlier for earlier, later in itertools.pairwise(acks_at)]
    return Burst(acknowledged, max(gaps))
