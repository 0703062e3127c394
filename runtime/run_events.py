"""The wire schema of run state changes: what every ``proctor.flow-run.*`` and
``proctor.task-run.*`` event carries, built in one place and parsed in one place.

The flow engine and workers build these events; the recorder projects them into the store;
triggers filter on their names and labels. Each event carries a full snapshot of the run, so a
projection never needs an earlier event to make sense of a later one (replays are idempotent,
and out-of-order arrival is resolved by the state timestamps).

Labels of the resource (the run): ``proctor.resource.id`` = ``proctor.flow-run.<uuid>`` (or
``proctor.task-run.<uuid>``), ``proctor.resource.name`` (the run's name),
``proctor.state-type``, ``proctor.state-name``, ``proctor.run-count``.
Related resources, by role: ``flow``, ``deployment``, ``work-pool``, ``tag`` (one each),
``parent-flow-run`` (a subflow's parent), ``flow-run`` (a task run's flow run).
Payload: ``{"run": <snapshot>, "state": <state>, "previous_state": <state or null>}``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.events.ids import uuid7
from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.events.model import Event, utcnow

__all__ = (
    "FLOW_RUN_PREFIX",
    "RUN_COUNT_LABEL",
    "STATE_NAME_LABEL",
    "STATE_TYPE_LABEL",
    "TASK_RUN_PREFIX",
    "FlowRunSnapshot",
    "RelatedInputs",
    "StateChange",
    "StateSnapshot",
    "StateType",
    "TaskRunSnapshot",
    "flow_run_resource_id",
    "is_run_state_name",
    "parse_state_change",
    "related_from",
    "related_inputs",
    "related_of",
    "resource_of",
    "state_change_event",
    "task_run_resource_id",
)

FLOW_RUN_PREFIX = "proctor.flow-run"
TASK_RUN_PREFIX = "proctor.task-run"
_FLOW_RUN_DOT = FLOW_RUN_PREFIX + "."
_TASK_RUN_DOT = TASK_RUN_PREFIX + "."
STATE_TYPE_LABEL = "proctor.state-type"
STATE_NAME_LABEL = "proctor.state-name"
RUN_COUNT_LABEL = "proctor.run-count"


class StateType(StrEnum):
    """The kind of a state. Its *name* refines it (``Late`` is SCHEDULED, ``Cached`` COMPLETED)."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)


class StateSnapshot(BaseModel):
    """A state as it travels and is stored (without the in-process result value)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(default_factory=uuid7, description="Time-ordered id of this state.")
    type: StateType
    name: str = Field(description="Display name: Running, Late, AwaitingRetry, Cached, ...")
    timestamp: datetime = Field(default_factory=utcnow, description="When the run entered it.")
    message: str | None = Field(default=None, description="Why, e.g. the error of a failure.")
    scheduled_time: datetime | None = Field(
        default=None, description="For SCHEDULED states: when the run is due."
    )


class FlowRunSnapshot(BaseModel):
    """What a flow-run state event says about its run."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    name: str
    flow_name: str
    flow_version: str | None = None
    deployment_id: UUID | None = None
    deployment_name: str | None = None
    work_pool: str | None = None
    work_queue: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, description="JSON-safe values.")
    tags: tuple[str, ...] = ()
    run_count: int = 0
    parent_flow_run_id: UUID | None = None
    parent_task_run_id: UUID | None = Field(
        default=None, description="The task run in the parent that stands for this subflow."
    )
    retry_of: UUID | None = Field(default=None, description="The run this one re-runs.")
    expected_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class TaskRunSnapshot(BaseModel):
    """What a task-run state event says about its run, including its upstream edges."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    name: str
    task_key: str = Field(description="Identifies the task function within its flow.")
    dynamic_key: str = Field(description="Distinguishes calls of the same task in one run.")
    flow_run_id: UUID | None = None
    flow_name: str | None = None
    tags: tuple[str, ...] = ()
    run_count: int = 0
    task_inputs: dict[str, list[UUID]] = Field(
        default_factory=dict,
        description="Upstream task runs whose results fed each parameter (graph edges).",
    )
    wait_for: list[UUID] = Field(
        default_factory=list, description="Upstream task runs waited on without their result."
    )
    cache_key: str | None = None
    expected_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    @property
    def upstream_ids(self) -> set[UUID]:
        """Every task run this one depends on."""
        ids = set(self.wait_for)
        for inputs in self.task_inputs.values():
            ids.update(inputs)
        return ids


class StateChange(BaseModel):
    """A parsed state-change event."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["flow-run", "task-run"]
    run: FlowRunSnapshot | TaskRunSnapshot
    state: StateSnapshot
    previous_state: StateSnapshot | None
    event_id: UUID
    occurred: datetime


def flow_run_resource_id(run_id: UUID) -> str:
    return f"{FLOW_RUN_PREFIX}.{run_id}"


def task_run_resource_id(run_id: UUID) -> str:
    return f"{TASK_RUN_PREFIX}.{run_id}"


def _related(role: str, resource_id: str, name: str | None = None) -> dict[str, str]:
    labels = {ID_LABEL: resource_id, ROLE_LABEL: role}
    if name is not None:
        labels[NAME_LABEL] = name
    return labels


_new_tuple = tuple.__new__


class RelatedInputs(NamedTuple):
    """Everything ``related_of`` reads from a run: equal inputs, equal related resources."""

    flow_name: str | None
    tags: tuple[str, ...]
    flow_run_id: UUID | None = None  # a task run's flow run
    deployment_id: UUID | None = None
    deployment_name: str | None = None
    work_pool: str | None = None
    parent_flow_run_id: UUID | None = None


def related_inputs(run: FlowRunSnapshot | TaskRunSnapshot) -> RelatedInputs:
    if isinstance(run, FlowRunSnapshot):
        return RelatedInputs(
            run.flow_name,
            run.tags,
            deployment_id=run.deployment_id,
            deployment_name=run.deployment_name,
            work_pool=run.work_pool,
            parent_flow_run_id=run.parent_flow_run_id,
        )
    # ``tuple.__new__``: the named tuple's own ``__new__`` costs twice as much (the engine
    # calls this for every state event of a task run).
    return _new_tuple(
        RelatedInputs, (run.flow_name, run.tags, run.flow_run_id, None, None, None, None)
    )


def related_of(run: FlowRunSnapshot | TaskRunSnapshot) -> list[dict[str, str]]:
    """The related resources of ``run``'s state events (flow, deployment, tags...)."""
    return related_from(related_inputs(run))


def related_from(inputs: RelatedInputs) -> list[dict[str, str]]:
    related: list[dict[str, str]] = []
    if inputs.flow_name is not None:
        related.append(_related("flow", f"proctor.flow.{inputs.flow_name}", inputs.flow_name))
    if inputs.deployment_id is not None:
        deployment_id = f"proctor.deployment.{inputs.deployment_id}"
        related.append(_related("deployment", deployment_id, inputs.deployment_name))
    if inputs.work_pool is not None:
        work_pool = f"proctor.work-pool.{inputs.work_pool}"
        related.append(_related("work-pool", work_pool, inputs.work_pool))
    if inputs.parent_flow_run_id is not None:
        parent = flow_run_resource_id(inputs.parent_flow_run_id)
        related.append(_related("parent-flow-run", parent))
    if inputs.flow_run_id is not None:
        related.append(_related("flow-run", flow_run_resource_id(inputs.flow_run_id)))
    related.extend(_related("tag", f"proctor.tag.{tag}", tag) for tag in inputs.tags)
    return related


def resource_of(
    run: FlowRunSnapshot | TaskRunSnapshot, state: StateSnapshot, prefix: str
) -> dict[str, str]:
    """The labels of ``run`` in its event for ``state`` (``prefix``: flow-run or task-run)."""
    return {
        ID_LABEL: f"{prefix}.{run.id}",
        NAME_LABEL: run.name,
        STATE_TYPE_LABEL: state.type.value,
        STATE_NAME_LABEL: state.name,
        RUN_COUNT_LABEL: str(run.run_count),
    }


def state_change_event(
    run: FlowRunSnapshot | TaskRunSnapshot,
    state: StateSnapshot,
    previous_state: StateSnapshot | None,
    *,
    follows: UUID | None = None,
    id: UUID | None = None,
    traceparent: str | None = None,
) -> Event:
    """The event for ``run`` entering ``state`` (``proctor.flow-run.<state name>``...);
    ``traceparent``: the span of the run, if it is traced."""
    prefix = FLOW_RUN_PREFIX if isinstance(run, FlowRunSnapshot) else TASK_RUN_PREFIX
    payload = {
        "run": run.model_dump(mode="json"),
        "state": state.model_dump(mode="json"),
        "previous_state": previous_state.model_dump(mode="json") if previous_state else None,
    }
    return Event.build(
        f"{prefix}.{state.name}",
        resource_of(run, state, prefix),
        payload=payload,
        related=related_of(run),
        occurred=state.timestamp,
        id=id,
        follows=follows,
        traceparent=traceparent,
    )


def is_run_state_name(name: str) -> bool:
    """Whether ``name`` is the name of a flow or task run's state event."""
    return name.startswith((_FLOW_RUN_DOT, _TASK_RUN_DOT))


def parse_state_change(event: Event) -> StateChange | None:
    """The state change an event carries; ``None`` if it is not a run state event.

    Raises ``ValueError`` for an event that claims to be one but whose payload is malformed
    (the recorder dead-letters those).
    """
    if event.event.startswith(_FLOW_RUN_DOT):
        kind: Literal["flow-run", "task-run"] = "flow-run"
        run_model: type[FlowRunSnapshot] | type[TaskRunSnapshot] = FlowRunSnapshot
    elif event.event.startswith(_TASK_RUN_DOT):
        kind, run_model = "task-run", TaskRunSnapshot
    else:
        return None
    try:
        previous = event.payload.get("previous_state")
        return StateChange(
            kind=kind,
            run=run_model.model_validate(event.payload["run"]),
            state=StateSnapshot.model_validate(event.payload["state"]),
            previous_state=StateSnapshot.model_validate(previous) if previous else None,
            event_id=event.id,
            occurred=event.occurred,
        )
    except (KeyError, ValidationError) as error:
        raise ValueError(f"malformed state event {event.event!r} ({event.id}): {error}") from None
