"""The event bus on NATS JetStream: durable, deduplicated by event id, filtered by subject.

Hot paths (publish, live feeds) use nats-py directly: FastStream adds 3-8x per message there
(see docs/architecture.md). The stream is declared here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from proctor.core.errors import BrokerUnavailableError
from proctor.core.settings import mask_url
from proctor.events.bus.base import (
    EventBus,
    EventStreamConfig,
    EventSubscription,
    PublishReceipt,
    StartAt,
    StreamStats,
    compile_filters,
)
from proctor.events.bus.consumer import (
    ConsumerOptions,
    DurableConsumer,
    JetStreamDurableConsumer,
    start_at,
)
from proctor.events.bus.pipeline import PublishPipeline
from proctor.events.bus.retrying import with_retries
from proctor.events.model import Event, WireEvent
from proctor.events.names import NameFilter
from proctor.events.naming import Naming

__all__ = ("JetStreamEventBus", "connect_nats", "ensure_event_stream", "ensure_logs_stream")

log = logging.getLogger(__name__)
_SUBJECTS_KEPT = 1024
"""Event names whose subject a bus keeps ready (state events use a handful)."""


async def _reachable(url: str, timeout_s: float) -> bool:
    """Whether any server in ``url`` (comma-separated for a cluster) accepts a TCP connection."""
    for one in url.split(","):
        parts = urlsplit(one.strip() if "://" in one else f"nats://{one.strip()}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                timeout_s,
            )
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def connect_nats(url: str, *, name: str = "proctor", timeout_s: float = 5.0) -> NatsClient:
    """Connect to NATS, reconnecting forever once connected.

    ``BrokerUnavailableError`` at once if nothing listens at ``url``, or if the first
    connection is not made within ``timeout_s``.
    """

    client: NatsClient | None = None

    async def on_error(error: Exception) -> None:
        log.debug("nats: %s", error)
        if client is None or client._transport is None:
            return
        if client.is_reconnecting or client.is_connecting:
            # A reconnect attempt failed after its TCP connect: nats-py 2.16 would replace its
            # socket without closing it (CPython then closes it with a ResourceWarning).
            client._transport.close()  # type: ignore[no-untyped-call]

    unavailable = BrokerUnavailableError(
        f"cannot connect to NATS at {mask_url(url)}. "
        "Start a server with `proctor server start`, or set PROCTOR_NATS_URL."
    )
    # nats-py retries a first connection forever when reconnects are unlimited: probe first.
    if not await _reachable(url, timeout_s):
        raise unavailable
    try:
        connecting = nats.connect(
            # nats-py reads a string as ONE server: a cluster's comma-separated URL is a list.
            [one.strip() for one in url.split(",") if one.strip()],
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            pending_size=64 * 1024 * 1024,
            error_cb=on_error,
        )
        client = await asyncio.wait_for(connecting, timeout_s)
    except (OSError, nats.errors.Error, TimeoutError):
        raise unavailable from None
    return client


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subject_prefix: str,
    config: EventStreamConfig,
    *,
    retention: api.RetentionPolicy = api.RetentionPolicy.LIMITS,
) -> None:
    """Create the stream ``name`` over ``<subject_prefix>.>``, or update its mutable settings.

    Every stream Proctor uses is declared through here, by the server only: clients never
    redeclare (a redeclaration would overwrite the server's retention).
    """
    wanted = api.StreamConfig(
        name=name,
        subjects=[f"{subject_prefix}.>"],
        storage=api.StorageType.FILE,
        retention=retention,
        max_age=config.max_age.total_seconds(),
        duplicate_window=config.duplicate_window.total_seconds(),
        max_bytes=config.max_bytes,
        num_replicas=config.replicas,
        discard=api.DiscardPolicy.OLD,
    )
    try:
        await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(wanted)
    else:
        await js.update_stream(wanted)


async def ensure_event_stream(
    js: JetStreamContext, naming: Naming, config: EventStreamConfig
) -> None:
    """The event stream: every event, for ``max_age``, deduplicated by event id."""
    await ensure_stream(js, naming.events_stream, naming.events_prefix, config)


async def ensure_logs_stream(
    js: JetStreamContext, naming: Naming, config: EventStreamConfig
) -> None:
    """The run logs stream (``<logs_prefix>.<run id>``), kept apart from events."""
    await ensure_stream(js, naming.logs_stream, naming.logs_prefix, config)


def _describer(events: Sequence[Event | WireEvent]) -> Callable[[int], str]:
    """How a publish names one of ``events`` in its errors."""
    return lambda index: f"event {events[index].event!r}"


class _JetStreamSubscription(EventSubscription):
    def __init__(self, filters: tuple[NameFilter, ...], js: JetStreamContext) -> None:
        super().__init__(filters)
        self._js = js
        self._subs: list[Any] = []

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = Event.from_wire(msg.data)
        except Exception:
            log.warning("skipping an undecodable message on %s", msg.subject)
            return
        self._deliver(event)

    async def _stop(self) -> None:
        for sub in self._subs:
            # Delete the ephemeral consumer now rather than when the server notices it idle.
            # If the connection is already gone, the server will reap it by itself.
            with contextlib.suppress(nats.errors.Error):
                info = await sub.consumer_info()
                await self._js.delete_consumer(info.stream_name, info.name)
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        self._subs.clear()


class JetStreamEventBus(EventBus):
    """Events on a JetStream stream. Make one with ``await JetStreamEventBus.connect(url)``."""

    def __init__(
        self,
        nc: NatsClient,
        naming: Naming,
        *,
        publish_deadline_s: float = 30.0,
        attempt_timeout_s: float = 2.0,
        owns_connection: bool = True,
    ) -> None:
        self.naming = naming
        self.nc = nc
        self.js = nc.jetstream(timeout=attempt_timeout_s)
        self._owns_connection = owns_connection
        self.deadline_s = publish_deadline_s
        """How long publishing, and creating a consumer, retry through an outage (a NATS
        node restarting, a cluster electing a leader) before ``BrokerUnavailableError``."""
        self.pipeline = PublishPipeline(
            nc, attempt_timeout_s=attempt_timeout_s, deadline_s=publish_deadline_s
        )
        """Pipelined publishing to any stream on this connection (events, run logs)."""
        self._subscriptions: set[_JetStreamSubscription] = set()
        self._subjects: dict[str, bytes] = {}  # event name -> its subject

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        naming: Naming | None = None,
        stream: EventStreamConfig | None = None,
        declare: bool = True,
        publish_deadline_s: float = 30.0,
    ) -> JetStreamEventBus:
        """Connect to ``url`` and (unless ``declare=False``) declare the event stream."""
        naming = naming or Naming()
        nc = await connect_nats(url)
        bus = cls(nc, naming, publish_deadline_s=publish_deadline_s)
        try:
            if declare:
                await ensure_event_stream(bus.js, naming, stream or EventStreamConfig())
            else:
                await bus.js.stream_info(naming.events_stream)
        except nats.js.errors.NotFoundError:
            await nc.close()
            raise BrokerUnavailableError(
                f"NATS at {mask_url(url)} has no stream {naming.events_stream!r}: start "
                "`proctor server start` (it declares the stream), or check PROCTOR_NAMESPACE"
            ) from None
        except BaseException:
            await nc.close()
            raise
        return bus

    async def publish(self, event: Event) -> PublishReceipt:
        (receipt,) = await self.publish_many([event])
        return receipt

    async def publish_many(self, events: Sequence[Event | WireEvent]) -> list[PublishReceipt]:
        acks = await self.pipeline.publish(
            self.naming.events_stream, self._messages(events), _describer(events)
        )
        return [
            PublishReceipt(event.id, ack.sequence, ack.duplicate)
            for event, ack in zip(events, acks, strict=True)
        ]

    async def publish_all(self, events: Sequence[Event | WireEvent]) -> None:
        """``publish_many`` without the receipts: returns once every event is stored (the flow
        engine's outboxes publish this way; they need no receipt)."""
        await self.pipeline.store(
            self.naming.events_stream, self._messages(events), _describer(events)
        )

    def _messages(self, events: Sequence[Event | WireEvent]) -> list[tuple[bytes, bytes, bytes]]:
        """Subject, body and ``Nats-Msg-Id`` of each event (serialising, so validating, each)."""
        subjects = self._subjects
        messages: list[tuple[bytes, bytes, bytes]] = []
        for event in events:
            if type(event) is WireEvent:
                _, name, data = event  # unpacked: cheaper than a named tuple's fields
                msg_id = data[7:43]  # ``Event.to_wire()`` bytes begin ``{"id":"<36 characters>"``
            else:
                name, data, msg_id = event.event, event.to_wire(), str(event.id).encode()
            subject = subjects.get(name)
            if subject is None:
                subject = self.naming.event_subject(name).encode()
                if len(subjects) < _SUBJECTS_KEPT:
                    subjects[name] = subject
            messages.append((subject, data, msg_id))
        return messages

    async def subscribe(
        self, *filters: str | NameFilter, start: StartAt = "new"
    ) -> EventSubscription:
        compiled = compile_filters(filters)
        subscription = _JetStreamSubscription(compiled, self.js)
        subjects = sorted({f.subject(self.naming.events_prefix) for f in compiled})

        def attempt() -> Awaitable[JetStreamContext.PushSubscription]:
            # A new config per attempt: nats-py writes its delivery inbox into it, and an
            # attempt that timed out may still have made a consumer pushing to that inbox.
            config = api.ConsumerConfig(filter_subjects=subjects if len(subjects) > 1 else None)
            start_at(config, start)
            return self.js.subscribe(
                subjects[0],
                cb=subscription._on_message,
                stream=self.naming.events_stream,
                ordered_consumer=True,
                config=config,
                deliver_policy=config.deliver_policy,
            )

        sub = await with_retries(
            attempt,
            f"subscribing to {', '.join(f.pattern for f in compiled)}",
            deadline_s=self.deadline_s,
        )
        subscription._subs.append(sub)
        self._subscriptions.add(subscription)
        return subscription

    async def durable_consumer(
        self, purpose: str, *filters: str | NameFilter, options: ConsumerOptions | None = None
    ) -> DurableConsumer:
        consumer = JetStreamDurableConsumer(
            self.nc,
            self.js,
            self.naming.events_stream,
            self.naming.events_prefix,
            self.naming.consumer(purpose),
            compile_filters(filters),
            options or ConsumerOptions(),
        )
        await consumer.open(deadline_s=self.deadline_s)
        return consumer

    async def stats(self) -> StreamStats:
        info = await self.js.stream_info(self.naming.events_stream)
        state = info.state
        return StreamStats(
            messages=state.messages,
            first_sequence=state.first_seq,
            last_sequence=state.last_seq,
        )

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        await self.pipeline.close()
        if self._owns_connection and not self.nc.is_closed:
            await self.nc.drain()
