"""Work pools: stored with the deployments, mirrored to KV for the workers, with readiness.

The store holds pools (the API's record); ``PoolConfig`` in KV is what workers read and watch.
Every write goes to both (store first); ``sync`` rewrites every pool to KV (at server start).
A queue is *ready* when a live worker of its pool serves it, *not_ready* when none does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from proctor.core.errors import ObjectNotFoundError
from proctor.events.model import utcnow
from proctor.runtime.deployments.models import QueueStatus, WorkPool, WorkPoolSpec
from proctor.runtime.orchestration import RunMonitor, RunPlane
from proctor.runtime.orchestration.announce import announce
from proctor.runtime.orchestration.model import PoolConfig, QueueConfig, WorkerBeat
from proctor.runtime.store import Store
from proctor.runtime.store.control import WorkPoolRow

__all__ = ("WorkPoolService", "live_workers")


async def live_workers(
    plane: RunPlane,
    monitor: RunMonitor | None,
    pool: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> list[WorkerBeat]:
    """Workers heard from recently: the monitor's view, else their own heartbeat times."""
    if monitor is not None:
        return monitor.live_workers(pool)
    bound, at = plane.options.missed_heartbeats, now()
    return [
        beat
        for beat in await plane.worker_beats()
        if (pool is None or beat.pool == pool)
        and at - beat.sent <= timedelta(seconds=beat.heartbeat_s * bound)
    ]


def _config(spec: WorkPoolSpec) -> PoolConfig:
    return PoolConfig(
        name=spec.name,
        type=spec.type,
        concurrency_limit=spec.concurrency_limit,
        paused=spec.paused,
        queues=tuple(spec.queues),
    )


def _spec(row: WorkPoolRow) -> WorkPoolSpec:
    queues = [QueueConfig.model_validate(q) for q in row.queues] or None
    fields: dict[str, Any] = {
        "name": row.name,
        "type": row.type,
        "description": row.description,
        "concurrency_limit": row.concurrency_limit,
        "paused": row.paused,
    }
    if queues is not None:
        fields["queues"] = queues
    return WorkPoolSpec.model_validate(fields)


def queue_status(queue: QueueConfig, pool_paused: bool, workers: list[WorkerBeat]) -> QueueStatus:
    serving = sum(1 for beat in workers if queue.name in beat.queues)
    status = "paused" if pool_paused or queue.paused else "ready" if serving else "not_ready"
    return QueueStatus(
        **queue.model_dump(), status=status, ready=status == "ready", workers=serving
    )


class WorkPoolService:
    """Create, read, change and delete work pools; see which queues are ready."""

    def __init__(self, store: Store, plane: RunPlane, monitor: RunMonitor | None = None):
        self.store = store
        self.plane = plane
        self.monitor = monitor

    async def _row(self, name: str) -> WorkPoolRow | None:
        return await self.store.work_pools.find(name=name)

    async def _view(self, row: WorkPoolRow, every: list[WorkerBeat] | None = None) -> WorkPool:
        """The pool with its readiness (``every``: the live workers of all pools, read once
        for a listing)."""
        spec = _spec(row)
        if every is None:
            workers = await live_workers(self.plane, self.monitor, spec.name)
        else:
            workers = [beat for beat in every if beat.pool == spec.name]
        queues = [queue_status(q, spec.paused, workers) for q in spec.queues]
        any_ready = any(q.status == "ready" for q in queues)
        status = "paused" if spec.paused else "ready" if any_ready else "not_ready"
        return WorkPool(
            id=row.id,
            name=spec.name,
            type=spec.type,
            description=spec.description,
            concurrency_limit=spec.concurrency_limit,
            paused=spec.paused,
            created=row.created,
            updated=row.updated,
            status=status,
            queues=queues,
            workers=workers,
        )

    async def apply(self, spec: WorkPoolSpec) -> WorkPool:
        """Create the pool, or replace the settings of the pool with that name."""
        fields = spec.model_dump(mode="json")
        row = await self._row(spec.name)
        change = "created" if row is None else "updated"
        if row is None:
            row = await self.store.work_pools.create(WorkPoolRow(**fields))
        else:
            updated = await self.store.work_pools.update(row.id, **fields)
            assert updated is not None
            row = updated
        await self.plane.save_pool_config(_config(spec))
        await announce(self.plane.bus, "work-pool", spec.name, spec.name, change)
        return await self._view(row)

    async def get(self, name: str) -> WorkPool:
        row = await self._row(name)
        if row is None:
            raise ObjectNotFoundError(
                "work pool", name, "create it with `proctor work-pool create NAME`"
            )
        return await self._view(row)

    async def all(self) -> list[WorkPool]:
        page = await self.store.work_pools.list(limit=1000)
        every = await live_workers(self.plane, self.monitor) if page.items else []
        return [await self._view(row, every) for row in page.items]

    async def delete(self, name: str) -> bool:
        row = await self._row(name)
        if row is None:
            return False
        await self.store.work_pools.delete(row.id)
        await self.plane.delete_pool_config(name)
        await announce(self.plane.bus, "work-pool", name, name, "deleted")
        return True

    async def set_paused(self, name: str, paused: bool) -> WorkPool:
        pool = await self.get(name)
        spec = WorkPoolSpec(**{**self._spec_fields(pool), "paused": paused})
        return await self.apply(spec)

    async def set_queue(self, name: str, queue: QueueConfig) -> WorkPool:
        """Add a queue to the pool, or change the queue of that name."""
        pool = await self.get(name)
        queues = [q for q in self._queues(pool) if q.name != queue.name] + [queue]
        return await self.apply(WorkPoolSpec(**{**self._spec_fields(pool), "queues": queues}))

    async def ensure(self, name: str, queue: str | None) -> None:
        """Make sure the pool exists with ``queue`` (created with defaults when missing)."""
        row = await self._row(name)
        if row is None:
            queues = [QueueConfig(name="default")]
            if queue is not None and queue != "default":
                queues.append(QueueConfig(name=queue, priority=2))
            await self.apply(WorkPoolSpec(name=name, queues=queues))
            return
        spec = _spec(row)
        if queue is not None and spec.queues and all(q.name != queue for q in spec.queues):
            priority = max(q.priority for q in spec.queues) + 1
            added = QueueConfig(name=queue, priority=priority)
            await self.apply(spec.model_copy(update={"queues": [*spec.queues, added]}))

    async def sync(self) -> None:
        """Write every stored pool to KV (what workers read)."""
        page = await self.store.work_pools.list(limit=1000)
        for row in page.items:
            await self.plane.save_pool_config(_config(_spec(row)))

    @staticmethod
    def _queues(pool: WorkPool) -> list[QueueConfig]:
        return [
            QueueConfig(**q.model_dump(include=set(QueueConfig.model_fields))) for q in pool.queues
        ]

    def _spec_fields(self, pool: WorkPool) -> dict[str, Any]:
        return {
            "name": pool.name,
            "type": pool.type,
            "description": pool.description,
            "concurrency_limit": pool.concurrency_limit,
            "paused": pool.paused,
            "queues": self._queues(pool),
        }
