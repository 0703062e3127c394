"""Storage models of the query side: flows, runs, states, the task graph, logs, the events
index and dead letters. Written by the recorder; these are not the wire models.

Keys are client-made UUIDs (the state's, the event's, the run's), so batches insert in one
statement and a replay finds the rows it already wrote. There are no foreign keys: events
arrive in any order (a task run may be recorded before its flow run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, Text
from sqlmodel import Field

from proctor.runtime.store.columns import StoreModel, UTCDateTime

__all__ = (
    "DeadLetterRow",
    "EventResourceRow",
    "EventRow",
    "FlowRow",
    "FlowRunRow",
    "RunLogRow",
    "StateRow",
    "TaskRunEdgeRow",
    "TaskRunRow",
)


class FlowRow(StoreModel, table=True):
    """A flow, known by name from the runs recorded for it."""

    __tablename__ = "flow"

    id: UUID = Field(primary_key=True, description="uuid5 of the name: stable across replays.")
    name: str = Field(unique=True)
    first_seen: datetime = Field(sa_type=UTCDateTime)


class _CurrentState(StoreModel):
    """The current state of a run: the one with the latest (timestamp, id) recorded."""

    state_id: UUID
    state_type: str = Field(index=True)
    state_name: str = Field(index=True)
    state_timestamp: datetime = Field(sa_type=UTCDateTime, index=True)
    state_message: str | None = Field(default=None, sa_type=Text)
    state_scheduled_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expected_start_time: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FlowRunRow(_CurrentState, table=True):
    """A flow run as of its latest state."""

    __tablename__ = "flow_run"

    id: UUID = Field(primary_key=True)
    name: str
    flow_name: str = Field(index=True)
    flow_version: str | None = None
    deployment_id: UUID | None = Field(default=None, index=True)
    deployment_name: str | None = None
    work_pool: str | None = Field(default=None, index=True)
    work_queue: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    run_count: int = 0
    parent_flow_run_id: UUID | None = Field(default=None, index=True)
    parent_task_run_id: UUID | None = None
    retry_of: UUID | None = None


class TaskRunRow(_CurrentState, table=True):
    """A task run as of its latest state."""

    __tablename__ = "task_run"

    id: UUID = Field(primary_key=True)
    name: str
    task_key: str
    dynamic_key: str
    flow_run_id: UUID | None = Field(default=None, index=True)
    flow_name: str | None = None
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    run_count: int = 0
    task_inputs: dict[str, list[str]] = Field(default_factory=dict, sa_type=JSON)
    wait_for: list[str] = Field(default_factory=list, sa_type=JSON)
    cache_key: str | None = None


class StateRow(StoreModel, table=True):
    """One state a run entered: the history, once per state id."""

    __tablename__ = "run_state"
    __table_args__ = (Index(None, "run_id", "timestamp"),)

    id: UUID = Field(primary_key=True)
    run_id: UUID
    run_kind: str = Field(description="'flow-run' or 'task-run'.")
    type: str
    name: str
    timestamp: datetime = Field(sa_type=UTCDateTime)
    message: str | None = Field(default=None, sa_type=Text)
    scheduled_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    event_id: UUID


class TaskRunEdgeRow(StoreModel, table=True):
    """An edge of the task graph: ``upstream_id`` fed ``downstream_id``."""

    __tablename__ = "task_run_edge"

    downstream_id: UUID = Field(primary_key=True)
    upstream_id: UUID = Field(primary_key=True)
    parameter: str = Field(primary_key=True, description="'' for a wait_for edge.")
    flow_run_id: UUID | None = Field(default=None, index=True)


class RunLogRow(StoreModel, table=True):
    """A log line of a run."""

    __tablename__ = "run_log"
    __table_args__ = (Index(None, "flow_run_id", "timestamp"),)

    id: UUID = Field(primary_key=True)
    flow_run_id: UUID | None = Field(default=None, description="None for a lone task run.")
    task_run_id: UUID | None = Field(default=None, index=True)
    timestamp: datetime = Field(sa_type=UTCDateTime)
    level: int
    logger: str
    message: str = Field(sa_type=Text)


class EventRow(StoreModel, table=True):
    """The events index: every event recorded, as received, with what queries filter on."""

    __tablename__ = "event"
    __table_args__ = (Index(None, "occurred", "id"),)

    id: UUID = Field(primary_key=True)
    occurred: datetime = Field(sa_type=UTCDateTime)
    event: str = Field(index=True)
    resource_id: str = Field(index=True)
    data: str = Field(sa_type=Text, description="The event's JSON, as it was on the stream.")


class EventResourceRow(StoreModel, table=True):
    """A related resource of an event, for 'events involving X' queries."""

    __tablename__ = "event_resource"
    __table_args__ = (Index(None, "resource_id", "occurred"),)

    event_id: UUID = Field(primary_key=True)
    resource_id: str = Field(primary_key=True)
    role: str = Field(primary_key=True)
    occurred: datetime = Field(sa_type=UTCDateTime)


class DeadLetterRow(StoreModel, table=True):
    """A message the recorder could not project: kept with the reason, then skipped."""

    __tablename__ = "dead_letter"

    id: UUID = Field(primary_key=True, description="uuid5 of the message bytes.")
    consumer: str
    stream_sequence: int = Field(sa_type=BigInteger)
    event_name: str
    event_id: UUID | None = None
    reason: str
    error: str = Field(sa_type=Text)
    data: bytes = Field(sa_type=LargeBinary)
    dead_lettered_at: datetime = Field(sa_type=UTCDateTime, index=True)
