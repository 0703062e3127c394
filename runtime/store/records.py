"""What the store's queries return: read models for the API, apart from the storage rows
and from the wire events. Every field is described; the descriptions become the API docs."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from proctor.core.errors import QueryError
from proctor.runtime.run_events import StateType

__all__ = (
    "DeadLetterRecord",
    "FlowRecord",
    "FlowRunRecord",
    "Page",
    "RunLogRecord",
    "StateRecord",
    "TaskGraph",
    "TaskGraphEdge",
    "TaskRunRecord",
    "decode_page_token",
    "encode_page_token",
)

T = TypeVar("T")
_FROZEN = ConfigDict(frozen=True)


class Page(BaseModel, Generic[T]):
    """One page of results; pass ``next_page`` back as ``page_token`` for the next one."""

    model_config = _FROZEN

    items: list[T]
    next_page: str | None = Field(
        default=None, description="Opaque token of the next page; null on the last page."
    )


def encode_page_token(position: dict[str, Any]) -> str:
    """An opaque token for a position in a listing."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_page_token(token: str, *, keys: frozenset[str]) -> dict[str, Any]:
    """The position in ``token``; ``QueryError`` on ``page_token`` if it is not ours."""
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError):
        position = None
    if not isinstance(position, dict) or set(position) != keys:
        raise QueryError(
            "page_token is not a token this listing returned: pass next_page back unchanged",
            field="page_token",
        )
    return position


class StateRecord(BaseModel):
    """A state a run entered."""

    model_config = _FROZEN

    id: UUID = Field(description="Time-ordered id of the state.")
    type: StateType = Field(description="The kind of state: RUNNING, COMPLETED, ...")
    name: str = Field(description="Display name: Running, Late, AwaitingRetry, Cached, ...")
    timestamp: datetime = Field(description="When the run entered it (UTC).")
    message: str | None = Field(default=None, description="Why, e.g. the error of a failure.")
    scheduled_time: datetime | None = Field(
        default=None, description="For SCHEDULED states: when the run is due."
    )


class FlowRecord(BaseModel):
    """A flow, known from the runs recorded for it."""

    model_config = _FROZEN

    id: UUID = Field(description="Stable id derived from the name.")
    name: str
    first_seen: datetime = Field(description="When its first run was recorded.")


class _RunRecord(BaseModel):
    model_config = _FROZEN

    id: UUID
    name: str = Field(description="The run's generated or given name.")
    tags: list[str] = Field(default_factory=list)
    run_count: int = Field(default=0, description="How many times it has started running.")
    expected_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    state: StateRecord = Field(description="The current state: the latest one recorded.")


class FlowRunRecord(_RunRecord):
    """A flow run as of its latest recorded state."""

    flow_name: str
    flow_version: str | None = None
    deployment_id: UUID | None = None
    deployment_name: str | None = None
    work_pool: str | None = None
    work_queue: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, description="JSON-safe values.")
    parent_flow_run_id: UUID | None = Field(default=None, description="Of a subflow run.")
    parent_task_run_id: UUID | None = Field(
        default=None, description="The task run in the parent that stands for this subflow."
    )
    retry_of: UUID | None = Field(default=None, description="The run this one re-runs.")


class TaskRunRecord(_RunRecord):
    """A task run as of its latest recorded state."""

    task_key: str = Field(description="Identifies the task function within its flow.")
    dynamic_key: str = Field(description="Distinguishes calls of the same task in one run.")
    flow_run_id: UUID | None = None
    flow_name: str | None = None
    task_inputs: dict[str, list[UUID]] = Field(
        default_factory=dict, description="Upstream task runs whose results fed each parameter."
    )
    wait_for: list[UUID] = Field(
        default_factory=list, description="Upstream task runs waited on without their result."
    )
    cache_key: str | None = None


class TaskGraphEdge(BaseModel):
    """``upstream_id`` ran before ``downstream_id`` and fed it (or was waited on)."""

    model_config = _FROZEN

    upstream_id: UUID
    downstream_id: UUID
    kind: Literal["input", "wait_for"] = Field(
        description="'input': its result was a parameter; 'wait_for': waited on only."
    )
    parameter: str | None = Field(default=None, description="The parameter, for 'input'.")


class TaskGraph(BaseModel):
    """The task runs of a flow run and the edges between them."""

    model_config = _FROZEN

    flow_run_id: UUID
    nodes: list[TaskRunRecord]
    edges: list[TaskGraphEdge] = Field(
        description="Sorted by (downstream, upstream); an upstream outside the flow run "
        "(a task of a parent or subflow) may appear without its node."
    )


class RunLogRecord(BaseModel):
    """A log line of a run."""

    model_config = _FROZEN

    id: UUID
    flow_run_id: UUID | None = Field(default=None, description="None for a lone task run.")
    task_run_id: UUID | None = Field(default=None, description="Set for a task's log line.")
    timestamp: datetime
    level: int = Field(description="Python logging level: 10 DEBUG ... 50 CRITICAL.")
    logger: str
    message: str


class DeadLetterRecord(BaseModel):
    """A message the recorder could not project, kept with the reason and then skipped."""

    model_config = _FROZEN

    id: UUID
    consumer: str = Field(description="The durable consumer that received it.")
    stream_sequence: int = Field(description="Its sequence in the event stream.")
    event_name: str = Field(description="The name its subject carried.")
    event_id: UUID | None = Field(default=None, description="Set when the event decoded.")
    reason: str = Field(description="undecodable, malformed-state or unprojectable.")
    error: str
    data: bytes = Field(description="The message as received.")
    dead_lettered_at: datetime
