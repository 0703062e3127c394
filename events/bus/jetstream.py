"""The event bus on NATS JetStream: durable, deduplicated by event id, filtered by subject.

Hot paths (publish, live feeds) use nats-py directly: FastStream adds 3-8x per message there
(see docs/architecture.md). The stream is declared here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from proctor.core.errors import BrokerUnavailableError, BusError
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
from proctor.events.bus.consumer import ConsumerOptions, DurableConsumer, JetStreamDurableConsumer
from proctor.events.bus.retrying import RETRYABLE, with_retries
from proctor.events.model import Event
from proctor.events.names import NameFilter
from proctor.events.naming import Naming

__all__ = ("JetStreamEventBus", "connect_nats", "ensure_event_stream", "ensure_logs_stream")

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
_WINDOW = 1000  # in flight at once; below nats-py's 4000, so publish_async never stalls
_RETRYABLE = RETRYABLE


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


@dataclass(slots=True)
class _Batch:
    events: Sequence[Event]
    messages: list[tuple[str, bytes, dict[str, str]]]
    receipts: list[PublishReceipt | None] = field(default_factory=list)
    last_error: BaseException | None = None

    def __post_init__(self) -> None:
        self.receipts = [None] * len(self.events)


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
        self._publish_deadline_s = publish_deadline_s
        self._attempt_timeout_s = attempt_timeout_s
        self._owns_connection = owns_connection
        self._subscriptions: set[_JetStreamSubscription] = set()

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

    def _message(self, event: Event) -> tuple[str, bytes, dict[str, str]]:
        return (
            self.naming.event_subject(event.event),
            event.to_wire(),
            {MSG_ID_HEADER: str(event.id)},
        )

    async def publish(self, event: Event) -> PublishReceipt:
        subject, data, headers = self._message(event)

        async def attempt() -> PublishReceipt:
            try:
                ack = await self.js.publish(
                    subject,
                    data,
                    timeout=self._attempt_timeout_s,
                    stream=self.naming.events_stream,
                    headers=dict(headers),
                )
            except nats.js.errors.APIError as error:
                if isinstance(error, RETRYABLE):
                    raise
                raise BusError(f"JetStream refused event {event.event!r}: {error}") from None
            return PublishReceipt(event.id, ack.seq, bool(ack.duplicate))

        what = f"publishing {event.event!r} (not confirmed stored)"
        return await with_retries(attempt, what, deadline_s=self._publish_deadline_s)

    async def publish_many(self, events: Sequence[Event]) -> list[PublishReceipt]:
        batch = _Batch(events, [self._message(event) for event in events])  # validate first
        deadline = time.monotonic() + self._publish_deadline_s
        previous: dict[asyncio.Future[api.PubAck], int] | None = None
        # Double-buffered windows: window k+1 is on the wire while window k's acks come in,
        # and at most 3 windows are in flight, below nats-py's stall limit of 4000.
        for first in range(0, len(events), _WINDOW):
            current = await self._send(batch, range(first, min(first + _WINDOW, len(events))))
            if previous is not None:
                await self._settle(batch, previous, deadline)
            previous = current
        if previous is not None:
            await self._settle(batch, previous, deadline)
        return [r for r in batch.receipts if r is not None]

    async def _send(
        self, batch: _Batch, indexes: Iterable[int]
    ) -> dict[asyncio.Future[api.PubAck], int]:
        """Put messages on the wire; a message that could not be sent maps to a failed future."""
        futures: dict[asyncio.Future[api.PubAck], int] = {}
        stream = self.naming.events_stream
        for index in indexes:
            subject, data, headers = batch.messages[index]
            try:
                future = await self.js.publish_async(
                    subject, data, stream=stream, headers=dict(headers)
                )
            except nats.errors.ConnectionClosedError:
                raise BusError("the event bus connection is closed") from None
            except _RETRYABLE as error:
                future = asyncio.get_running_loop().create_future()
                future.set_exception(error)
            futures[future] = index
        return futures

    async def _settle(
        self,
        batch: _Batch,
        futures: dict[asyncio.Future[api.PubAck], int],
        deadline: float,
    ) -> None:
        """Collect acks; re-send (same ids, so no duplicates) whatever was not acknowledged."""
        while futures:
            done, not_done = await asyncio.wait(futures, timeout=self._attempt_timeout_s)
            retry: list[int] = []
            for future in not_done:
                future.cancel()
                retry.append(futures[future])
            for future in done:
                index = futures[future]
                error = future.exception()
                if error is None:
                    ack = future.result()
                    batch.receipts[index] = PublishReceipt(
                        batch.events[index].id, ack.seq, bool(ack.duplicate)
                    )
                elif isinstance(error, _RETRYABLE):
                    batch.last_error = error
                    retry.append(index)
                else:
                    name = batch.events[index].event
                    raise BusError(f"JetStream refused event {name!r}: {error}") from None
            if not retry:
                return
            if time.monotonic() >= deadline:
                raise self._unavailable(batch.last_error or TimeoutError())
            await asyncio.sleep(0.05)
            futures = await self._send(batch, sorted(retry))

    def _unavailable(self, error: BaseException) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"JetStream did not acknowledge within {self._publish_deadline_s:g} s "
            f"({type(error).__name__}); the event was not confirmed stored"
        )

    async def subscribe(
        self, *filters: str | NameFilter, start: StartAt = "new"
    ) -> EventSubscription:
        compiled = compile_filters(filters)
        subscription = _JetStreamSubscription(compiled, self.js)
        subjects = sorted({f.subject(self.naming.events_prefix) for f in compiled})
        config = api.ConsumerConfig(
            filter_subjects=subjects if len(subjects) > 1 else None,
        )
        if isinstance(start, datetime):
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = start
        else:
            config.deliver_policy = (
                api.DeliverPolicy.ALL if start == "all" else api.DeliverPolicy.NEW
            )
        sub = await with_retries(
            lambda: self.js.subscribe(
                subjects[0],
                cb=subscription._on_message,
                stream=self.naming.events_stream,
                ordered_consumer=True,
                config=config,
                deliver_policy=config.deliver_policy,
            ),
            f"subscribing to {', '.join(f.pattern for f in compiled)}",
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
        await consumer.open()
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
        if self._owns_connection and not self.nc.is_closed:
            await self.nc.drain()
