"""``/api/work-pools`` (pools, their queues with readiness, their workers), ``/api/workers``
and ``/api/concurrency-limits`` (limits by tag, enforced across workers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field, ValidationError

from proctor.runtime.api.deployments import http_errors
from proctor.runtime.deployments import LazyRuntime, WorkPool, WorkPoolService, WorkPoolSpec
from proctor.runtime.deployments.models import MAX_LIMIT, TagLimit
from proctor.runtime.deployments.pools import live_workers
from proctor.runtime.orchestration import QueueConfig, WorkerBeat
from proctor.runtime.orchestration.slots import scope_key
from proctor.runtime.store import Page

__all__ = ("concurrency_router", "work_pools_router")


class QueueSettings(BaseModel):
    """A queue's settings (its name is in the path)."""

    priority: int = Field(default=1, ge=1, description="Lower is served first.")
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    paused: bool = False


class LimitValue(BaseModel):
    limit: int = Field(ge=0, le=MAX_LIMIT, description="Most runs with the tag executing at once.")


def work_pools_router(runtime: LazyRuntime) -> APIRouter:
    router = APIRouter(tags=["work pools"])

    async def pools() -> WorkPoolService:
        return (await runtime.get()).pools

    @router.post("/work-pools", summary="Create a pool, or replace the one with that name")
    async def apply(spec: WorkPoolSpec) -> WorkPool:
        with http_errors():
            return await (await pools()).apply(spec)

    @router.get("/work-pools", summary="Pools with their queues' readiness and live workers")
    async def list_pools() -> Page[WorkPool]:
        return Page[WorkPool](items=await (await pools()).all())

    @router.get("/work-pools/{name}", summary="A pool")
    async def read(name: str) -> WorkPool:
        with http_errors():
            return await (await pools()).get(name)

    @router.patch("/work-pools/{name}", summary="Change a pool (paused, limit, description...)")
    async def update(name: str, changes: dict[str, Any]) -> WorkPool:
        service = await pools()
        with http_errors():
            current = await service.get(name)
            fields = {
                "name": current.name,
                "type": current.type,
                "description": current.description,
                "concurrency_limit": current.concurrency_limit,
                "paused": current.paused,
                "queues": [
                    q.model_dump(include=set(QueueConfig.model_fields)) for q in current.queues
                ],
            }
            if "name" in changes and changes["name"] != name:
                raise HTTPException(422, "name: a pool's name cannot change")
            try:
                spec = WorkPoolSpec.model_validate({**fields, **changes})
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise HTTPException(422, f"{where}: {first['msg']}") from None
            return await service.apply(spec)

    @router.put("/work-pools/{name}/queues/{queue}", summary="Add or change a queue")
    async def set_queue(name: str, queue: str, settings: QueueSettings) -> WorkPool:
        with http_errors():
            try:
                config = QueueConfig(name=queue, **settings.model_dump())
            except ValidationError as error:
                raise HTTPException(422, f"queue: {error.errors()[0]['msg']}") from None
            return await (await pools()).set_queue(name, config)

    @router.delete("/work-pools/{name}", status_code=204, summary="Delete a pool")
    async def delete(name: str) -> Response:
        if not await (await pools()).delete(name):
            raise HTTPException(404, f"no work pool {name!r}")
        return Response(status_code=204)

    @router.get("/work-pools/{name}/workers", summary="The pool's live workers")
    async def pool_workers(name: str) -> Page[WorkerBeat]:
        with http_errors():
            return Page[WorkerBeat](items=(await (await pools()).get(name)).workers)

    @router.get("/workers", summary="Live workers (of one pool with work_pool)")
    async def workers(work_pool: str | None = None) -> Page[WorkerBeat]:
        service = await pools()
        beats = await live_workers(service.plane, service.monitor, work_pool)
        return Page[WorkerBeat](items=sorted(beats, key=lambda b: (b.pool, b.name, b.id)))

    return router


def concurrency_router(runtime: LazyRuntime) -> APIRouter:
    router = APIRouter(prefix="/concurrency-limits", tags=["concurrency limits"])

    async def limit_of(tag: str, limit: int) -> TagLimit:
        slots = (await runtime.get()).plane.slots
        active = len(await slots.held(scope_key("tag", tag)))
        return TagLimit(tag=tag, limit=limit, active=active)

    @router.get("", summary="Concurrency limits by tag")
    async def list_limits() -> Page[TagLimit]:
        limits = await (await runtime.get()).plane.slots.tag_limits()
        return Page[TagLimit](items=[await limit_of(t, n) for t, n in sorted(limits.items())])

    @router.put("/tag/{tag}", summary="Limit how many runs with a tag execute at once")
    async def set_limit(tag: str, value: LimitValue) -> TagLimit:
        await (await runtime.get()).plane.slots.set_tag_limit(tag, value.limit)
        return await limit_of(tag, value.limit)

    @router.get("/tag/{tag}", summary="The limit of a tag")
    async def read_limit(tag: str) -> TagLimit:
        limit = await (await runtime.get()).plane.slots.tag_limit(tag)
        if limit is None:
            raise HTTPException(404, f"tag {tag!r} has no concurrency limit")
        return await limit_of(tag, limit)

    @router.delete("/tag/{tag}", status_code=204, summary="Remove a tag's limit")
    async def delete_limit(tag: str) -> Response:
        slots = (await runtime.get()).plane.slots
        if await slots.tag_limit(tag) is None:
            raise HTTPException(404, f"tag {tag!r} has no concurrency limit")
        await slots.set_tag_limit(tag, None)
        return Response(status_code=204)

    return router
