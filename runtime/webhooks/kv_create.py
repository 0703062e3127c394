"""``KeyCreator``: a NATS KV ``create()`` — store a key only if it has no value — in one round
trip and little CPU, for the replay guard's claim on every webhook request.

nats-py's ``KeyValue.create`` cost about 60 us of CPU a call under load: a reply inbox drawn
per request, two ``wait_for`` timers, the acknowledgement parsed into a dataclass. This
publishes the same message (the key's subject, ``Nats-Expected-Last-Subject-Sequence: 0``)
with the reply subject ``<inbox>.<n>`` on one subscription, and reads the answer without a
JSON parser when it is a plain acknowledgement: about 25 us.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.client import KV_PRE_TEMPLATE

__all__ = ("KeyCreator",)

_CREATE_HEADERS: Final = {"Nats-Expected-Last-Subject-Sequence": "0"}
_WRONG_LAST_SEQUENCE: Final = (10071, 10164)
_NO_RESPONDERS: Final = "503"


class KeyCreator:
    """Creates keys of the KV bucket ``bucket`` over ``nc``."""

    def __init__(self, nc: NatsClient, bucket: str) -> None:
        self._nc = nc
        self._subjects = KV_PRE_TEMPLATE.format(bucket=bucket)
        self._replies: str | None = None
        self._lock = asyncio.Lock()
        self._next = 0
        self._waiting: dict[str, asyncio.Future[Msg]] = {}

    async def create(self, key: str, value: bytes, *, timeout_s: float) -> bool:
        """Store ``value`` at ``key`` if the key has none: ``True``; ``False`` if it has (a
        deleted key's marker counts: ``KeyValue.create`` tells those apart). Raises nats-py's
        errors (``NoRespondersError``, a JetStream ``APIError``) or ``TimeoutError``."""
        replies = self._replies or await self._subscribe()
        self._next += 1
        token = str(self._next)
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._waiting[token] = answer
        expiry: asyncio.TimerHandle | None = None
        try:
            await self._nc.publish(
                self._subjects + key, value, reply=replies + token, headers=_CREATE_HEADERS
            )
            expiry = loop.call_later(timeout_s, _expire, answer)  # lighter than asyncio.timeout
            return _created(await answer)
        finally:
            if expiry is not None:
                expiry.cancel()
            self._waiting.pop(token, None)

    async def _subscribe(self) -> str:
        async with self._lock:
            if self._replies is None:
                inbox = self._nc.new_inbox()
                await self._nc.subscribe(f"{inbox}.*", cb=self._on_reply)
                self._replies = f"{inbox}."
        return self._replies

    async def _on_reply(self, msg: Msg) -> None:
        answer = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if answer is not None and not answer.done():
            answer.set_result(msg)


def _expire(answer: asyncio.Future[Msg]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


def _created(msg: Msg) -> bool:
    if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
        raise nats.errors.NoRespondersError
    if b'"error"' not in msg.data:
        return True  # a PubAck: stored
    error: dict[str, Any] = json.loads(msg.data)["error"]
    if error.get("err_code") in _WRONG_LAST_SEQUENCE:
        return False
    raise nats.js.errors.APIError(**error)
