"""An in-memory event bus with the JetStream bus's behaviour, for unit tests and for users'."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from proctor.core.errors import BusError
from proctor.events.bus.base import (
    EventBus,
    EventSubscription,
    PublishReceipt,
    StartAt,
    StreamStats,
    compile_filters,
)
from proctor.events.bus.consumer import (
    ConsumerOptions,
    DurableConsumer,
    InMemoryDurableConsumer,
    MemoryDurableState,
)
from proctor.events.model import Event, WireEvent
from proctor.events.names import NameFilter
from proctor.events.naming import Naming

__all__ = ("InMemoryEventBus",)


class _MemorySubscription(EventSubscription):
    def __init__(self, bus: InMemoryEventBus, filters: tuple[NameFilter, ...]) -> None:
        super().__init__(filters)
        self._bus = bus

    async def _stop(self) -> None:
        self._bus._subscriptions.discard(self)


class InMemoryEventBus(EventBus):
    """Keeps every event in a list; deduplicates by event id; delivers to subscribers at once.

    Like JetStream it stores a re-sent event once and returns the first sequence number; unlike
    it, nothing survives the process and nothing expires.
    """

    def __init__(self, naming: Naming | None = None) -> None:
        self.naming = naming or Naming()
        self.events: list[Event] = []
        self._sequence_by_id: dict[UUID, int] = {}
        self._subscriptions: set[_MemorySubscription] = set()
        self._durables: dict[str, MemoryDurableState] = {}
        self._closed = False

    async def publish(self, event: Event) -> PublishReceipt:
        if self._closed:
            raise BusError("the in-memory event bus is closed")
        event.to_wire()  # the same size check as on the wire
        known = self._sequence_by_id.get(event.id)
        if known is not None:
            return PublishReceipt(event.id, known, duplicate=True)
        self.events.append(event)
        sequence = len(self.events)
        self._sequence_by_id[event.id] = sequence
        for subscription in list(self._subscriptions):
            subscription._deliver(event)
        for durable in self._durables.values():
            durable.wakeup.set()
        return PublishReceipt(event.id, sequence, duplicate=False)

    async def publish_many(self, events: Sequence[Event | WireEvent]) -> list[PublishReceipt]:
        # All or nothing: validate (and parse) every event before storing any.
        models = [e.to_event() if isinstance(e, WireEvent) else e for e in events]
        for event in models:
            event.to_wire()
        return [await self.publish(event) for event in models]

    async def subscribe(
        self, *filters: str | NameFilter, start: StartAt = "new"
    ) -> EventSubscription:
        subscription = _MemorySubscription(self, compile_filters(filters))
        if start != "new":
            for event in self.events:
                if start == "all" or (isinstance(start, datetime) and event.occurred >= start):
                    subscription._deliver(event)
        self._subscriptions.add(subscription)
        return subscription

    async def durable_consumer(
        self, purpose: str, *filters: str | NameFilter, options: ConsumerOptions | None = None
    ) -> DurableConsumer:
        if self._closed:
            raise BusError("the in-memory event bus is closed")
        options = options or ConsumerOptions()
        name = self.naming.consumer(purpose)
        state = self._durables.get(name)
        if state is None:
            state = self._durables[name] = MemoryDurableState()
            if options.start == "new":
                state.next_index = len(self.events)
            elif isinstance(options.start, datetime):
                start = options.start
                state.next_index = next(
                    (i for i, e in enumerate(self.events) if e.occurred >= start), len(self.events)
                )
        return InMemoryDurableConsumer(self, name, compile_filters(filters), options, state)

    async def stats(self) -> StreamStats:
        count = len(self.events)
        return StreamStats(messages=count, first_sequence=1 if count else 0, last_sequence=count)

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
