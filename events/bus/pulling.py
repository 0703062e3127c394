"""Pull requests and acknowledgements of one JetStream pull consumer, over one inbox.

A fetch is one request on ``<api>.CONSUMER.MSG.NEXT.<stream>.<consumer>``:
``{"batch": n, "expires": ns, "no_wait": true}``. The server waits until it has at least one
message (or ``expires``), sends what it has up to ``n``, and ends the request with a status
on the request's reply subject: 404 (nothing more now), 408 (expired), 409 (the consumer was
deleted, its leader changed...); a request whose batch is full just ends. The deliveries
themselves come on their own subjects, to the same subscription, each with its ack subject.
nats-py's ``fetch`` speaks the same protocol with a subscription per call, and a task and a
timeout per message; here the inbox lives as long as the consumer and takes messages as bytes
(``wire.subscribe_raw``).

Deliveries that come while no fetch waits (its caller gave up on it, or crossed its expiry
on the way) are kept for the next fetch: they were delivered, their ``ack_wait`` runs.

``settle`` sends one acknowledgement (``+ACK``, ``-NAK``, ``+WPI``) per delivery in one
write; the last one asks for a reply, which the server sends once it has processed it, and
so (one connection's acknowledgements are processed in order) every one before it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import NamedTuple

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from proctor.core.errors import BrokerUnavailableError, BusError
from proctor.events.bus.wire import send_frames, subscribe_raw, unsubscribe_raw

__all__ = ("ACK", "IN_PROGRESS", "NAK", "PullInbox", "Pulled", "stream_position")

ACK = b"+ACK"
NAK = b"-NAK"
IN_PROGRESS = b"+WPI"
_ENDS_REQUEST = (b"404", b"408")
_ENDED_EARLY = b"409"
_HEARTBEAT = b"100"
_NO_RESPONDERS = b"503"


class Pulled(NamedTuple):
    """One delivery as it came: its subject, its ack subject, its body."""

    subject: bytes
    reply: bytes
    data: bytes


def stream_position(reply: bytes) -> tuple[int, int] | None:
    """``(stream sequence, times delivered)`` from an ack subject, ``None`` if it is not one.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sequence>.<consumer seq>.<time>.<pending>``, or
    with ``<domain>.<account hash>.`` after ``ACK`` (and a random token at the end).
    """
    tokens = reply.split(b".")
    if len(tokens) == 9:
        delivered, sequence = tokens[4], tokens[5]
    elif len(tokens) in (11, 12):
        delivered, sequence = tokens[6], tokens[7]
    else:
        return None
    if tokens[0] != b"$JS" or tokens[1] != b"ACK" or not (sequence + delivered).isdigit():
        return None
    return int(sequence), int(delivered)


def _pub(subject: bytes, body: bytes, *, reply: bytes = b"") -> bytes:
    """One ``PUB`` command."""
    if reply:
        return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(body), body)
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(body), body)


class _Pull:
    """The request a fetch waits on."""

    __slots__ = ("batch", "done", "error", "received", "token")

    def __init__(self, token: bytes, batch: int, done: asyncio.Future[None]) -> None:
        self.token = token
        self.batch = batch
        self.done = done
        self.received = 0
        self.error: BusError | None = None

    def end(self, error: BusError | None = None) -> None:
        if not self.done.done():
            self.error = error
            self.done.set_result(None)


class PullInbox:
    """Fetches from, and acknowledges to, the durable pull consumer ``consumer``."""

    def __init__(self, nc: NatsClient, api_prefix: str, stream: str, consumer: str) -> None:
        self._nc = nc
        self._consumer = consumer
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}".encode()
        self._inbox = b""
        self._subscription: Subscription | None = None
        self._tokens = itertools.count()
        self._ready: list[Pulled] = []
        self._pull: _Pull | None = None
        self._replies: dict[bytes, asyncio.Future[None]] = {}
        self._fetching = asyncio.Lock()

    async def open(self) -> None:
        inbox = self._nc.new_inbox()
        self._subscription = await subscribe_raw(self._nc, f"{inbox}.*", self._on_message)
        self._inbox = f"{inbox}.".encode()

    def _on_message(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        if reply:  # a delivery: its reply subject is where its acknowledgement goes
            self._ready.append(Pulled(subject, reply, data))
            pull = self._pull
            if pull is not None:
                pull.received += 1
                if pull.received >= pull.batch:
                    pull.end()
            return
        token = subject[len(self._inbox) :]
        status = headers[9:12] if headers is not None and headers[8:9] == b" " else None
        pull = self._pull
        if pull is not None and pull.token == token:
            if status is not None:  # b"NATS/1.0 404 No Messages\r\n..."
                self._status(pull, status, headers or b"")
            return
        waiter = self._replies.pop(token, None)  # else: the end of a request given up on
        if waiter is None or waiter.done():
            return
        if status == _NO_RESPONDERS:
            waiter.set_exception(self._gone("acknowledgements"))
        else:  # the server processed a batch's acknowledgements
            waiter.set_result(None)

    def _gone(self, what: str) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"durable consumer {self._consumer!r} does not answer {what}: it was deleted, "
            "or its stream's leader is being elected"
        )

    def _status(self, pull: _Pull, code: bytes, headers: bytes) -> None:
        status = headers[9:].split(b"\r\n", 1)[0].decode(errors="replace")  # "409 Consumer..."
        if code in _ENDS_REQUEST:
            pull.end()
        elif code == _ENDED_EARLY:  # deleted, leader changed, a limit...: say so, unless
            pull.end(  # the request brought something (then the next fetch will tell)
                None
                if pull.received
                else BrokerUnavailableError(
                    f"JetStream ended a fetch from durable consumer {self._consumer!r}: {status}"
                )
            )
        elif code == _NO_RESPONDERS:
            pull.end(self._gone("fetches"))
        elif code != _HEARTBEAT:
            pull.end(BusError(f"JetStream refused a fetch from {self._consumer!r}: {status}"))

    async def fetch(self, batch: int, timeout_s: float, *, prefetch: bool = False) -> list[Pulled]:
        """Up to ``batch`` deliveries, as soon as there is one; ``[]`` after ``timeout_s``.

        ``prefetch``: when this fetch fills its batch, ask for the next one before returning,
        so the server sends it while the caller handles this one (a busy consumer then never
        waits a round trip). What comes sits here, delivered: its ``ack_wait`` runs, so only
        a consumer that comes back for more within it should prefetch."""
        async with self._fetching:
            if self._subscription is None:
                raise BusError(f"durable consumer {self._consumer!r} is closed")
            pull = self._pull
            if pull is not None and pull.done.done():  # a prefetch that ended meanwhile
                self._pull = None
                if pull.error is not None and not self._ready:
                    raise pull.error
                pull = None
            if not self._ready:
                await self._wait(pull or await self._request(batch, timeout_s), timeout_s)
            taken, self._ready = self._ready[:batch], self._ready[batch:]
            if prefetch and len(taken) == batch and self._pull is None:
                await self._request(batch, timeout_s)
            return taken

    async def _request(self, batch: int, timeout_s: float) -> _Pull:
        """Send a pull request for ``batch``; its deliveries come to ``_ready``."""
        token = str(next(self._tokens)).encode()
        pull = _Pull(token, batch, asyncio.get_running_loop().create_future())
        # The server ends the request just before the caller would stop waiting for it.
        expires_ns = max(int(timeout_s * 1e9) - 1_000_000, 1_000_000)
        body = b'{"batch":%d,"expires":%d,"no_wait":true}' % (batch, expires_ns)
        self._pull = pull
        try:
            await send_frames(
                self._nc, _pub(self._next_subject, body, reply=self._inbox + token), 1
            )
        except BaseException:
            self._pull = None
            raise
        return pull

    async def _wait(self, pull: _Pull, timeout_s: float) -> None:
        """Wait until ``pull`` ends (its batch is full, or the server ended it), at most
        ``timeout_s``; then it is given up (what it still brings is kept)."""
        timer = asyncio.get_running_loop().call_later(timeout_s, pull.end)
        try:
            await pull.done
        finally:
            timer.cancel()
            if self._pull is pull:
                self._pull = None
        if pull.error is not None:
            raise pull.error

    async def settle(self, replies: Sequence[bytes], body: bytes, timeout_s: float) -> None:
        """Send ``body`` to each ack subject; return once the server has processed them all
        (``BrokerUnavailableError`` if it has not confirmed within ``timeout_s``)."""
        if not replies:
            return
        ending = b" %d\r\n%s\r\n" % (len(body), body)  # all but the last: b"PUB <reply>" + ending
        frames = b"PUB " + (ending + b"PUB ").join(replies[:-1]) + ending if replies[1:] else b""
        if self._subscription is None:  # closed: no inbox for the reply; a flush confirms less
            await send_frames(self._nc, frames + _pub(replies[-1], body), len(replies))
            await self._flush(timeout_s)
            return
        token = b"a" + str(next(self._tokens)).encode()
        waiter = asyncio.get_running_loop().create_future()
        self._replies[token] = waiter
        try:
            last = _pub(replies[-1], body, reply=self._inbox + token)
            await send_frames(self._nc, frames + last, len(replies))
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            raise BrokerUnavailableError(
                f"JetStream did not confirm {len(replies)} acknowledgements within {timeout_s:g} s"
            ) from None
        finally:
            self._replies.pop(token, None)

    async def _flush(self, timeout_s: float) -> None:
        try:
            await self._nc.flush(timeout=max(1, round(timeout_s)))
        except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as error:
            raise BrokerUnavailableError(
                f"acknowledgements not confirmed: {type(error).__name__}"
            ) from None

    async def close(self) -> None:
        """Stop fetching (what was delivered and not acknowledged comes again)."""
        subscription, self._subscription = self._subscription, None
        self._ready = []
        if self._pull is not None:
            self._pull.end(BusError(f"durable consumer {self._consumer!r} is closed"))
        if subscription is not None:
            await unsubscribe_raw(self._nc, subscription)
