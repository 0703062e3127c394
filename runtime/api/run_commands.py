"""Commands on runs: ``POST /api/flow-runs/{id}/cancel`` and ``/retry``, and
``GET /api/flow-runs/{id}/runtime`` (the run as the runtime holds it, optionally waiting for
its next state: how ``run_deployment()`` follows a run before the store has recorded it)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any
from uuid import UUID

import nats.errors
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from proctor.runtime.deployments import LazyRuntime
from proctor.runtime.deployments.models import RunStatus
from proctor.runtime.orchestration import EntryStatus, RunEntry, RunPlane, cancel_run

__all__ = ("CancelRequest", "run_commands_router")

_NOT_IN_FLIGHT = (
    "is not a run the runtime knows: only runs requested from a deployment can be cancelled "
    "or retried (a script run directly ends with its process)"
)


class CancelRequest(BaseModel):
    message: str | None = Field(default=None, max_length=1000, description="Why (recorded).")


async def _next_entry(plane: RunPlane, run_id: UUID, after: UUID, wait_s: float) -> RunEntry | None:
    """The run's entry once its state is no longer ``after`` (or ``None`` after ``wait_s``).

    Watches the run's key, and reads it again every second as well: a watch can stall on a
    loaded broker, and a missed change must not hold the caller for the whole wait."""

    def changed(entry: RunEntry) -> bool:
        return entry.state.id != after or entry.status is EntryStatus.FINAL

    watcher: Any = await plane.board.kv.watch(str(run_id))
    deadline = asyncio.get_running_loop().time() + wait_s
    try:
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                update = await asyncio.wait_for(watcher.updates(), min(remaining, 1.0))
            except (TimeoutError, nats.errors.TimeoutError):
                found = await plane.board.get(run_id)
                if found is not None and changed(found[0]):
                    return found[0]
                continue
            if update is not None and update.value:
                entry = RunEntry.model_validate_json(update.value)
                if changed(entry):
                    return entry
    finally:
        with contextlib.suppress(nats.errors.Error):
            await watcher.stop()
    return None


def run_commands_router(runtime: LazyRuntime) -> APIRouter:
    router = APIRouter(prefix="/flow-runs", tags=["flow runs"])

    @router.post(
        "/{flow_run_id}/cancel",
        status_code=202,
        summary="Cancel a run: Cancelling, then Cancelled once its process is stopped",
    )
    async def cancel(flow_run_id: UUID, request: CancelRequest | None = None) -> RunStatus:
        plane = (await runtime.get()).plane
        before = await plane.board.get(flow_run_id)
        if before is None:
            raise HTTPException(404, f"flow run {flow_run_id} {_NOT_IN_FLIGHT}")
        if before[0].status is EntryStatus.FINAL:
            state = before[0].state.name
            raise HTTPException(
                409, f"flow run {flow_run_id} has ended ({state}): nothing to cancel"
            )
        entry = await cancel_run(plane, flow_run_id, request.message if request else None)
        if entry is None:
            raise HTTPException(404, f"flow run {flow_run_id} {_NOT_IN_FLIGHT}")
        return RunStatus.of(entry)

    @router.post(
        "/{flow_run_id}/retry",
        status_code=202,
        summary="Run an ended deployment run again with the same parameters (linked by retry_of)",
    )
    async def retry(flow_run_id: UUID) -> RunStatus:
        runtime_ = await runtime.get()
        found = await runtime_.plane.board.get(flow_run_id)
        if found is None:
            raise HTTPException(404, f"flow run {flow_run_id} {_NOT_IN_FLIGHT}")
        entry = found[0]
        if entry.status is not EntryStatus.FINAL:
            raise HTTPException(
                409, f"flow run {flow_run_id} has not ended ({entry.state.name}): cancel it first"
            )
        if entry.run.deployment_id is None:
            raise HTTPException(409, f"flow run {flow_run_id} is not a deployment's run")
        again, _ = await runtime_.deployments.request_run(
            entry.run.deployment_id,
            parameters=entry.job.parameters,  # as called (the snapshot's may be abridged)
            tags=entry.run.tags,
            retry_of=entry.run.id,
        )
        return RunStatus.of(again)

    @router.get(
        "/{flow_run_id}/runtime",
        summary="The run as the runtime holds it; with wait_s, wait for a state after `after`",
        response_model=RunStatus,
    )
    async def read(
        flow_run_id: UUID,
        wait_s: Annotated[float, Query(ge=0, le=60, description="Wait up to this long.")] = 0,
        after: Annotated[
            UUID | None, Query(description="Answer once the state is no longer this one.")
        ] = None,
    ) -> JSONResponse:
        plane = (await runtime.get()).plane
        found = await plane.board.get(flow_run_id)
        if found is None:
            raise HTTPException(404, f"flow run {flow_run_id} {_NOT_IN_FLIGHT}")
        entry = found[0]
        waiting = after is not None and entry.state.id == after
        if waiting and wait_s > 0 and entry.status is not EntryStatus.FINAL:
            assert after is not None
            entry = await _next_entry(plane, flow_run_id, after, wait_s) or entry
        return JSONResponse(RunStatus.of(entry).model_dump(mode="json"))

    return router
