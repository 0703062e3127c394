"""Raw access to a nats-py connection for hot paths: a subscription's messages as bytes, and
protocol frames written as one command.

nats-py turns every incoming message into a ``Msg`` (headers parsed with the e-mail parser,
two subjects decoded), queues it, and hands it to a callback coroutine or a waiting task:
about 20-60 us a message. ``subscribe_raw`` hands a subscription's messages to a plain
function as the bytes the protocol parser read (a few us). nats-py still owns the
subscription (its ``SUB``, its renewal after a reconnect, its ``UNSUB``); only the dispatch is
replaced, by routing the connection's ``_process_msg`` through a table of subscription ids.

This uses nats-py internals (``Client._process_msg``, ``_send_command``, ``_flush_pending``):
nats-py is pinned, and the JetStream consumer tests cover this path.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from proctor.core.errors import BrokerUnavailableError, BusError

__all__ = ("RawHandler", "route", "send_frames", "subscribe_raw", "unroute", "unsubscribe_raw")

log = logging.getLogger(__name__)

RawHandler = Callable[[bytes, bytes, bytes, bytes | None], None]
"""Called with ``subject, reply, data, headers`` (``headers``: the raw header block or None).
It runs inside the connection's read loop: it must be quick, and must not raise."""


class _Router:
    """Takes over a connection's message dispatch for the subscriptions in ``routes``."""

    __slots__ = ("_nc", "_original", "routes")

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._original: Callable[..., Awaitable[None]] = nc._process_msg
        self.routes: dict[int, RawHandler] = {}
        nc._process_msg = self._process  # type: ignore[method-assign]

    async def _process(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = self.routes.get(sid)
        if handler is None:
            await self._original(sid, subject, reply, data, headers)
            return
        stats = self._nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        try:
            handler(subject, reply, data, headers)
        except Exception:  # never break the connection's read loop
            log.exception("handling a message on %r failed", subject)


_ROUTER_ATTRIBUTE = "_proctor_raw_router"


def _router(nc: NatsClient) -> _Router:
    """The connection's router, made on first use. Kept on the connection rather than found
    through ``_process_msg``: something else may wrap that after it (and chain to it)."""
    router = getattr(nc, _ROUTER_ATTRIBUTE, None)
    if not isinstance(router, _Router):
        router = _Router(nc)
        setattr(nc, _ROUTER_ATTRIBUTE, router)
    return router


def route(nc: NatsClient, sid: int, handler: RawHandler) -> None:
    """Hand subscription ``sid``'s messages to ``handler`` as nats-py's parser reads them."""
    _router(nc).routes[sid] = handler


def unroute(nc: NatsClient, sid: int) -> None:
    """Give subscription ``sid``'s messages back to nats-py's dispatch."""
    _router(nc).routes.pop(sid, None)


async def subscribe_raw(nc: NatsClient, subject: str, handler: RawHandler) -> Subscription:
    """Subscribe to ``subject``; its messages go to ``handler`` as bytes (see module)."""
    try:
        subscription = await nc.subscribe(subject)
    except nats.errors.ConnectionClosedError:
        raise BusError("the event bus connection is closed") from None
    route(nc, subscription._id, handler)
    return subscription


async def unsubscribe_raw(nc: NatsClient, subscription: Subscription) -> None:
    """Stop routing and remove the subscription (quietly if the connection is gone)."""
    unroute(nc, subscription._id)
    with contextlib.suppress(nats.errors.Error):
        await subscription.unsubscribe()


async def send_frames(nc: NatsClient, frames: bytes, count: int) -> None:
    """Write ``count`` protocol commands (``PUB``...), already framed, as one command.

    While reconnecting they wait in nats-py's buffer, as a publish would (or
    ``BrokerUnavailableError`` when it is full); ``BusError`` when the connection is closed.
    """
    if nc.is_closed:
        raise BusError("the event bus connection is closed")
    if not nc.is_connected and nc._pending_data_size + len(frames) > nc._max_pending_size:
        raise BrokerUnavailableError("NATS is reconnecting and its send buffer is full")
    nc.stats["out_msgs"] += count
    nc.stats["out_bytes"] += len(frames)
    await nc._send_command(frames)
    if nc._flush_queue is not None and nc._flush_queue.empty():  # as nats-py's publish does
        await nc._flush_pending()
