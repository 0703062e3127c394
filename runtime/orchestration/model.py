"""What NATS holds about runs in flight: run entries (leases), worker heartbeats, pool configs.

A *run entry* is the one place the orchestration state of a requested flow run lives while it
is queued or executing, one JetStream KV key per run (``Naming.runs_bucket``). Every party
that moves such a run (the requester, a worker, the monitor, a cancel command) reads the
entry, checks the transition, and writes it back with a compare-and-set on its revision; only
the winner publishes the state event. So a run is claimed once, marked Late once, Crashed once.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.events.model import Event
from proctor.runtime.engine.states import validate_transition
from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot, state_change_event

__all__ = (
    "DEFAULT_QUEUE",
    "CollisionStrategy",
    "EntryStatus",
    "PoolConfig",
    "QueueConfig",
    "RunEntry",
    "RunJob",
    "WorkerBeat",
    "check_pool_name",
    "state_event",
)

DEFAULT_QUEUE = "default"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_pool_name(value: str, what: str = "work pool") -> str:
    """``value`` if it is a valid pool or queue name, else ``ValueError`` saying why."""
    if not _NAME.match(value):
        raise ValueError(f"{what} name {value!r} must be 1-64 letters, digits, '-' or '_'")
    return value


class EntryStatus(StrEnum):
    """Where a requested run is: waiting for a worker, held by one, or ended."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    FINAL = "final"


class CollisionStrategy(StrEnum):
    """What happens to a new run of a deployment that is at its concurrency limit."""

    ENQUEUE = "enqueue"
    CANCEL_NEW = "cancel-new"


class RunJob(BaseModel):
    """How and where a requested run executes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    entrypoint: str = Field(description="path/file.py:flow or module:flow.")
    working_dir: str | None = Field(
        default=None, description="Folder the run starts in (relative entrypoints resolve here)."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="What the flow is called with (JSON values)."
    )
    work_pool: str = Field(description="The pool whose workers claim the run.")
    work_queue: str = Field(default=DEFAULT_QUEUE, description="The queue within the pool.")
    concurrency_limit: int | None = Field(
        default=None, ge=1, description="Most runs of the deployment executing at once."
    )
    collision_strategy: CollisionStrategy = Field(
        default=CollisionStrategy.ENQUEUE,
        description="At the deployment's limit: 'enqueue' waits, 'cancel-new' cancels the run.",
    )


class RunEntry(BaseModel):
    """A requested run's orchestration state: the KV value under its flow run id."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: EntryStatus
    job: RunJob
    run: FlowRunSnapshot = Field(description="The run as of its latest known state.")
    state: StateSnapshot = Field(description="Its latest known state.")
    event_id: UUID | None = Field(description="Id of the event of that state (next `follows`).")
    scheduled_time: datetime = Field(description="When it is due to start.")
    worker: str | None = Field(default=None, description="Id of the worker holding it.")
    slots: tuple[str, ...] = Field(default=(), description="Concurrency slot keys it holds.")
    cancel_requested: bool = False
    caused_by: UUID | None = Field(default=None, description="The event that requested it.")
    traceparent: str | None = Field(
        default=None,
        description="Trace context of its request: the parent of the run's span, carried by "
        "the state events the runtime publishes for it.",
    )

    @property
    def id(self) -> UUID:
        return self.run.id

    def is_behind(self, state: StateSnapshot) -> bool:
        """Whether ``state`` was entered after this entry's state (by time, then id)."""
        return (state.timestamp, state.id) > (self.state.timestamp, self.state.id)

    def advance(self, state: StateSnapshot, **changes: Any) -> tuple[RunEntry, Event]:
        """This entry moved to ``state`` and the event saying so (``follows`` the last one).

        ``InvalidStateTransitionError`` if the run may not enter ``state``.
        """
        validate_transition(self.state, state)
        run = self.run
        if state.type.is_terminal and run.end_time is None:
            run = run.model_copy(update={"end_time": state.timestamp})
        event = state_event(
            run, state, self.state, self.event_id, self.caused_by, traceparent=self.traceparent
        )
        entry = self.model_copy(
            update={"run": run, "state": state, "event_id": event.id, **changes}
        )
        return entry, event


def state_event(
    run: FlowRunSnapshot,
    state: StateSnapshot,
    previous: StateSnapshot | None,
    follows: UUID | None,
    caused_by: UUID | None = None,
    *,
    event_id: UUID | None = None,
    traceparent: str | None = None,
) -> Event:
    """The state-change event of ``run`` entering ``state`` (with a given id, to re-send it)."""
    event = state_change_event(run, state, previous, follows=follows, traceparent=traceparent)
    update: dict[str, Any] = {}
    if event_id is not None:
        update["id"] = event_id
    if caused_by is not None:
        update["caused_by"] = caused_by
        update["hops"] = 1
    return event.model_copy(update=update) if update else event


class QueueConfig(BaseModel):
    """A work queue: its priority (1 is served first) and limits."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(description="Letters, digits, '-' or '_'.")
    priority: int = Field(default=1, ge=1, description="Lower is served first.")
    concurrency_limit: int | None = Field(
        default=None, ge=1, description="Most runs of this queue executing at once."
    )
    paused: bool = Field(default=False, description="Workers claim nothing from it.")

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pool_name(value, "work queue")


class PoolConfig(BaseModel):
    """What a worker needs to know about its pool (mirrored to KV by the server)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    type: str = "process"
    concurrency_limit: int | None = Field(default=None, ge=1)
    paused: bool = False
    queues: tuple[QueueConfig, ...] = (QueueConfig(name=DEFAULT_QUEUE),)

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pool_name(value)

    def queue(self, name: str) -> QueueConfig | None:
        return next((q for q in self.queues if q.name == name), None)

    def by_priority(self) -> list[QueueConfig]:
        """The queues, highest priority first (then by name)."""
        return sorted(self.queues, key=lambda q: (q.priority, q.name))


class WorkerBeat(BaseModel):
    """A worker's heartbeat: who it is, what it serves, how often it beats."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    pool: str
    queues: tuple[str, ...]
    limit: int | None
    running: int
    heartbeat_s: float
    started: datetime
    sent: datetime
