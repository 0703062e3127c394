"""``/api/deployments``: create (by flow and name), list, read, change, pause, resume, delete
deployments, and request their runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from proctor.core.errors import ConflictError, InvalidStateTransitionError, ObjectNotFoundError
from proctor.runtime.deployments import (
    Deployment,
    DeploymentService,
    DeploymentSpec,
    LazyRuntime,
)
from proctor.runtime.deployments.models import RunRequest, RunStatus
from proctor.runtime.store import Page

__all__ = ("deployments_router", "http_errors")


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """Unknown objects answer 404; clashes and refused transitions 409."""
    try:
        yield
    except ObjectNotFoundError as error:
        raise HTTPException(404, str(error)) from None
    except (ConflictError, InvalidStateTransitionError) as error:
        raise HTTPException(409, str(error)) from None


def deployments_router(runtime: LazyRuntime) -> APIRouter:
    router = APIRouter(prefix="/deployments", tags=["deployments"])

    async def service() -> DeploymentService:
        return (await runtime.get()).deployments

    @router.post(
        "",
        summary="Create a deployment, or replace the one with the same flow and name",
        response_model=Deployment,
        responses={201: {"model": Deployment, "description": "Created"}},
    )
    async def apply(spec: DeploymentSpec) -> JSONResponse:
        with http_errors():
            deployment = await (await service()).apply(spec)
        status = 201 if deployment.created == deployment.updated else 200
        return JSONResponse(deployment.model_dump(mode="json"), status)

    @router.get("", summary="Deployments, by flow then name")
    async def list_deployments(flow_name: str | None = None) -> Page[Deployment]:
        return Page[Deployment](items=await (await service()).all(flow_name=flow_name))

    @router.get("/name/{flow_name}/{name}", summary="A deployment by flow and name")
    async def read_by_name(flow_name: str, name: str) -> Deployment:
        with http_errors():
            found = await (await service()).get(f"{flow_name}/{name}")
        return found

    @router.get("/{deployment_id}", summary="A deployment")
    async def read(deployment_id: UUID) -> Deployment:
        with http_errors():
            found = await (await service()).get(deployment_id)
        return found

    @router.patch("/{deployment_id}", summary="Change some fields of a deployment")
    async def update(deployment_id: UUID, changes: dict[str, Any]) -> Deployment:
        deployments = await service()
        with http_errors():
            current = await deployments.get(deployment_id)
            fields = current.model_dump(include=set(DeploymentSpec.model_fields))
            unknown = sorted(set(changes) - set(DeploymentSpec.model_fields))
            if unknown:
                raise HTTPException(422, f"{unknown[0]}: not a field of a deployment")
            if {"name", "flow_name"} & set(changes):
                raise HTTPException(422, "name: a deployment's flow and name cannot change")
            try:
                spec = DeploymentSpec.model_validate({**fields, **changes})
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise HTTPException(422, f"{where}: {first['msg']}") from None
            updated = await deployments.apply(spec)
        return updated

    @router.post("/{deployment_id}/pause", summary="Pause: its schedules stop")
    async def pause(deployment_id: UUID) -> Deployment:
        with http_errors():
            paused = await (await service()).set_paused(deployment_id, True)
        return paused

    @router.post("/{deployment_id}/resume", summary="Resume: its schedules start again")
    async def resume(deployment_id: UUID) -> Deployment:
        with http_errors():
            resumed = await (await service()).set_paused(deployment_id, False)
        return resumed

    @router.delete("/{deployment_id}", status_code=204, summary="Delete a deployment")
    async def delete(deployment_id: UUID) -> Response:
        if not await (await service()).delete(deployment_id):
            raise HTTPException(404, f"no deployment {deployment_id}")
        return Response(status_code=204)

    async def request_run(ref: str | UUID, request: RunRequest) -> JSONResponse:
        with http_errors():
            entry, created = await (await service()).request_run(
                ref,
                parameters=request.parameters,
                flow_run_id=request.flow_run_id,
                idempotency_key=request.idempotency_key,
                scheduled_time=request.scheduled_time,
                tags=request.tags,
                flow_run_name=request.flow_run_name,
                work_queue=request.work_queue,
            )
        status = RunStatus.of(entry, created)
        return JSONResponse(status.model_dump(mode="json"), 201 if created else 200)

    run_responses: dict[int | str, dict[str, Any]] = {
        201: {"model": RunStatus, "description": "Created: the run is Scheduled"},
        200: {"model": RunStatus, "description": "A run with this id or key existed"},
    }

    @router.post(
        "/{deployment_id}/runs",
        summary="Request a run: created Scheduled at once, started by a worker of its pool",
        response_model=RunStatus,
        responses=run_responses,
    )
    async def run(deployment_id: UUID, request: RunRequest) -> JSONResponse:
        return await request_run(deployment_id, request)

    @router.post(
        "/name/{flow_name}/{name}/runs",
        summary="Request a run of a deployment named by flow and name",
        response_model=RunStatus,
        responses=run_responses,
    )
    async def run_by_name(flow_name: str, name: str, request: RunRequest) -> JSONResponse:
        return await request_run(f"{flow_name}/{name}", request)

    return router
