"""Deployments: stored, looked up by ``flow/name`` or id, paused, and run.

``request_run`` is the one way a deployment run starts (the API, ``run_deployment()``, the CLI
and the automations' RunDeployment action all come here): it builds the run (parameters
merged over the deployment's defaults, tags, pool and queue) and submits it to the runtime,
which creates it Scheduled and queues it for a worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from proctor.core.errors import ConflictError, ObjectNotFoundError
from proctor.events.ids import uuid7
from proctor.runtime.deployments.models import (
    SERVE_POOL,
    Deployment,
    DeploymentSpec,
    stored_schedules,
)
from proctor.runtime.deployments.pools import WorkPoolService, live_workers
from proctor.runtime.engine.names import generate_run_name
from proctor.runtime.engine.parameters import jsonable_parameters
from proctor.runtime.orchestration import RunEntry, RunJob, RunMonitor, RunPlane, submit_run
from proctor.runtime.orchestration.announce import announce
from proctor.runtime.orchestration.model import DEFAULT_QUEUE, WorkerBeat
from proctor.runtime.run_events import FlowRunSnapshot
from proctor.runtime.store import Store
from proctor.runtime.store.control import DeploymentRow

__all__ = ("IDEMPOTENCY_NAMESPACE", "DeploymentService", "routing", "run_id_for")

IDEMPOTENCY_NAMESPACE = uuid.UUID("3f0d2b8e-6a51-4c7e-9d24-1b7f5e9a0c36")


def run_id_for(idempotency_key: str) -> UUID:
    """The flow run id an idempotency key stands for: the same key, the same run."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key)


def routing(deployment: Deployment) -> tuple[str, str]:
    """The pool and queue its runs are requested on (served deployments: a queue each)."""
    if deployment.work_pool is None:
        return SERVE_POOL, deployment.id.hex
    return deployment.work_pool, deployment.work_queue or DEFAULT_QUEUE


def _deployment(row: DeploymentRow, status: str = "not_ready") -> Deployment:
    return Deployment.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "flow_name": row.flow_name,
            "entrypoint": row.entrypoint or "",
            "description": row.description,
            "version": row.version,
            "parameters": row.parameters,
            "tags": row.tags,
            "work_pool": row.work_pool,
            "work_queue": row.work_queue,
            "schedules": row.schedules,
            "catch_up": row.catch_up,
            "concurrency_limit": row.concurrency_limit,
            "collision_strategy": row.collision_strategy,
            "paused": row.paused,
            "job_variables": row.job_variables,
            "created": row.created,
            "updated": row.updated,
            "status": status,
        }
    )


class DeploymentService:
    """Create, read, pause and run deployments (store + runtime)."""

    def __init__(
        self,
        store: Store,
        plane: RunPlane,
        pools: WorkPoolService,
        monitor: RunMonitor | None = None,
    ) -> None:
        self.store = store
        self.plane = plane
        self.pools = pools
        self.monitor = monitor

    # --- reading ------------------------------------------------------------------------------

    async def _row(self, ref: str | UUID) -> DeploymentRow | None:
        if isinstance(ref, UUID):
            return await self.store.deployments.get(ref)
        flow_name, slash, name = ref.partition("/")
        if slash:
            return await self.store.deployments.find(flow_name=flow_name, name=name)
        try:
            return await self.store.deployments.get(UUID(ref))
        except ValueError:
            return None

    async def _status(self, deployment: Deployment, workers: list[WorkerBeat] | None = None) -> str:
        """``ready`` when a live worker serves the deployment's queue (``workers``: the live
        workers of every pool, read once for a listing)."""
        pool, queue = routing(deployment)
        if workers is None:
            workers = await live_workers(self.plane, self.monitor, pool)
        serving = (beat for beat in workers if beat.pool == pool and queue in beat.queues)
        return "ready" if any(serving) else "not_ready"

    async def find(self, ref: str | UUID) -> Deployment | None:
        """The deployment ``flow-name/deployment-name`` (or with that id), or ``None``."""
        row = await self._row(ref)
        if row is None:
            return None
        deployment = _deployment(row)
        return deployment.model_copy(update={"status": await self._status(deployment)})

    async def get(self, ref: str | UUID) -> Deployment:
        """Like ``find``, but ``ObjectNotFoundError`` when there is none."""
        found = await self.find(ref)
        if found is None:
            raise ObjectNotFoundError(
                "deployment", str(ref), "name it 'flow-name/deployment-name' or by id"
            )
        return found

    async def all(self, *, flow_name: str | None = None) -> list[Deployment]:
        """Every deployment (of ``flow_name``), by flow then name."""
        filters = {"flow_name": flow_name} if flow_name else {}
        rows = (await self.store.deployments.list(limit=1000, **filters)).items
        workers = await live_workers(self.plane, self.monitor) if rows else []
        found = [_deployment(row) for row in rows]
        deployments = [
            d.model_copy(update={"status": await self._status(d, workers)}) for d in found
        ]
        return sorted(deployments, key=lambda d: (d.flow_name, d.name))

    # --- writing ------------------------------------------------------------------------------

    async def apply(self, spec: DeploymentSpec) -> Deployment:
        """Create the deployment, or replace the one with the same flow and name."""
        if spec.work_pool is not None:
            await self.pools.ensure(spec.work_pool, spec.work_queue)
        fields = spec.model_dump(mode="json")
        fields["schedules"] = stored_schedules(spec.schedules, spec.catch_up)
        for _ in range(3):
            row = await self.store.deployments.find(flow_name=spec.flow_name, name=spec.name)
            try:
                if row is None:
                    row = await self.store.deployments.create(DeploymentRow(**fields))
                else:
                    row = await self.store.deployments.update(row.id, **fields)
            except ConflictError:  # created meanwhile by another caller: update it
                continue
            if row is not None:
                deployment = await self.get(row.id)
                change = "created" if deployment.created == deployment.updated else "updated"
                await self._announce(deployment, change)
                return deployment
        raise ConflictError(
            f"deployment {spec.flow_name}/{spec.name} kept changing while it was saved; retry",
            field="name",
        )

    async def set_paused(self, ref: str | UUID, paused: bool) -> Deployment:
        """Pause (its schedules stop) or resume the deployment."""
        deployment = await self.get(ref)
        if deployment.paused == paused:
            return deployment
        await self.store.deployments.update(deployment.id, paused=paused)
        await self._announce(deployment, "paused" if paused else "resumed")
        return await self.get(deployment.id)

    async def delete(self, ref: str | UUID) -> bool:
        deployment = await self.find(ref)
        if deployment is None or not await self.store.deployments.delete(deployment.id):
            return False
        await self._announce(deployment, "deleted")
        return True

    async def _announce(self, deployment: Deployment, change: str) -> None:
        await announce(
            self.plane.bus,
            "deployment",
            str(deployment.id),
            deployment.name,
            change,
            payload={"flow_name": deployment.flow_name},
            pool=deployment.work_pool,
        )

    # --- running ------------------------------------------------------------------------------

    async def request_run(
        self,
        ref: str | UUID,
        *,
        parameters: Mapping[str, Any] | None = None,
        flow_run_id: UUID | None = None,
        idempotency_key: str | None = None,
        scheduled_time: datetime | None = None,
        tags: Sequence[str] = (),
        flow_run_name: str | None = None,
        work_queue: str | None = None,
        retry_of: UUID | None = None,
        caused_by: UUID | None = None,
    ) -> tuple[RunEntry, bool]:
        """Request a run of the deployment; the run's entry, and whether this created it.

        The run's id is ``flow_run_id``, else derived from ``idempotency_key`` (the same key
        gives the same run, created once), else new.
        """
        deployment = await self.get(ref)
        if flow_run_id is None:
            flow_run_id = run_id_for(idempotency_key) if idempotency_key else uuid7()
        merged = {**deployment.parameters, **(parameters or {})}
        pool, queue = routing(deployment)
        if work_queue is not None and deployment.work_pool is not None:
            await self.pools.ensure(deployment.work_pool, work_queue)
            queue = work_queue
        all_tags = tuple(dict.fromkeys([*deployment.tags, *tags]))
        run = FlowRunSnapshot(
            id=flow_run_id,
            name=flow_run_name or generate_run_name(),
            flow_name=deployment.flow_name,
            flow_version=deployment.version,
            deployment_id=deployment.id,
            deployment_name=deployment.name,
            work_pool=deployment.work_pool,
            work_queue=queue if deployment.work_pool is not None else None,
            parameters=jsonable_parameters(merged),
            tags=all_tags,
            retry_of=retry_of,
        )
        job = RunJob(
            entrypoint=deployment.entrypoint,
            working_dir=deployment.job_variables.working_dir,
            env=deployment.job_variables.env,
            parameters=merged,
            work_pool=pool,
            work_queue=queue,
            concurrency_limit=deployment.concurrency_limit,
            collision_strategy=deployment.collision_strategy,
        )
        return await submit_run(
            self.plane, run, job, scheduled_time=scheduled_time, caused_by=caused_by
        )
