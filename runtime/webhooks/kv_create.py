"""``KeyCreator``: a NATS KV ``create()`` — store a key only if it has no value — in one round
trip and little CPU, for the replay guard's claim on every webhook request.

nats-py's ``KeyValue.create`` cost about 60 us of CPU a call under load: a reply inbox drawn
per request, two ``wait_for`` timers, the acknowledgement parsed into a dataclass. This sends
the same message (the key's subject, ``Nats-Expected-Last-Subject-Sequence: 0``) framed here as
one ``HPUB`` (``wire.send_frames``: no header dictionary encoded per call), with the reply
subject ``<inbox>.<n>`` on one raw subscription (``wire.subscribe_raw``: the answer comes as
bytes, without nats-py's ``Msg``, queue and callback task), and reads the answer without a
JSON parser when it is a plain acknowledgement.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription
from nats.js.client import KV_PRE_TEMPLATE

from proctor.events.bus.wire import send_frames, subscribe_raw

__all__ = ("KeyCreator",)

_CREATE_HEADERS: Final = b"NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n"
_WRONG_LAST_SEQUENCE: Final = (10071, 10164)
_NO_RESPONDERS_HEAD: Final = b"NATS/1.0 503"

_Answer = tuple[bytes, bytes | None]
"""A reply as read: its body, and its raw header block (``None`` without headers)."""


class KeyCreator:
    """Creates keys of the KV bucket ``bucket`` over ``nc``."""

    def __init__(self, nc: NatsClient, bucket: str) -> None:
        self._nc = nc
        self._subjects = KV_PRE_TEMPLATE.format(bucket=bucket).encode()
        self._replies: bytes | None = None
        self._subscription: Subscription | None = None
        self._lock = asyncio.Lock()
        self._next = 0
        self._waiting: dict[bytes, asyncio.Future[_Answer]] = {}

    async def create(self, key: str, value: bytes, *, timeout_s: float) -> bool:
        """Store ``value`` at ``key`` if the key has none: ``True``; ``False`` if it has (a
        deleted key's marker counts: ``KeyValue.create`` tells those apart). Raises nats-py's
        errors (``NoRespondersError``, a JetStream ``APIError``), ``TimeoutError``, or a
        ``BusError`` when the connection is closed."""
        replies = self._replies or await self._subscribe()
        self._next += 1
        token = b"%d" % self._next
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[_Answer] = loop.create_future()
        self._waiting[token] = answer
        expiry: asyncio.TimerHandle | None = None
        size = len(_CREATE_HEADERS)
        frame = b"HPUB %s%s %s%s %d %d\r\n%s%s\r\n" % (
            self._subjects, key.encode(), replies, token, size, size + len(value),
            _CREATE_HEADERS, value,
        )  # fmt: skip
        try:
            await send_frames(self._nc, frame, 1)
            expiry = loop.call_later(timeout_s, _expire, answer)  # lighter than asyncio.timeout
            return _created(*await answer)
        finally:
            if expiry is not None:
                expiry.cancel()
            self._waiting.pop(token, None)

    async def _subscribe(self) -> bytes:
        async with self._lock:
            if self._replies is None:
                inbox = self._nc.new_inbox()
                self._subscription = await subscribe_raw(self._nc, f"{inbox}.*", self._on_reply)
                self._replies = f"{inbox}.".encode()
        return self._replies

    def _on_reply(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        answer = self._waiting.pop(subject.rpartition(b".")[2], None)
        if answer is not None and not answer.done():
            answer.set_result((data, headers))


def _expire(answer: asyncio.Future[_Answer]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


def _created(data: bytes, headers: bytes | None) -> bool:
    if headers is not None and headers.startswith(_NO_RESPONDERS_HEAD):
        raise nats.errors.NoRespondersError
    if b'"error"' not in data:
        return True  # a PubAck: stored
    error: dict[str, Any] = json.loads(data)["error"]
    if error.get("err_code") in _WRONG_LAST_SEQUENCE:
        return False
    raise nats.js.errors.APIError(**error)
