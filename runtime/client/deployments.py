"""``client.deployments``: deployments over the API, and run requests."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from proctor.runtime.client.base import ApiTransport
from proctor.runtime.deployments.models import Deployment, DeploymentSpec, RunRequest, RunStatus

__all__ = ("DeploymentsClient", "deployment_path")


def deployment_path(ref: str | UUID) -> str:
    """The API path of a deployment given by id or ``flow-name/deployment-name``."""
    if isinstance(ref, UUID):
        return f"/api/deployments/{ref}"
    flow_name, slash, name = ref.partition("/")
    if slash:
        return f"/api/deployments/name/{quote(flow_name, safe='')}/{quote(name, safe='')}"
    try:
        return f"/api/deployments/{UUID(ref)}"
    except ValueError:
        raise ValueError(
            f"deployment {ref!r}: name it 'flow-name/deployment-name', or give its id"
        ) from None


class DeploymentsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def apply(self, spec: DeploymentSpec) -> Deployment:
        """Create the deployment, or replace the one with the same flow and name."""
        answer = await self._transport.request(
            "POST", "/api/deployments", json=spec.model_dump(mode="json")
        )
        return Deployment.model_validate(answer)

    async def list(self, *, flow_name: str | None = None) -> builtins.list[Deployment]:
        answer = await self._transport.request(
            "GET", "/api/deployments", params={"flow_name": flow_name}
        )
        return [Deployment.model_validate(item) for item in answer["items"]]

    async def read(self, ref: str | UUID) -> Deployment:
        """A deployment by id or ``flow/name`` (``NotFoundError`` if there is none)."""
        return Deployment.model_validate(await self._transport.request("GET", deployment_path(ref)))

    async def _id(self, ref: str | UUID) -> UUID:
        return ref if isinstance(ref, UUID) else (await self.read(ref)).id

    async def update(self, ref: str | UUID, **changes: Any) -> Deployment:
        deployment_id = await self._id(ref)
        answer = await self._transport.request(
            "PATCH", f"/api/deployments/{deployment_id}", json=changes
        )
        return Deployment.model_validate(answer)

    async def pause(self, ref: str | UUID) -> Deployment:
        path = f"/api/deployments/{await self._id(ref)}/pause"
        return Deployment.model_validate(await self._transport.request("POST", path))

    async def resume(self, ref: str | UUID) -> Deployment:
        path = f"/api/deployments/{await self._id(ref)}/resume"
        return Deployment.model_validate(await self._transport.request("POST", path))

    async def delete(self, ref: str | UUID) -> None:
        await self._transport.request("DELETE", f"/api/deployments/{await self._id(ref)}")

    async def run(
        self,
        ref: str | UUID,
        parameters: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        flow_run_id: UUID | None = None,
        scheduled_time: datetime | None = None,
        tags: Sequence[str] = (),
        flow_run_name: str | None = None,
        work_queue: str | None = None,
    ) -> RunStatus:
        """Request a run; it is Scheduled when this returns (``created`` says whether this
        request made it, or a run with the same id or key existed)."""
        request = RunRequest(
            parameters=dict(parameters or {}),
            idempotency_key=idempotency_key,
            flow_run_id=flow_run_id,
            scheduled_time=scheduled_time,
            tags=list(tags),
            flow_run_name=flow_run_name,
            work_queue=work_queue,
        )
        answer = await self._transport.request(
            "POST", f"{deployment_path(ref)}/runs", json=request.model_dump(mode="json")
        )
        return RunStatus.model_validate(answer)
