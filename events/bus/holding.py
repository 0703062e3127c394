"""``Holding``: deliveries a consumer's process holds unacknowledged, kept from being
delivered again while it works on them.

The automation engine's and the recorder's consumers use a short ``ack_wait`` (seconds), so
that what a dead replica held comes back to a living one at once. A living replica may hold a
delivery much longer: the engine an event until the checkpoint that saves its state (longer
while the store is slow) or a firing while its actions run and retry, the recorder a batch
while the database is away. ``keep()`` ticks four times per ``ack_wait`` and tells the consumer
that it is still working (``in_progress``) on each delivery not refreshed for half a tick;
younger ones have most of their ``ack_wait`` left. A delivery is thus refreshed at most 1.5 ticks
(3/8 of ``ack_wait``) after it was taken and every tick after that, leaving the event loop more
than half of ``ack_wait`` of slack; the common case, an event acknowledged by the next
checkpoint, costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from proctor.events.bus.consumer import Delivery, DurableConsumer

__all__ = ("Holding",)

log = logging.getLogger(__name__)

TICKS_PER_ACK_WAIT = 4


class Holding:
    """The deliveries of one consumer held by this replica, and their keep-alive."""

    def __init__(
        self,
        consumer: DurableConsumer,
        *,
        on_refresh: Callable[[int], None] = lambda signals: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.interval_s = consumer.options.ack_wait.total_seconds() / TICKS_PER_ACK_WAIT
        self._on_refresh = on_refresh
        """Told how many ``in_progress`` signals each tick sent (one per delivery)."""
        self._clock = clock
        self._since: dict[Delivery, float] = {}
        """Each held delivery -> when it was taken or last refreshed."""

    def __len__(self) -> int:
        return len(self._since)

    def __contains__(self, delivery: Delivery) -> bool:
        return delivery in self._since

    def hold(self, deliveries: Iterable[Delivery]) -> None:
        """Just taken: the consumer's ``ack_wait`` clock started now."""
        self._since.update(dict.fromkeys(deliveries, self._clock()))

    def release(self, deliveries: Iterable[Delivery]) -> None:
        """Acknowledged, or handed back (``nak``), or left to ``ack_wait``: not held."""
        since = self._since
        for delivery in deliveries:
            since.pop(delivery, None)

    async def refresh(self) -> None:
        """One tick: ``in_progress`` for each delivery not refreshed for half a tick."""
        now = self._clock()
        oldest = now - self.interval_s / 2
        due = [delivery for delivery, since in self._since.items() if since <= oldest]
        if not due:
            return
        self._since.update(dict.fromkeys(due, now))
        await self.consumer.in_progress(due)
        self._on_refresh(len(due))

    async def keep(self) -> None:
        """Refresh every tick until cancelled; a failed tick is logged and the next tries
        again (if the broker is gone, so is the replica's claim on what it holds)."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("%s: cannot signal progress (%s)", self.consumer.name, error)
