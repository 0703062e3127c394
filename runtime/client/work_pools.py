"""``client.work_pools`` and ``client.concurrency_limits``."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from proctor.runtime.client.base import ApiTransport
from proctor.runtime.deployments.models import TagLimit, WorkPool, WorkPoolSpec
from proctor.runtime.orchestration.model import WorkerBeat

__all__ = ("ConcurrencyLimitsClient", "WorkPoolsClient")


def _pool(name: str) -> str:
    return f"/api/work-pools/{quote(name, safe='')}"


class WorkPoolsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def apply(self, spec: WorkPoolSpec) -> WorkPool:
        """Create the pool, or replace the settings of the pool with that name."""
        answer = await self._transport.request(
            "POST", "/api/work-pools", json=spec.model_dump(mode="json")
        )
        return WorkPool.model_validate(answer)

    async def list(self) -> builtins.list[WorkPool]:
        answer = await self._transport.request("GET", "/api/work-pools")
        return [WorkPool.model_validate(item) for item in answer["items"]]

    async def read(self, name: str) -> WorkPool:
        return WorkPool.model_validate(await self._transport.request("GET", _pool(name)))

    async def update(self, name: str, **changes: Any) -> WorkPool:
        answer = await self._transport.request("PATCH", _pool(name), json=changes)
        return WorkPool.model_validate(answer)

    async def set_queue(
        self,
        name: str,
        queue: str,
        *,
        priority: int = 1,
        concurrency_limit: int | None = None,
        paused: bool = False,
    ) -> WorkPool:
        """Add the queue to the pool, or change it."""
        body = {"priority": priority, "concurrency_limit": concurrency_limit, "paused": paused}
        path = f"{_pool(name)}/queues/{quote(queue, safe='')}"
        return WorkPool.model_validate(await self._transport.request("PUT", path, json=body))

    async def delete(self, name: str) -> None:
        await self._transport.request("DELETE", _pool(name))

    async def workers(self, pool: str | None = None) -> builtins.list[WorkerBeat]:
        """Live workers (of ``pool``)."""
        answer = await self._transport.request("GET", "/api/workers", params={"work_pool": pool})
        return [WorkerBeat.model_validate(item) for item in answer["items"]]


class ConcurrencyLimitsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def set_tag_limit(self, tag: str, limit: int) -> TagLimit:
        """At most ``limit`` runs tagged ``tag`` execute at once, across every worker."""
        path = f"/api/concurrency-limits/tag/{quote(tag, safe='')}"
        answer = await self._transport.request("PUT", path, json={"limit": limit})
        return TagLimit.model_validate(answer)

    async def list(self) -> builtins.list[TagLimit]:
        answer = await self._transport.request("GET", "/api/concurrency-limits")
        return [TagLimit.model_validate(item) for item in answer["items"]]

    async def delete_tag_limit(self, tag: str) -> None:
        path = f"/api/concurrency-limits/tag/{quote(tag, safe='')}"
        await self._transport.request("DELETE", path)
