"""The event bus interface, shared by the JetStream bus and the in-memory one."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self
from uuid import UUID

from proctor.core.errors import ConfigurationError
from proctor.events.model import Event, WireEvent
from proctor.events.names import NameFilter, compile_filter
from proctor.events.naming import Naming

if TYPE_CHECKING:
    from proctor.events.bus.consumer import ConsumerOptions, DurableConsumer

__all__ = (
    "EventBus",
    "EventStreamConfig",
    "EventSubscription",
    "PublishReceipt",
    "StartAt",
    "StreamStats",
    "compile_filters",
)

StartAt = Literal["new", "all"] | datetime
"""Where a subscription starts: only new events, every stored event, or those since a time."""


@dataclass(frozen=True, slots=True)
class EventStreamConfig:
    """How long events are kept and how long a re-sent event is recognised as a duplicate."""

    max_age: timedelta = timedelta(days=7)
    duplicate_window: timedelta = timedelta(minutes=10)
    max_bytes: int = -1
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0):
            raise ConfigurationError("event stream max_age must be positive", setting="max_age")
        if not timedelta(0) < self.duplicate_window <= self.max_age:
            raise ConfigurationError(
                "event stream duplicate_window must be positive and at most max_age",
                setting="duplicate_window",
            )
        if self.replicas not in (1, 3, 5):
            raise ConfigurationError("event stream replicas must be 1, 3 or 5", setting="replicas")


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    """The broker's acknowledgement: the event is durably stored at ``sequence``."""

    event_id: UUID
    sequence: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What the event stream holds now."""

    messages: int
    first_sequence: int
    last_sequence: int


def compile_filters(filters: Sequence[str | NameFilter]) -> tuple[NameFilter, ...]:
    """Name filters from strings (``">"`` when none are given)."""
    if not filters:
        return (compile_filter(">"),)
    return tuple(f if isinstance(f, NameFilter) else compile_filter(f) for f in filters)


class EventSubscription(ABC):
    """A live feed of events matching some name filters; iterate it, then ``close()`` it."""

    def __init__(self, filters: tuple[NameFilter, ...]) -> None:
        self.filters = filters
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def next(self, timeout_s: float) -> Event:
        """The next event, or ``TimeoutError`` after ``timeout_s`` seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout_s)

    def _deliver(self, event: Event) -> None:
        if not self._closed and any(f.matches(event.event) for f in self.filters):
            self._queue.put_nowait(event)

    async def close(self) -> None:
        """Stop the feed; iteration ends after the events already received."""
        if not self._closed:
            self._closed = True
            await self._stop()
            self._queue.put_nowait(None)

    @abstractmethod
    async def _stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class EventBus(ABC):
    """Publishes events durably and feeds them to subscribers by name filter."""

    naming: Naming

    @abstractmethod
    async def publish(self, event: Event) -> PublishReceipt:
        """Store ``event``; return once it is acknowledged. A re-sent event is stored once."""

    @abstractmethod
    async def publish_many(self, events: Sequence[Event | WireEvent]) -> list[PublishReceipt]:
        """Store ``events`` (pipelined where the backend can); receipts in the same order.

        An event may come already serialised (``WireEvent``): it is stored as those bytes."""

    @abstractmethod
    async def subscribe(
        self, *filters: str | NameFilter, start: StartAt = "new"
    ) -> EventSubscription:
        """A live feed of the events whose names match any of ``filters`` (all when none)."""

    @abstractmethod
    async def durable_consumer(
        self, purpose: str, *filters: str | NameFilter, options: ConsumerOptions | None = None
    ) -> DurableConsumer:
        """The durable consumer ``naming.consumer(purpose)`` of events matching ``filters``
        (all when none), created on first use; it resumes where it was acknowledged."""

    @abstractmethod
    async def stats(self) -> StreamStats:
        """How many events the stream holds."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection. Publishing afterwards is an error."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
