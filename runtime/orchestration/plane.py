"""The run plane: what JetStream holds about runs in flight, declared and reached in one place.

- the run requests stream (``Naming.run_requests_stream``, work-queue retention): one message
  per requested run on ``<prefix>.<pool>.<queue>``, ``Nats-Msg-Id`` = the flow run id, claimed
  by exactly one worker through the queue's durable pull consumer;
- KV buckets: run entries (``RunBoard``), worker heartbeats, concurrency slots and tag limits
  (``ConcurrencySlots``), and pool configurations (queues, priorities, limits).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.kv import KeyValue

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.bus.pipeline import MSG_ID_HEADER
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.orchestration.board import RunBoard
from proctor.runtime.orchestration.model import PoolConfig, RunEntry, WorkerBeat
from proctor.runtime.orchestration.options import RuntimeOptions
from proctor.runtime.orchestration.slots import ConcurrencySlots

__all__ = ("Decision", "QueuePuller", "RunPlane")

log = logging.getLogger(__name__)

Decision = Callable[[RunEntry], tuple[RunEntry, Event | None] | None]
"""Given the current entry: the entry to write and the event to publish, or ``None``."""

_NO_WAIT = json.dumps({"batch": 1, "no_wait": True}).encode()


async def _bucket(
    js: nats.js.JetStreamContext, name: str, *, declare: bool, ttl_s: float | None = None
) -> KeyValue:
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        if not declare:
            raise BrokerUnavailableError(
                f"NATS has no bucket {name!r}: start `proctor server start` (it declares the "
                "runtime's streams and buckets), or check PROCTOR_NAMESPACE"
            ) from None
    config = api.KeyValueConfig(
        bucket=name, history=1, storage=api.StorageType.FILE, ttl=ttl_s, direct=True
    )
    return await js.create_key_value(config)


@dataclass
class RunPlane:
    """Handles on the runtime's stream and buckets. ``await RunPlane.open(bus)``."""

    bus: JetStreamEventBus
    options: RuntimeOptions
    board: RunBoard
    slots: ConcurrencySlots
    workers: KeyValue
    pools: KeyValue

    @property
    def naming(self) -> Naming:
        return self.bus.naming

    @classmethod
    async def open(
        cls, bus: JetStreamEventBus, options: RuntimeOptions | None = None, *, declare: bool = True
    ) -> RunPlane:
        """Reach (and with ``declare``, create) the stream and buckets of ``bus``'s namespace."""
        options = options or RuntimeOptions()
        naming, js = bus.naming, bus.js
        retention_s = options.retention.total_seconds()
        if declare:
            await _ensure_requests_stream(js, naming, retention_s)
        return cls(
            bus=bus,
            options=options,
            board=RunBoard(
                await _bucket(js, naming.runs_bucket, declare=declare, ttl_s=retention_s)
            ),
            slots=ConcurrencySlots(await _bucket(js, naming.concurrency_bucket, declare=declare)),
            workers=await _bucket(js, naming.workers_bucket, declare=declare),
            pools=await _bucket(js, naming.work_pools_bucket, declare=declare),
        )

    # --- run requests ----------------------------------------------------------------------

    async def publish_request(self, entry: RunEntry) -> None:
        """Put ``entry``'s run on its pool's queue (a re-sent request is stored once), then
        wake the pool's workers: the wake-up follows the acknowledgement, so a worker that
        looks finds the request (a plain subscriber to the stream's subject could hear of it
        before it is stored)."""
        pool = entry.job.work_pool
        await self.bus.js.publish(
            self.naming.run_request_subject(pool, entry.job.work_queue),
            str(entry.id).encode(),
            stream=self.naming.run_requests_stream,
            headers={MSG_ID_HEADER: str(entry.id)},
        )
        await self.bus.nc.publish(self.naming.worker_wake_subject(pool), b"")

    async def queue_consumer(self, pool: str, queue: str) -> str:
        """The durable pull consumer of one queue (created on first use); its name."""
        name = self.naming.consumer(f"queue-{pool}-{queue}")
        stream = self.naming.run_requests_stream
        try:
            await self.bus.js.consumer_info(stream, name)
        except nats.js.errors.NotFoundError:
            config = api.ConsumerConfig(
                durable_name=name,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=30.0,
                max_deliver=-1,  # naks while waiting for a slot are normal, not failures
                filter_subject=self.naming.run_request_subject(pool, queue),
                deliver_policy=api.DeliverPolicy.ALL,
            )
            with contextlib.suppress(nats.js.errors.BadRequestError):  # a racing worker made it
                await self.bus.js.add_consumer(stream, config)
        return name

    async def puller(self, pool: str, queue: str) -> QueuePuller:
        """A puller of one queue's requests (its consumer created on first use)."""
        consumer = await self.queue_consumer(pool, queue)
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.naming.run_requests_stream}.{consumer}"
        nc = self.bus.nc
        inbox = nc.new_inbox()
        return QueuePuller(nc, subject, inbox, await nc.subscribe(inbox))

    # --- run entries -------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def move(
        self, run_id: UUID, decide: Decision, *, known: tuple[RunEntry, int] | None = None
    ) -> tuple[RunEntry, Event | None] | None:
        """Change a run's entry by compare-and-set, then publish the event of the change.

        ``decide`` sees the current entry (``known``, if the caller just read it) and returns
        what to write (or ``None``: nothing to do); on a lost race it is asked again with the
        newer entry. Returns what was written, or ``None`` when the run is unknown or
        ``decide`` declined.
        """
        while True:
            found, known = known or await self.board.get(run_id), None
            if found is None:
                return None
            entry, revision = found
            decision = decide(entry)
            if decision is None:
                return None
            new, event = decision
            if await self.board.swap(new, revision) is None:
                continue
            if event is not None:
                await self.publish(event)
            return new, event

    # --- pools and workers -------------------------------------------------------------------

    async def pool_config(self, pool: str) -> PoolConfig:
        """The configuration of ``pool`` (one ``default`` queue if it was never configured)."""
        try:
            found = await self.pools.get(pool)
        except nats.js.errors.KeyNotFoundError:
            return PoolConfig(name=pool)
        return PoolConfig.model_validate_json(found.value or b"{}")

    async def save_pool_config(self, config: PoolConfig) -> None:
        await self.pools.put(config.name, config.model_dump_json().encode())

    async def delete_pool_config(self, pool: str) -> None:
        await self.pools.delete(pool)

    async def worker_beats(self) -> list[WorkerBeat]:
        """The last heartbeat of every worker that has not signed off."""
        beats: list[WorkerBeat] = []
        watcher: Any = await self.workers.watchall(ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    beats.append(WorkerBeat.model_validate_json(entry.value))
        finally:
            await watcher.stop()
        return beats

    async def notify_worker(self, worker_id: str, command: dict[str, str]) -> None:
        """Tell a worker about a run it holds (best effort: it also checks on each beat)."""
        await self.bus.nc.publish(
            self.naming.worker_control_subject(worker_id), json.dumps(command).encode()
        )


class QueuePuller:
    """Pulls one queue's requests with no-wait pull requests on an inbox of its own: a pull
    returns at once, and no lingering pull request is left on the server to capture a later
    message that another worker could have taken."""

    def __init__(self, nc: NatsClient, subject: str, inbox: str, subscription: Subscription):
        self._nc = nc
        self._subject = subject
        self._inbox = inbox
        self._subscription = subscription

    async def pull(self, timeout_s: float = 2.0) -> Msg | None:
        """The next request if one is waiting now, else ``None``."""
        await self._nc.publish(self._subject, _NO_WAIT, reply=self._inbox)
        try:
            msg = await self._subscription.next_msg(timeout=timeout_s)
        except nats.errors.TimeoutError:
            return None
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None:
            if status not in ("404", "408"):
                log.warning("pulling %s: status %s", self._subject, status)
            return None
        return msg

    async def close(self) -> None:
        with contextlib.suppress(nats.errors.Error):
            await self._subscription.unsubscribe()


async def _ensure_requests_stream(
    js: nats.js.JetStreamContext, naming: Naming, retention_s: float
) -> None:
    wanted = api.StreamConfig(
        name=naming.run_requests_stream,
        subjects=[f"{naming.run_requests_prefix}.>"],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.WORK_QUEUE,
        max_age=retention_s,
        duplicate_window=min(600.0, retention_s),
        discard=api.DiscardPolicy.OLD,
    )
    try:
        await js.stream_info(naming.run_requests_stream)
    except nats.js.errors.NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):  # created meanwhile
            await js.add_stream(wanted)
