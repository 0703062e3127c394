"""Deployments from Python: ``flow.deploy(...)`` and ``run_deployment(...)``, over the API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from uuid import UUID

from proctor.core.errors import ConfigurationError
from proctor.runtime.deployments.models import (
    Cron,
    Deployment,
    DeploymentSpec,
    Interval,
    JobVariables,
    RunStatus,
    ScheduleSpec,
)
from proctor.runtime.engine.execution import run_coroutine_sync
from proctor.runtime.orchestration.model import CollisionStrategy, EntryStatus
from proctor.runtime.worker.entrypoints import entrypoint_of
from proctor.triggers.schedules import CatchUp

if TYPE_CHECKING:
    from proctor.runtime.engine.flows import Flow

__all__ = (
    "DeployOptions",
    "arun_deployment",
    "deployment_spec",
    "flow_deploy",
    "run_deployment",
)


class DeployOptions(TypedDict, total=False):
    """Options of ``flow.deploy(name, ...)`` and ``flow.serve(name, ...)``."""

    work_pool: str | None
    work_queue: str | None
    parameters: Mapping[str, Any]
    tags: Iterable[str]
    schedules: Sequence[ScheduleSpec | Mapping[str, Any]]
    cron: str | None
    interval: float | timedelta | None
    timezone: str
    catch_up: CatchUp | Mapping[str, Any] | None
    concurrency_limit: int | None
    collision_strategy: CollisionStrategy | str
    paused: bool
    description: str | None
    version: str | None
    entrypoint: str | None
    working_dir: str | Path | None
    env: Mapping[str, str] | None


def _schedules(options: DeployOptions) -> list[ScheduleSpec]:
    found: list[ScheduleSpec] = []
    for item in options.get("schedules", ()):
        if isinstance(item, Cron | Interval):
            found.append(item)
        elif "cron" in item:
            found.append(Cron.model_validate(item))
        else:
            found.append(Interval.model_validate(item))
    cron, interval = options.get("cron"), options.get("interval")
    if cron is not None:
        found.append(Cron(cron, timezone=options.get("timezone", "UTC")))
    if interval is not None:
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else interval
        found.append(Interval(seconds))
    return found


def deployment_spec(flow: Flow[Any, Any], name: str, options: DeployOptions) -> DeploymentSpec:
    """The deployment ``flow.deploy(name, **options)`` describes (checked against the flow)."""
    working_dir = Path(options.get("working_dir") or Path.cwd()).resolve()
    parameters = dict(options.get("parameters") or {})
    try:
        flow.signature.signature.bind_partial(**parameters)
    except TypeError as error:
        raise ConfigurationError(
            f"deployment {name!r}: parameters do not fit flow {flow.name!r}: {error}",
            setting="parameters",
        ) from None
    version = options.get("version", flow.version)
    description = options.get("description", flow.description)
    return DeploymentSpec(
        name=name,
        flow_name=flow.name,
        entrypoint=options.get("entrypoint") or entrypoint_of(flow, working_dir),
        description=description,
        version=version,
        parameters=parameters,
        tags=list(dict.fromkeys([*flow.tags, *options.get("tags", ())])),
        work_pool=options.get("work_pool"),
        work_queue=options.get("work_queue"),
        schedules=_schedules(options),
        catch_up=CatchUp.model_validate(options["catch_up"]) if options.get("catch_up") else None,
        concurrency_limit=options.get("concurrency_limit"),
        collision_strategy=CollisionStrategy(options.get("collision_strategy", "enqueue")),
        paused=options.get("paused", False),
        job_variables=JobVariables(
            working_dir=str(working_dir), env=dict(options.get("env") or {})
        ),
    )


async def _apply(spec: DeploymentSpec) -> Deployment:
    from proctor.runtime.client import get_client

    async with get_client() as client:
        return await client.deployments.apply(spec)


def flow_deploy(flow: Flow[Any, Any], name: str, options: DeployOptions) -> Deployment:
    """Create (or update) the deployment of ``flow`` on the server; what ``flow.deploy`` does."""
    if options.get("work_pool") is None:
        raise ConfigurationError(
            f"deployment {name!r}: give work_pool= (workers of that pool run it: "
            "`proctor worker start --pool NAME`), or use flow.serve() to run it in this process",
            setting="work_pool",
        )
    return run_coroutine_sync(_apply(deployment_spec(flow, name, options)))


async def arun_deployment(
    name: str | UUID,
    parameters: Mapping[str, Any] | None = None,
    *,
    timeout_s: float | None = None,
    idempotency_key: str | None = None,
    flow_run_id: UUID | None = None,
    scheduled_time: datetime | None = None,
    tags: Sequence[str] = (),
    flow_run_name: str | None = None,
    work_queue: str | None = None,
) -> RunStatus:
    """Request a run of the deployment ``flow-name/deployment-name`` (or id) and wait for it.

    ``timeout_s=0`` returns at once (the run is Scheduled); ``None`` waits until the run ends;
    otherwise it waits at most that long and returns the run as it is then.
    """
    from proctor.runtime.client import get_client

    async with get_client() as client:
        status = await client.deployments.run(
            name,
            parameters,
            idempotency_key=idempotency_key,
            flow_run_id=flow_run_id,
            scheduled_time=scheduled_time,
            tags=tags,
            flow_run_name=flow_run_name,
            work_queue=work_queue,
        )
        if timeout_s == 0:
            return status
        run_id = status.flow_run_id
        try:
            async for current in client.runs.follow(run_id, timeout_s=timeout_s):
                if current.status is EntryStatus.FINAL:
                    return current
        except TimeoutError:
            pass
        return await client.runs.status(run_id)


def run_deployment(
    name: str | UUID,
    parameters: Mapping[str, Any] | None = None,
    *,
    timeout_s: float | None = None,
    idempotency_key: str | None = None,
    flow_run_id: UUID | None = None,
    scheduled_time: datetime | None = None,
    tags: Sequence[str] = (),
    flow_run_name: str | None = None,
    work_queue: str | None = None,
) -> RunStatus:
    """``arun_deployment`` for sync code: request a run and (unless ``timeout_s=0``) wait."""
    return run_coroutine_sync(
        arun_deployment(
            name,
            parameters,
            timeout_s=timeout_s,
            idempotency_key=idempotency_key,
            flow_run_id=flow_run_id,
            scheduled_time=scheduled_time,
            tags=tags,
            flow_run_name=flow_run_name,
            work_queue=work_queue,
        )
    )
