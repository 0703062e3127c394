"""Turning stream messages into store rows: pure, no I/O, so it is cheap to test and to batch.

A ``Projection`` collects one batch. Rows are keyed by their primary key, so a batch holds each
row once (a run keeps only its latest state of the batch); the writer then makes every insert
idempotent, and a run's row changes only for a state later than the one it holds.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationError, field_validator
from typing_extensions import TypedDict

from proctor.core.errors import EventError
from proctor.events.model import MAX_PAYLOAD_BYTES, Event
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    StateChange,
    TaskRunSnapshot,
    is_run_state_name,
    parse_state_change,
)
from proctor.runtime.store.records import RunLogRecord

__all__ = (
    "DEAD_LETTER_NAMESPACE",
    "FLOW_NAMESPACE",
    "MALFORMED_STATE",
    "UNDECODABLE",
    "UNPROJECTABLE",
    "Projection",
    "dead_letter_id",
    "decode",
)

FLOW_NAMESPACE: Final = uuid.UUID("6c1e7f52-3b0a-4c55-9d1e-0f7a1c2b3d4e")
DEAD_LETTER_NAMESPACE: Final = uuid.UUID("0d5e1b8a-7c39-4f0e-a2d6-93b4c1e5f7a8")
UNDECODABLE: Final = "undecodable"
"""The bytes are not a valid event."""
MALFORMED_STATE: Final = "malformed-state"
"""A run state event whose payload does not match the run state schema."""
UNPROJECTABLE: Final = "unprojectable"
"""The database refused the event's rows (found by writing it on its own)."""
_MAX_ERROR_CHARS = 4000
_TIME_FIELDS = ("state.timestamp", "state.scheduled_time", "run.expected_start_time",
                "run.start_time", "run.end_time")  # fmt: skip


_PAYLOAD_GROWTH: Final = 5
"""How much larger parsed JSON can be once serialised again, at most: ``1e15`` becomes
``1000000000000000.0`` (4.5 times); whitespace, escapes and repeated keys only shrink."""
_SIZE_SURELY_WITHIN: Final = MAX_PAYLOAD_BYTES // _PAYLOAD_GROWTH


class _SmallEvent(Event):
    """An event whose message is at most ``_SIZE_SURELY_WITHIN`` bytes: its payload cannot be
    past ``MAX_PAYLOAD_BYTES`` as JSON, so it is not serialised again to measure it."""

    @field_validator("payload", mode="after")
    @classmethod
    def _payload_size(cls, value: dict[str, Any]) -> dict[str, Any]:  # replaces Event's
        return value


class _UnreadObject(TypedDict, total=False):
    """A JSON object, checked to be one; its members are not made into Python objects."""

    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]


class _IndexedEvent(_SmallEvent):
    """A small event the recorder only indexes: its payload is checked to be a JSON object
    and left unread (the index keeps the message's bytes), a third of the decoding cost of a
    7 KB webhook event."""

    payload: _UnreadObject = Field(default_factory=_UnreadObject)  # type: ignore[assignment]


def decode(data: bytes, *, payload: bool = True) -> Event:
    """``Event.from_wire(data)``, the same event or the same ``EventError``, with less work
    for a message too small for its payload to be too large. ``payload=False``: the same
    checks, but the event's payload comes back empty."""
    if len(data) <= _SIZE_SURELY_WITHIN:
        try:
            return (_SmallEvent if payload else _IndexedEvent).model_validate_json(data)
        except ValidationError:
            pass  # from_wire names the problem
    event = Event.from_wire(data)
    return event if payload else event.model_copy(update={"payload": {}})


def dead_letter_id(data: bytes) -> UUID:
    """Stable id of a dead letter: the same bytes dead-lettered twice are one row."""
    return uuid.uuid5(DEAD_LETTER_NAMESPACE, hashlib.sha256(data).hexdigest())


def _check_times(change: StateChange) -> None:
    """``ValueError`` naming a time of the state or run given without a timezone (naive and
    aware times cannot be compared: which state is the latest would be unknowable)."""
    state, run = change.state, change.run
    times = (state.timestamp, state.scheduled_time, run.expected_start_time, run.start_time,
             run.end_time)  # fmt: skip
    for name, value in zip(_TIME_FIELDS, times, strict=True):
        if value is not None and value.utcoffset() is None:
            raise ValueError(
                f"malformed state event {change.event_id}: {name} {value.isoformat()} has no "
                "timezone"
            )


def _newer(candidate: dict[str, Any], held: dict[str, Any] | None) -> bool:
    if held is None:
        return True
    key = (candidate["state_timestamp"], candidate["state_id"])
    return key > (held["state_timestamp"], held["state_id"])


def _state_columns(change: StateChange) -> dict[str, Any]:
    state, run = change.state, change.run
    return {
        "state_id": state.id,
        "state_type": state.type.value,
        "state_name": state.name,
        "state_timestamp": state.timestamp,
        "state_message": state.message,
        "state_scheduled_time": state.scheduled_time,
        "expected_start_time": run.expected_start_time,
        "start_time": run.start_time,
        "end_time": run.end_time,
    }


def _flow_run_row(run: FlowRunSnapshot, change: StateChange) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "flow_name": run.flow_name,
        "flow_version": run.flow_version,
        "deployment_id": run.deployment_id,
        "deployment_name": run.deployment_name,
        "work_pool": run.work_pool,
        "work_queue": run.work_queue,
        "parameters": run.parameters,
        "tags": list(run.tags),
        "run_count": run.run_count,
        "parent_flow_run_id": run.parent_flow_run_id,
        "parent_task_run_id": run.parent_task_run_id,
        "retry_of": run.retry_of,
        **_state_columns(change),
    }


def _task_run_row(run: TaskRunSnapshot, change: StateChange) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "task_key": run.task_key,
        "dynamic_key": run.dynamic_key,
        "flow_run_id": run.flow_run_id,
        "flow_name": run.flow_name,
        "tags": list(run.tags),
        "run_count": run.run_count,
        "task_inputs": {name: [str(i) for i in ids] for name, ids in run.task_inputs.items()},
        "wait_for": [str(i) for i in run.wait_for],
        "cache_key": run.cache_key,
        **_state_columns(change),
    }


@dataclass
class Projection:
    """The rows one batch of messages projects to, each once, plus its dead letters."""

    consumer: str
    now: datetime
    """When the batch is recorded (stamps dead letters only; rows take event times)."""
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    flow_runs: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    task_runs: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    states: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[UUID, UUID, str], dict[str, Any]] = field(default_factory=dict)
    events: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    event_resources: dict[tuple[UUID, str, str], dict[str, Any]] = field(default_factory=dict)
    dead_letters: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    logs: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    messages: int = 0

    def add(self, sequence: int, event_name: str, data: bytes) -> None:
        """Project one message; a poison message becomes a dead letter instead."""
        self.messages += 1
        run_state = is_run_state_name(event_name)  # only a run's state has its payload read
        try:
            event = decode(data, payload=run_state)
            if not run_state and is_run_state_name(event.event):  # not the subject's name
                event = decode(data)
        except EventError as error:
            self.dead_letter(sequence, event_name, data, UNDECODABLE, str(error))
            return
        self._index(event, data)
        try:
            change = parse_state_change(event)
            if change is not None:
                _check_times(change)
        except ValueError as error:
            self.dead_letter(sequence, event_name, data, MALFORMED_STATE, str(error), event.id)
            return
        if change is not None:
            self._project(change)

    def add_log(self, line: RunLogRecord) -> None:
        """A run log line to store (decoded from the logs stream by the log recorder)."""
        self.messages += 1
        self.logs[line.id] = line.model_dump()

    def dead_letter(
        self,
        sequence: int,
        event_name: str,
        data: bytes,
        reason: str,
        error: str,
        event_id: UUID | None = None,
    ) -> None:
        """Record ``data`` as a dead letter of this batch."""
        key = dead_letter_id(data)
        self.dead_letters[key] = {
            "id": key,
            "consumer": self.consumer,
            "stream_sequence": sequence,
            "event_name": event_name,
            "event_id": event_id,
            "reason": reason,
            "error": error[:_MAX_ERROR_CHARS],
            "data": data,
            "dead_lettered_at": self.now,
        }

    def _index(self, event: Event, data: bytes) -> None:
        self.events[event.id] = {
            "id": event.id,
            "occurred": event.occurred,
            "event": event.event,
            "resource_id": event.resource.id,
            "data": data.decode(),
        }
        for related in event.related:
            key = (event.id, related.id, related.role)
            self.event_resources[key] = {
                "event_id": event.id,
                "resource_id": related.id,
                "role": related.role,
                "occurred": event.occurred,
            }

    def _flow(self, name: str | None, seen: datetime) -> None:
        if name is not None and name not in self.flows:
            self.flows[name] = {
                "id": uuid.uuid5(FLOW_NAMESPACE, name),
                "name": name,
                "first_seen": seen,
            }

    def _project(self, change: StateChange) -> None:
        run, state = change.run, change.state
        self.states[state.id] = {
            "id": state.id,
            "run_id": run.id,
            "run_kind": change.kind,
            "type": state.type.value,
            "name": state.name,
            "timestamp": state.timestamp,
            "message": state.message,
            "scheduled_time": state.scheduled_time,
            "event_id": change.event_id,
        }
        self._flow(run.flow_name, change.occurred)
        if isinstance(run, FlowRunSnapshot):
            row = _flow_run_row(run, change)
            if _newer(row, self.flow_runs.get(run.id)):
                self.flow_runs[run.id] = row
            return
        row = _task_run_row(run, change)
        if _newer(row, self.task_runs.get(run.id)):
            self.task_runs[run.id] = row
        inputs = [(name, upstream) for name, ids in run.task_inputs.items() for upstream in ids]
        inputs += [("", upstream) for upstream in run.wait_for]
        for parameter, upstream in inputs:
            self.edges[(run.id, upstream, parameter)] = {
                "downstream_id": run.id,
                "upstream_id": upstream,
                "parameter": parameter,
                "flow_run_id": run.flow_run_id,
            }

    def rows(self) -> int:
        """How many rows this projection writes."""
        return sum(
            len(rows)
            for rows in (
                self.flows,
                self.flow_runs,
                self.task_runs,
                self.states,
                self.edges,
                self.events,
                self.event_resources,
                self.dead_letters,
                self.logs,
            )
        )
