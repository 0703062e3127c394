"""Compare-and-set writes to JetStream subjects, many in flight at once.

Each write is a core publish with ``Nats-Expected-Last-Subject-Sequence`` and a reply subject
under one private inbox; the answers are matched back by token. (nats-py 2.16's
``publish_async`` cannot be used for this: an error answer, such as a lost compare-and-set,
raises inside its reply handler and the write's future never resolves.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from typing import Final

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api

from proctor.core.errors import TriggerStateError

__all__ = ("PipelinedWriter", "Write")

_WRONG_LAST_SEQUENCE: Final = (10071, 10164)
_EXPECTED_LAST: Final = str(api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value)
Write = tuple[str, bytes, int | None]
"""``(subject, data, expected last revision)``; ``None`` expects the subject to be empty."""


class PipelinedWriter:
    """Sends compare-and-set publishes and collects their answers."""

    def __init__(self, nc: NatsClient, *, timeout_s: float = 10.0) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._prefix: str | None = None
        self._lock = asyncio.Lock()
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[int | None]] = {}

    async def _ready(self) -> str:
        async with self._lock:
            if self._prefix is None:
                prefix = self._nc.new_inbox()
                await self._nc.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix
            return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        assert self._prefix is not None
        future = self._waiting.pop(msg.subject[len(self._prefix) + 1 :], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get(api.Header.STATUS) == "503":
            future.set_exception(TriggerStateError("no JetStream stream answered the write"))
            return
        try:
            body = json.loads(msg.data)
            error = body.get("error")
            if error is None:
                future.set_result(int(body["seq"]))
            elif error.get("err_code") in _WRONG_LAST_SEQUENCE:
                future.set_result(None)
            else:
                description = str(error.get("description", error))[:200]
                future.set_exception(TriggerStateError(f"JetStream refused a write: {description}"))
        except (ValueError, KeyError, TypeError, AttributeError) as bad:
            future.set_exception(TriggerStateError(f"unreadable JetStream answer: {bad}"))

    async def write(self, writes: Sequence[Write]) -> list[int | BaseException | None]:
        """Send every write; each one's new revision, ``None`` if its compare-and-set lost, or
        the error (``TimeoutError`` when no answer came within the timeout)."""
        if not writes:
            return []
        prefix = await self._ready()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[int | None]] = []
        tokens: list[str] = []
        for subject, data, revision in writes:
            token = str(next(self._tokens))
            future: asyncio.Future[int | None] = loop.create_future()
            self._waiting[token] = future
            futures.append(future)
            tokens.append(token)
            headers = {_EXPECTED_LAST: str(revision or 0)}
            await self._nc.publish(subject, data, reply=f"{prefix}.{token}", headers=headers)
        _, late = await asyncio.wait(futures, timeout=self._timeout_s)
        for token, future in zip(tokens, futures, strict=True):
            if future in late:
                self._waiting.pop(token, None)
                future.cancel()
        return [TimeoutError() if f.cancelled() else (f.exception() or f.result()) for f in futures]
