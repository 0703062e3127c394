"""Durable consumers: a named position in the event stream that survives restarts.

Fetch a batch, process it, then ``ack`` it. A delivery not acknowledged within ``ack_wait``
(the process crashed, or it asked for more time too rarely) is delivered again, with its
``attempt`` raised. After ``max_deliver`` attempts it is never delivered again: a consumer
that cannot handle a delivery whose ``is_last_attempt`` is true must dead-letter it itself.

Two implementations with one contract: ``JetStreamDurableConsumer`` (a JetStream pull
consumer, named by ``Naming.consumer(purpose)``) and ``InMemoryDurableConsumer`` (its twin on
the in-memory bus). Get one from ``EventBus.durable_consumer(purpose, *filters)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, cast

import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext, api

from proctor.core.errors import BusError, ConfigurationError
from proctor.events.bus.pulling import ACK, IN_PROGRESS, NAK, PullInbox, stream_position
from proctor.events.bus.retrying import with_retries
from proctor.events.model import Event
from proctor.events.names import NameFilter, NameFilters

if TYPE_CHECKING:
    from proctor.events.bus.memory import InMemoryEventBus

__all__ = (
    "ConsumerOptions",
    "ConsumerState",
    "Delivery",
    "DurableConsumer",
    "InMemoryDurableConsumer",
    "JetStreamDurableConsumer",
    "MemoryDurableState",
    "start_at",
)

log = logging.getLogger(__name__)

_CONFIRM_TIMEOUT_S = 5.0
"""How long a batch's acknowledgements may go unconfirmed before ``BrokerUnavailableError``."""


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """How a durable consumer redelivers. ``start`` applies only when it is first created."""

    ack_wait: timedelta = timedelta(seconds=30)
    max_deliver: int = 10
    max_ack_pending: int = 20_000
    start: Literal["all", "new"] | datetime = "all"
    prefetch: bool = False
    """Ask for the next batch as soon as one fills, so the server sends it while this one
    is handled (JetStream). Only for a consumer that comes back for more well within
    ``ack_wait``: what was prefetched is delivered, and nothing keeps it alive."""

    def __post_init__(self) -> None:
        if self.ack_wait < timedelta(milliseconds=100):
            raise ConfigurationError("consumer ack_wait must be at least 0.1 s", setting="ack_wait")
        if self.max_deliver < 1:
            raise ConfigurationError(
                "consumer max_deliver must be at least 1 (a dead-letter path needs a limit)",
                setting="max_deliver",
            )
        if self.max_ack_pending < 1:
            raise ConfigurationError(
                "consumer max_ack_pending must be at least 1", setting="max_ack_pending"
            )


@dataclass(frozen=True, slots=True, eq=False)
class Delivery:
    """One message handed to a durable consumer: the raw event bytes and where they sit."""

    sequence: int
    """Stream sequence of the message (``PublishReceipt.sequence`` of its event)."""
    event_name: str
    data: bytes
    attempt: int
    """1 on first delivery, 2 on the first redelivery..."""
    max_deliver: int
    handle: object = field(repr=False)

    @property
    def is_last_attempt(self) -> bool:
        """True when this delivery will not come again if it is not acknowledged."""
        return self.attempt >= self.max_deliver

    def decode(self) -> Event:
        """The event, or ``EventError`` when the bytes are not a valid event."""
        return Event.from_wire(self.data)


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """Where a durable consumer stands in its stream."""

    name: str
    delivered_through: int
    """Stream sequence of the last message delivered at least once."""
    ack_floor: int
    """Every message at or below this stream sequence is acknowledged (or given up)."""
    pending: int
    """Matching messages not delivered yet."""
    ack_pending: int
    """Messages delivered and not acknowledged yet."""


class DurableConsumer(ABC):
    """A named, restartable position in the event stream, consumed in batches."""

    def __init__(self, name: str, filters: tuple[NameFilter, ...], options: ConsumerOptions):
        self.name = name
        self.filters = filters
        self.options = options
        self._wanted = NameFilters(filters)

    async def fetch(self, max_messages: int = 500, *, timeout_s: float = 1.0) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, as soon as there is at least one; ``[]`` when
        nothing came within ``timeout_s``. Messages a ``prefix*`` filter rejects are
        acknowledged here and never returned."""
        if max_messages < 1:
            raise ConfigurationError("fetch max_messages must be at least 1", setting="batch")
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            deliveries = await self._fetch(max_messages, remaining)
            wanted = [d for d in deliveries if self._wanted(d.event_name)]
            if len(wanted) < len(deliveries):
                kept = {id(d) for d in wanted}
                await self.ack([d for d in deliveries if id(d) not in kept])
            if wanted:
                return wanted

    @abstractmethod
    async def _fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]: ...

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge: these will not be delivered again. Acking twice is harmless."""

    @abstractmethod
    async def nak(self, deliveries: Sequence[Delivery], *, delay: timedelta | None = None) -> None:
        """Deliver these again, after ``delay`` (at once when ``None``)."""

    @abstractmethod
    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        """Still working on these: restart their ``ack_wait`` clock."""

    @abstractmethod
    async def state(self) -> ConsumerState:
        """Where the consumer stands."""

    @abstractmethod
    async def close(self) -> None:
        """Stop fetching. The durable position stays; unacked deliveries come again."""

    @abstractmethod
    async def delete(self) -> None:
        """Forget the durable position: a consumer opened again under this name starts over."""


def start_at(config: api.ConsumerConfig, start: Literal["all", "new"] | datetime) -> None:
    """Set where a new JetStream consumer starts: every stored message, new ones only, or
    the first stored at or after a time."""
    if isinstance(start, datetime):
        config.deliver_policy = api.DeliverPolicy.BY_START_TIME
        config.opt_start_time = start
    else:
        config.deliver_policy = api.DeliverPolicy.ALL if start == "all" else api.DeliverPolicy.NEW


class JetStreamDurableConsumer(DurableConsumer):
    """A durable JetStream pull consumer with explicit acks (fetched through ``PullInbox``)."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        stream: str,
        prefix: str,
        name: str,
        filters: tuple[NameFilter, ...],
        options: ConsumerOptions,
    ) -> None:
        super().__init__(name, filters, options)
        self._nc = nc
        self._js = js
        self._stream = stream
        self._prefix = prefix
        self._inbox = PullInbox(nc, js._prefix, stream, name)

    async def open(self, *, deadline_s: float = 30.0) -> None:
        """Create the consumer (or update an existing one's limits) and bind to it.

        Retried through a moment JetStream cannot answer (a cluster electing its meta leader
        takes a few seconds after the leader's node dies); ``BrokerUnavailableError`` (a
        ``BusError``) once a call has gone unanswered for ``deadline_s``.
        """
        subjects = sorted({f.subject(self._prefix) for f in self.filters})
        config = api.ConsumerConfig(
            durable_name=self.name,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.options.ack_wait.total_seconds(),
            max_deliver=self.options.max_deliver,
            max_ack_pending=self.options.max_ack_pending,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )
        try:
            existing = await with_retries(
                lambda: self._js.consumer_info(self._stream, self.name),
                f"reading durable consumer {self.name!r}",
                deadline_s=deadline_s,
            )
        except nats.js.errors.NotFoundError:
            start_at(config, self.options.start)
        else:  # where it starts is fixed at creation; the limits may change
            config.deliver_policy = existing.config.deliver_policy
            config.opt_start_time = existing.config.opt_start_time
        try:
            await with_retries(
                lambda: self._js.add_consumer(self._stream, config),
                f"creating durable consumer {self.name!r}",
                deadline_s=deadline_s,
            )
        except nats.js.errors.APIError as error:
            raise BusError(f"JetStream refused durable consumer {self.name!r}: {error}") from None
        await self._inbox.open()

    async def _fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        pulled = await self._inbox.fetch(
            max_messages, max(timeout_s, 0.01), prefetch=self.options.prefetch
        )
        start, max_deliver = len(self._prefix) + 1, self.options.max_deliver
        deliveries: list[Delivery] = []
        for subject, reply, data in pulled:
            position = stream_position(reply)
            if position is None:  # not from JetStream: never acknowledged, never handed out
                log.warning("durable consumer %r: skipped a message on %r", self.name, subject)
                continue
            name = subject[start:].decode()
            deliveries.append(Delivery(position[0], name, data, position[1], max_deliver, reply))
        return deliveries

    async def _settle(self, deliveries: Sequence[Delivery], body: bytes) -> None:
        replies = cast("list[bytes]", [d.handle for d in deliveries])
        # Not confirmed: what was not acknowledged is delivered again (recording is
        # idempotent), so a BrokerUnavailableError is a warning for the caller, not a loss.
        await self._inbox.settle(replies, body, _CONFIRM_TIMEOUT_S)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await self._settle(deliveries, ACK)

    async def nak(self, deliveries: Sequence[Delivery], *, delay: timedelta | None = None) -> None:
        if delay is None or delay <= timedelta(0):
            await self._settle(deliveries, NAK)
        else:
            nanoseconds = int(delay.total_seconds() * 1e9)
            await self._settle(deliveries, NAK + b' {"delay":%d}' % nanoseconds)

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        await self._settle(deliveries, IN_PROGRESS)

    async def state(self) -> ConsumerState:
        info = await self._js.consumer_info(self._stream, self.name)
        return ConsumerState(
            name=self.name,
            delivered_through=(info.delivered.stream_seq or 0) if info.delivered else 0,
            ack_floor=(info.ack_floor.stream_seq or 0) if info.ack_floor else 0,
            pending=info.num_pending or 0,
            ack_pending=info.num_ack_pending or 0,
        )

    async def close(self) -> None:
        await self._inbox.close()

    async def delete(self) -> None:
        await self.close()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_consumer(self._stream, self.name)


@dataclass
class MemoryDurableState:
    """What the in-memory bus keeps for one durable consumer name."""

    next_index: int = 0
    """How many of ``InMemoryEventBus.events`` have been considered for a first delivery."""
    unacked: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Sequence -> (attempts so far, monotonic time from which it may be delivered again)."""
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


class InMemoryDurableConsumer(DurableConsumer):
    """The in-memory twin: the same acks, redelivery and limits, on ``InMemoryEventBus``."""

    def __init__(
        self,
        bus: InMemoryEventBus,
        name: str,
        filters: tuple[NameFilter, ...],
        options: ConsumerOptions,
        state: MemoryDurableState,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, filters, options)
        self._bus = bus
        self._state = state
        self._clock = clock
        self._closed = False

    def _expire(self, now: float) -> None:
        """Give up on deliveries that used their last attempt (JetStream does the same)."""
        unacked = self._state.unacked
        for sequence, (attempts, due) in list(unacked.items()):
            if attempts >= self.options.max_deliver and due <= now:
                del unacked[sequence]

    def _take(self, max_messages: int) -> list[Delivery]:
        state, now = self._state, self._clock()
        self._expire(now)
        taken = [
            self._deliver(sequence, attempts + 1, now)
            for sequence, (attempts, due) in sorted(state.unacked.items())
            if due <= now
        ][:max_messages]
        events = self._bus.events
        while (
            len(taken) < max_messages
            and state.next_index < len(events)
            and len(state.unacked) < self.options.max_ack_pending
        ):
            state.next_index += 1
            if self._wanted(events[state.next_index - 1].event):
                taken.append(self._deliver(state.next_index, 1, now))
        return taken

    def _deliver(self, sequence: int, attempt: int, now: float) -> Delivery:
        self._state.unacked[sequence] = (attempt, now + self.options.ack_wait.total_seconds())
        event = self._bus.events[sequence - 1]
        return Delivery(
            sequence=sequence,
            event_name=event.event,
            data=event.to_wire(),
            attempt=attempt,
            max_deliver=self.options.max_deliver,
            handle=sequence,
        )

    async def _fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        deadline = self._clock() + timeout_s
        while not self._closed:
            self._state.wakeup.clear()
            taken = self._take(max_messages)
            if taken:
                return taken
            now = self._clock()
            if now >= deadline:
                return []
            dues = [due for _, due in self._state.unacked.values()]
            wake_at = min([deadline, *dues])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state.wakeup.wait(), max(0.0, wake_at - now))
        raise BusError(f"durable consumer {self.name!r} is closed")

    def _unacked(self, deliveries: Sequence[Delivery]) -> list[tuple[int, int]]:
        unacked = self._state.unacked
        return [(d.sequence, unacked[d.sequence][0]) for d in deliveries if d.sequence in unacked]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for sequence, _ in self._unacked(deliveries):
            del self._state.unacked[sequence]

    async def nak(self, deliveries: Sequence[Delivery], *, delay: timedelta | None = None) -> None:
        due = self._clock() + (delay.total_seconds() if delay is not None else 0.0)
        for sequence, attempts in self._unacked(deliveries):
            self._state.unacked[sequence] = (attempts, due)
        self._state.wakeup.set()

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        due = self._clock() + self.options.ack_wait.total_seconds()
        for sequence, attempts in self._unacked(deliveries):
            self._state.unacked[sequence] = (attempts, due)

    async def state(self) -> ConsumerState:
        state = self._state
        self._expire(self._clock())
        floor = min(state.unacked) - 1 if state.unacked else state.next_index
        pending = sum(1 for e in self._bus.events[state.next_index :] if self._wanted(e.event))
        return ConsumerState(
            name=self.name,
            delivered_through=state.next_index,
            ack_floor=floor,
            pending=pending,
            ack_pending=len(state.unacked),
        )

    async def close(self) -> None:
        self._closed = True
        self._state.wakeup.set()

    async def delete(self) -> None:
        await self.close()
        self._bus._durables.pop(self.name, None)
