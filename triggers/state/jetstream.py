"""``JetStreamTriggerStateStore``: trigger state in a NATS JetStream KeyValue bucket.

Each record is one key, ``<trigger>.<node>.<bucket digest>``; its KV revision is the
compare-and-set token (``update(last=revision)``, ``create()`` for a new key). The bucket keeps
one revision per key, on file storage, so an engine that restarts (or another replica) reads
the counts where they were.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Sequence
from typing import Final, Self, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from proctor.core.errors import TriggerStateConflictError, TriggerStateError
from proctor.events.bus.jetstream import connect_nats
from proctor.events.naming import Naming
from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.pipeline import PipelinedWriter
from proctor.triggers.state.records import (
    Record,
    StateRef,
    Versioned,
    decode_record,
    encode_record,
)

__all__ = ("JetStreamTriggerStateStore", "state_key")

T = TypeVar("T")
_WRONG_LAST_SEQUENCE: Final = (10071, 10164)


def state_key(ref: StateRef) -> str:
    """The KV key of a record: ``<trigger>.<node>.<digest of the bucket values>``."""
    if not ref.bucket:
        return f"{ref.trigger}.{ref.node}._"
    digest = hashlib.sha256(json.dumps(ref.bucket).encode()).hexdigest()[:40]
    return f"{ref.trigger}.{ref.node}.{digest}"


class JetStreamTriggerStateStore(TriggerStateStore):
    """Trigger state in a JetStream KV bucket, with the KV revision as compare-and-set token."""

    def __init__(
        self,
        kv: KeyValue,
        *,
        client: NatsClient | None = None,
        nc: NatsClient | None = None,
        bucket: str | None = None,
    ) -> None:
        self._kv = kv
        self._client = client
        connection = nc or client
        self._writer = PipelinedWriter(connection) if connection is not None else None
        self._subject_prefix = f"$KV.{bucket}." if bucket is not None else None

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        bucket: str,
        *,
        replicas: int = 1,
        nc: NatsClient | None = None,
    ) -> Self:
        """The store over ``bucket``, created (file storage, one revision per key) if missing.
        With the connection ``nc``, batches of writes are pipelined (``save_many``)."""
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            config = api.KeyValueConfig(
                bucket=bucket,
                description="Proctor trigger state: windows, counts, schedule progress.",
                history=1,
                storage=api.StorageType.FILE,
                replicas=replicas,
            )
            kv = await js.create_key_value(config)
        return cls(kv, nc=nc, bucket=bucket)

    @classmethod
    async def connect(cls, url: str, *, naming: Naming, replicas: int = 1) -> Self:
        """Connect to NATS at ``url`` and open the namespace's bucket; ``close()`` disconnects."""
        client = await connect_nats(url, name="proctor-trigger-state")
        store = await cls.open(
            client.jetstream(), naming.trigger_state_bucket, replicas=replicas, nc=client
        )
        store._client = client
        return store

    async def _call(
        self, operation: str, ref: StateRef, call: Awaitable[T], revision: int | None = None
    ) -> T:
        try:
            return await call
        except nats.js.errors.KeyWrongLastSequenceError:
            raise TriggerStateConflictError(ref.trigger, expected=revision) from None
        except nats.js.errors.APIError as error:
            if error.err_code in _WRONG_LAST_SEQUENCE:
                raise TriggerStateConflictError(ref.trigger, expected=revision) from None
            raise TriggerStateError(
                f"trigger {ref.trigger!r}: could not {operation} its state: {error}"
            ) from error
        except (nats.errors.Error, TimeoutError) as error:
            raise TriggerStateError(
                f"trigger {ref.trigger!r}: could not {operation} its state in NATS "
                f"({type(error).__name__}: {error}); is the server reachable?"
            ) from error

    async def _get(self, key: str) -> KeyValue.Entry | None:
        try:
            return await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # never written, or deleted
            return None

    async def load(self, ref: StateRef) -> Versioned | None:
        entry = await self._call("read", ref, self._get(state_key(ref)))
        if entry is None or entry.value is None or entry.revision is None:
            return None
        _, record = decode_record(entry.value)
        return Versioned(record, entry.revision)

    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        key, value = state_key(ref), encode_record(ref.bucket, record)
        if revision is None:
            return await self._call("create", ref, self._kv.create(key, value))
        update = self._kv.update(key, value, last=revision)
        return await self._call("update", ref, update, revision)

    async def save_many(
        self, writes: Sequence[tuple[StateRef, Record, int | None]]
    ) -> list[int | None]:
        """Pipelined compare-and-set writes (answers collected together); one at a time when
        the store was opened without its connection."""
        if self._writer is None or self._subject_prefix is None:
            return await super().save_many(writes)
        prefix = self._subject_prefix
        answers = await self._writer.write(
            [
                (f"{prefix}{state_key(ref)}", encode_record(ref.bucket, record), revision)
                for ref, record, revision in writes
            ]
        )
        revisions: list[int | None] = []
        for (ref, record, revision), answer in zip(writes, answers, strict=True):
            if isinstance(answer, BaseException):
                raise TriggerStateError(
                    f"trigger {ref.trigger!r}: could not write its state in NATS "
                    f"({type(answer).__name__}: {answer}); is the server reachable?"
                ) from answer
            if answer is None and revision is None:  # maybe a deleted key: create() re-creates
                try:
                    answer = await self.save(ref, record, None)
                except TriggerStateConflictError:
                    answer = None
            revisions.append(answer)
        return revisions

    async def delete(self, ref: StateRef, revision: int) -> None:
        await self._call("delete", ref, self._kv.delete(state_key(ref), last=revision), revision)

    async def scan(self, trigger: str, node: str) -> list[tuple[StateRef, Versioned]]:
        return await self._watch(StateRef(trigger, node, ()), f"{trigger}.{node}.>")

    async def scan_all(self, trigger: str | None = None) -> list[tuple[StateRef, Versioned]]:
        pattern = ">" if trigger is None else f"{trigger}.>"
        return await self._watch(StateRef(trigger or "*", "*", ()), pattern)

    async def _watch(self, ref: StateRef, pattern: str) -> list[tuple[StateRef, Versioned]]:
        watcher = await self._call("scan", ref, self._kv.watch(pattern, ignore_deletes=True))
        found: list[tuple[StateRef, Versioned]] = []
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value is None or entry.revision is None:
                    continue
                trigger, node, _ = entry.key.split(".", 2)
                bucket, record = decode_record(entry.value)
                found.append((StateRef(trigger, node, bucket), Versioned(record, entry.revision)))
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.drain()
            self._client = None
