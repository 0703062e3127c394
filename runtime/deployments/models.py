"""Deployments and work pools as the API, the client and ``flow.deploy`` see them.

A deployment's ``schedules`` are data: ``{"cron": "0 9 * * *", "timezone": "Europe/Paris",
"active": true}`` or ``{"interval_s": 3600, "anchor": null, "active": true}``, plus one
``catch_up`` policy for the deployment. The automations engine turns each active schedule of an
active deployment into an automation owned by the deployment (a cron or interval trigger
with a run-deployment action), so there is one clock-driven mechanism in the platform.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.runtime.orchestration.model import (
    CollisionStrategy,
    EntryStatus,
    QueueConfig,
    RunEntry,
    WorkerBeat,
    check_pool_name,
)
from proctor.runtime.run_events import StateSnapshot
from proctor.triggers.schedules import MAX_INTERVAL, CatchUp, CronExpression, TimeZoneName

__all__ = (
    "SERVE_POOL",
    "Cron",
    "Deployment",
    "DeploymentSpec",
    "Interval",
    "JobVariables",
    "QueueStatus",
    "RunRequest",
    "RunStatus",
    "ScheduleSpec",
    "TagLimit",
    "WorkPool",
    "WorkPoolSpec",
    "stored_schedules",
)

SERVE_POOL = "_serve"
MAX_LIMIT = 1_000_000
"""Largest concurrency limit accepted (a database integer column holds it)."""
"""The pool runs of served deployments (no work pool) are requested on, one queue each."""

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Cron(BaseModel):
    """A cron schedule in an IANA time zone: ``Cron("0 9 * * 1-5", timezone="Europe/Paris")``.

    Daylight-saving rule: a fixed time in a skipped hour fires once at the end of the gap, a
    fixed time in a repeated hour fires once (its first occurrence); see docs/schedules.md.
    """

    model_config = _STRICT

    cron: CronExpression = Field(
        description="Five-field cron expression, or an alias such as '@daily'."
    )
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone of the expression.")
    active: bool = Field(default=True, description="Inactive schedules create no runs.")
    catch_up: CatchUp | None = Field(
        default=None, description="Missed slots policy; none: the deployment's catch_up."
    )

    def __init__(self, cron: str | None = None, /, **data: Any) -> None:
        if cron is not None:
            data["cron"] = cron
        super().__init__(**data)


class Interval(BaseModel):
    """Every ``interval_s`` seconds, on the grid ``anchor + k * interval``:
    ``Interval(3600)``."""

    model_config = _STRICT

    interval_s: float = Field(
        gt=0, le=MAX_INTERVAL.total_seconds(), description="Seconds between runs."
    )
    anchor: datetime | None = Field(
        default=None, description="An instant on the grid (aware); none: 2000-01-01T00:00Z."
    )
    active: bool = Field(default=True, description="Inactive schedules create no runs.")
    catch_up: CatchUp | None = Field(
        default=None, description="Missed slots policy; none: the deployment's catch_up."
    )

    def __init__(self, interval_s: float | None = None, /, **data: Any) -> None:
        if interval_s is not None:
            data["interval_s"] = interval_s
        super().__init__(**data)

    @field_validator("anchor", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("anchor must be timezone-aware")
        return value


ScheduleSpec = Cron | Interval
"""One schedule of a deployment (told apart by its fields: ``cron`` or ``interval_s``)."""


def stored_schedules(
    schedules: list[ScheduleSpec], catch_up: CatchUp | None
) -> list[dict[str, Any]]:
    """The schedules as stored: JSON, each with its catch-up policy spelled out (its own, else
    the deployment's), omitting unset fields, as the automations engine reads them."""
    stored = []
    for schedule in schedules:
        if schedule.catch_up is None and catch_up is not None:
            schedule = schedule.model_copy(update={"catch_up": catch_up})
        stored.append(schedule.model_dump(mode="json", exclude_none=True))
    return stored


class JobVariables(BaseModel):
    """Where and how a deployment's runs execute."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    working_dir: str | None = Field(
        default=None, description="Folder runs start in; relative entrypoints resolve here."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")


class DeploymentSpec(BaseModel):
    """What a deployment is: a flow, where it runs, with what, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique per flow.")
    flow_name: str = Field(min_length=1, description="Name of the flow it runs.")
    entrypoint: str = Field(description="path/file.py:flow or module:flow.")
    description: str | None = None
    version: str | None = None
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Default parameters; a run's own override them."
    )
    tags: list[str] = Field(default_factory=list, description="Tags of every run.")
    work_pool: str | None = Field(
        default=None, description="Pool whose workers run it; none: served by flow.serve()."
    )
    work_queue: str | None = Field(default=None, description="Queue in the pool (default).")
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    catch_up: CatchUp | None = Field(
        default=None, description="Slots missed while nothing ran: skip, once, or all."
    )
    concurrency_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LIMIT,
        description="Most runs of this deployment executing at once.",
    )
    collision_strategy: CollisionStrategy = Field(
        default=CollisionStrategy.ENQUEUE,
        description="At the limit: 'enqueue' waits for a slot, 'cancel-new' cancels the run.",
    )
    paused: bool = Field(default=False, description="A paused deployment's schedules stop.")
    job_variables: JobVariables = Field(default_factory=JobVariables)

    @field_validator("work_pool", mode="after")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        if value is not None:
            check_pool_name(value)
            if value.startswith("_"):
                raise ValueError(f"work pool name {value!r}: names starting with '_' are reserved")
        return value

    @field_validator("work_queue", mode="after")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        return check_pool_name(value, "work queue") if value is not None else None

    @field_validator("name", "flow_name", mode="after")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        if "/" in value:
            raise ValueError(f"{value!r}: names cannot contain '/' (it separates flow/deployment)")
        return value


class Deployment(DeploymentSpec):
    """A stored deployment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    created: datetime
    updated: datetime
    status: Literal["ready", "not_ready"] = Field(
        default="not_ready", description="'ready' when a live worker serves its queue."
    )

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``: how people and the CLI refer to it."""
        return f"{self.flow_name}/{self.name}"


class RunRequest(BaseModel):
    """A request to run a deployment (its parameters override the deployment's defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        default=None, max_length=500, description="The same key always gives the same run."
    )
    flow_run_id: UUID | None = Field(default=None, description="Give the run this id.")
    scheduled_time: datetime | None = Field(default=None, description="Not before (aware).")
    tags: list[str] = Field(default_factory=list, description="Extra tags for this run.")
    flow_run_name: str | None = None
    work_queue: str | None = Field(default=None, description="Another queue of the pool.")

    @field_validator("scheduled_time", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("scheduled_time must be timezone-aware")
        return value


class RunStatus(BaseModel):
    """A requested run as the runtime holds it: queued, claimed by a worker, or ended."""

    model_config = ConfigDict(frozen=True)

    flow_run_id: UUID
    name: str
    flow_name: str
    deployment_id: UUID | None
    deployment_name: str | None
    work_pool: str | None
    work_queue: str | None
    status: EntryStatus = Field(description="queued, claimed or final.")
    state: StateSnapshot = Field(description="Its latest state.")
    scheduled_time: datetime
    worker: str | None = Field(default=None, description="The worker executing it.")
    cancel_requested: bool = False
    created: bool | None = Field(
        default=None, description="For a run request: whether this request created the run."
    )

    @classmethod
    def of(cls, entry: RunEntry, created: bool | None = None) -> RunStatus:
        run = entry.run
        return cls(
            flow_run_id=run.id,
            name=run.name,
            flow_name=run.flow_name,
            deployment_id=run.deployment_id,
            deployment_name=run.deployment_name,
            work_pool=run.work_pool,
            work_queue=run.work_queue,
            status=entry.status,
            state=entry.state,
            scheduled_time=entry.scheduled_time,
            worker=entry.worker,
            cancel_requested=entry.cancel_requested,
            created=created,
        )


class WorkPoolSpec(BaseModel):
    """A pool of workers and its queues (by priority; 1 is served first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str = Field(default="process", description="What its workers launch runs in.")
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    paused: bool = False
    queues: list[QueueConfig] = Field(default_factory=lambda: [QueueConfig(name="default")])

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        check_pool_name(value)
        if value.startswith("_"):
            raise ValueError(f"work pool name {value!r}: names starting with '_' are reserved")
        return value

    @field_validator("queues", mode="after")
    @classmethod
    def _unique(cls, value: list[QueueConfig]) -> list[QueueConfig]:
        names = [q.name for q in value]
        if len(set(names)) != len(names):
            raise ValueError(f"queue names must be unique, not {names}")
        return value


class TagLimit(BaseModel):
    """At most ``limit`` runs tagged ``tag`` execute at once, across all workers."""

    model_config = ConfigDict(frozen=True)

    tag: str
    limit: int = Field(ge=0)
    active: int = Field(default=0, description="Runs holding a slot now.")


class QueueStatus(QueueConfig):
    """A queue and whether a live worker serves it."""

    status: Literal["ready", "not_ready", "paused"] = Field(
        description="'not_ready': no live worker of the pool serves this queue."
    )
    ready: bool = Field(description="A live worker serves it (and it is not paused).")
    workers: int = Field(description="Live workers serving it.")


class WorkPool(BaseModel):
    """A stored pool, with its queues' readiness and its live workers."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str
    type: str
    description: str | None = None
    concurrency_limit: int | None = None
    paused: bool = False
    created: datetime
    updated: datetime
    status: Literal["ready", "not_ready", "paused"]
    queues: list[QueueStatus]
    workers: list[WorkerBeat]
