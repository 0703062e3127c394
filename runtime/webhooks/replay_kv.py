"""``JetStreamReplayGuard``: delivery ids remembered in a NATS KV bucket, shared by every API
replica and surviving restarts.

One key per delivery (``replay_key``); its value is the claim's expiry (Unix milliseconds),
followed by `` pending`` until the delivery is answered (``<ms> pending`` → ``<ms>``). A claim
is a create (``KeyCreator``, the cheap one) — atomic: of racing replicas exactly one gets
``NEW``; when the key exists, the guard reads it: the others see the pending claim
(``UNANSWERED``). A key whose expiry has passed is taken over with
``update(last=revision)``, so windows follow ``now`` exactly and no per-key TTL is needed
(nats-py cannot renew one, and TTL markers break ``create()``). The bucket's ``max_age`` (the
longest window) only bounds how long keys are kept.

``answered`` is a plain NATS publish to the key's subject (a ``PUB`` framed here), not
acknowledged: the bucket's stream stores it like a ``put``, at the cost of one protocol write
after the answer. If it is lost (the process dies first), the claim stays pending and the
sender's retry publishes again.

Without a connection to NATS, a claim raises ``BrokerUnavailableError`` at once (the server
answers 503). A claim whose answer was lost may still be stored, pending: the retry passes.
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
from nats.js.client import KV_PRE_TEMPLATE
from nats.js.kv import KeyValue

from proctor.core.errors import BrokerUnavailableError, BusError
from proctor.events.bus.wire import send_frames
from proctor.events.naming import Naming
from proctor.runtime.webhooks.kv_create import KeyCreator
from proctor.runtime.webhooks.presets import DEFAULT_REPLAY_WINDOW
from proctor.runtime.webhooks.replay import Claim

__all__ = ("JetStreamReplayGuard",)

T = TypeVar("T")
_TIMEOUT_S: Final = 2.0
_PENDING: Final = b" pending"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _read(value: bytes | None) -> tuple[int, bool]:
    """A claim's expiry (Unix ms) and whether it was answered; unreadable: expired."""
    expiry, pending, _ = (value or b"").partition(_PENDING)
    try:
        return int(expiry), not pending
    except ValueError:
        return 0, True


class JetStreamReplayGuard:
    """A ``ReplayGuard`` over a JetStream KV bucket (see the module docstring)."""

    def __init__(
        self, kv: KeyValue, nc: NatsClient, bucket: str, *, timeout_s: float = _TIMEOUT_S
    ) -> None:
        self._kv = kv
        self._nc = nc
        self._creator = KeyCreator(nc, bucket)
        self._prefix = KV_PRE_TEMPLATE.format(bucket=bucket).encode()
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
        return cls(kv, nc, bucket)

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> Claim:
        if not self._nc.is_connected:
            raise BrokerUnavailableError("NATS is not connected: cannot check the delivery id")
        value = str(_ms(now + window)).encode() + _PENDING
        try:
            if await self._creator.create(key, value, timeout_s=self._timeout_s):
                return Claim.NEW
            return await self._claim(key, value, now)  # the key exists: read it
        except (nats.errors.Error, TimeoutError, BusError) as error:
            raise BrokerUnavailableError(
                f"NATS did not confirm the delivery claim ({type(error).__name__})"
            ) from None

    async def _claim(self, key: str, value: bytes, now: datetime) -> Claim:
        """The key has a value, or a deleted key's marker: read it; take it over if expired."""
        for _ in range(2):
            try:
                entry = await self._bounded(self._kv.get(key))
            except nats.js.errors.KeyNotFoundError:  # deleted: nats-py's create writes over it
                try:
                    await self._bounded(self._kv.create(key, value))
                    return Claim.NEW
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue  # claimed meanwhile: read it
            expiry, answered = _read(entry.value)
            if expiry > _ms(now):
                return Claim.ANSWERED if answered else Claim.UNANSWERED
            try:
                await self._bounded(self._kv.update(key, value, last=entry.revision))
                return Claim.NEW
            except nats.js.errors.KeyWrongLastSequenceError:
                return Claim.UNANSWERED  # another replica took the expired claim: in flight
        return Claim.UNANSWERED

    async def answered(self, key: str, *, expires: datetime) -> None:
        value = b"%d" % _ms(expires)
        frame = b"PUB %s%s %d\r\n%s\r\n" % (self._prefix, key.encode(), len(value), value)
        with contextlib.suppress(nats.errors.Error, BusError):
            await send_frames(self._nc, frame, 1)

    async def _bounded(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout_s):
            return await call
