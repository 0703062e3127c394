"""``JetStreamReplayGuard``: delivery ids remembered in a NATS KV bucket, shared by every API
replica and surviving restarts.

One key per delivery (``replay_key``); its value is the claim's expiry (Unix milliseconds).
A claim is ``create()`` — atomic: of racing replicas exactly one wins. A key whose expiry has
passed is taken over with ``update(last=revision)``, so windows follow ``now`` exactly and no
per-key TTL is needed (nats-py cannot renew one, and TTL markers break ``create()``). The
bucket's ``max_age`` (the longest window) only bounds how long keys are kept.

Without a connection to NATS, a claim raises ``BrokerUnavailableError`` at once (the server
answers 503). A claim whose answer was lost may still be stored: the guard then deletes the key
(the delete is queued until NATS is back), so the sender's retry is not taken for a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Final, Self, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from proctor.core.errors import BrokerUnavailableError
from proctor.events.naming import Naming
from proctor.runtime.webhooks.presets import DEFAULT_REPLAY_WINDOW

__all__ = ("JetStreamReplayGuard",)

T = TypeVar("T")
_TIMEOUT_S: Final = 2.0


def _expiry_ms(value: bytes | None) -> int:
    try:
        return int(value or b"0")
    except ValueError:
        return 0  # unreadable: treat as expired, the claim is re-taken


class JetStreamReplayGuard:
    """A ``ReplayGuard`` over a JetStream KV bucket (see the module docstring)."""

    def __init__(self, kv: KeyValue, nc: NatsClient, *, timeout_s: float = _TIMEOUT_S) -> None:
        self._kv = kv
        self._nc = nc
        self._timeout_s = timeout_s

    @classmethod
    async def open(
        cls,
        nc: NatsClient,
        js: JetStreamContext,
        naming: Naming,
        *,
        max_age: timedelta = DEFAULT_REPLAY_WINDOW,
        replicas: int = 1,
    ) -> Self:
        """The guard over ``naming``'s bucket, created (file storage) if missing. Claims with a
        window longer than ``max_age`` are forgotten after ``max_age``."""
        bucket = naming.webhook_deliveries_bucket
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            config = api.KeyValueConfig(
                bucket=bucket,
                description="Proctor webhook delivery ids (replay protection).",
                history=1,
                ttl=max_age.total_seconds(),
                storage=api.StorageType.FILE,
                replicas=replicas,
            )
            kv = await js.create_key_value(config)
        return cls(kv, nc)

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> bool:
        if not self._nc.is_connected:
            raise BrokerUnavailableError("NATS is not connected: cannot check the delivery id")
        value = str(int((now + window).timestamp() * 1000)).encode()
        try:
            return await self._claim(key, value, now)
        except (nats.errors.Error, TimeoutError) as error:
            await self.release(key)  # the create may have been stored after all
            raise BrokerUnavailableError(
                f"NATS did not confirm the delivery claim ({type(error).__name__})"
            ) from None

    async def _claim(self, key: str, value: bytes, now: datetime) -> bool:
        for _ in range(2):
            try:
                await self._bounded(self._kv.create(key, value))
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._bounded(self._kv.get(key))
            except nats.js.errors.KeyNotFoundError:
                continue  # released meanwhile: create again
            if _expiry_ms(entry.value) > now.timestamp() * 1000:
                return False
            try:
                await self._bounded(self._kv.update(key, value, last=entry.revision))
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                return False  # another replica took the expired claim first
        return False

    async def release(self, key: str) -> None:
        """Delete ``key``; best effort (while NATS is down the delete waits in the client's
        buffer and is applied on reconnect, after the claim it undoes)."""
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._bounded(self._kv.delete(key))

    async def _bounded(self, call: Awaitable[T]) -> T:
        return await asyncio.wait_for(call, self._timeout_s)
