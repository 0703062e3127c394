"""A run's state-change events written straight to their wire bytes: the engine's hot path.

``StateEventWriter.write(...)`` gives exactly the bytes of ``state_change_event(...).to_wire()``
(``tests/unit/test_state_event_wire.py`` holds them equal for every state) at a fraction of
the cost: no ``Event`` is built, the parts are serialised with pydantic-core and joined, and
what one run's events share is reused: its own labels and its related resources (checked once
while they stay the same), the JSON of its last state (the next event's ``previous_state``)
and of its last event id (the one the next event ``follows``).

It applies the model's checks that these values could fail (event name, label limits, size)
and hands anything unusual to ``state_change_event``, which raises the model's
``EventError`` naming the field.
"""

from __future__ import annotations

from datetime import UTC
from functools import lru_cache
from uuid import UUID

from pydantic_core import to_json

from proctor.core.errors import EventError
from proctor.events.ids import uuid7
from proctor.events.labels import (
    ID_LABEL,
    MAX_LABEL_VALUE_LENGTH,
    NAME_LABEL,
    ROLE_LABEL,
    check_labels,
)
from proctor.events.model import MAX_PAYLOAD_BYTES, MAX_RELATED, WireEvent
from proctor.events.names import validate_event_name
from proctor.runtime.run_events import (
    FLOW_RUN_PREFIX,
    RUN_COUNT_LABEL,
    STATE_NAME_LABEL,
    STATE_TYPE_LABEL,
    TASK_RUN_PREFIX,
    FlowRunSnapshot,
    RelatedInputs,
    StateSnapshot,
    TaskRunSnapshot,
    related_from,
    related_inputs,
    resource_of,
    state_change_event,
)

__all__ = ("StateEventWriter",)

_STATE_LABELS = b',"%s":"%%s","%s":"%%s","%s":"%%d"}' % (
    STATE_TYPE_LABEL.encode(),
    STATE_NAME_LABEL.encode(),
    RUN_COUNT_LABEL.encode(),
)
"""The state's labels closing a resource (values are safe: a type, a checked name, a count)."""
_UNCAUSED = b',"caused_by":null,"hops":0}'
"""The event's last fields: no causation, and no trace context (left out when there is none)."""


class StateEventWriter:
    """Writes the state-change events of one run, in order (not thread-safe)."""

    __slots__ = (
        "_head",
        "_head_of",
        "_last_id",
        "_last_id_json",
        "_related",
        "_related_json",
        "_state",
        "_state_json",
    )

    def __init__(self) -> None:
        self._head = b""
        self._head_of: tuple[UUID, str] | None = None
        self._last_id: UUID | None = None
        self._last_id_json = b""
        self._related: RelatedInputs | None = None
        self._related_json: bytes | None = None
        self._state: StateSnapshot | None = None
        self._state_json = b""

    def write(
        self,
        run: FlowRunSnapshot | TaskRunSnapshot,
        state: StateSnapshot,
        previous_state: StateSnapshot | None,
        *,
        follows: UUID | None = None,
        traceparent: str | None = None,
    ) -> WireEvent:
        """The event for ``run`` entering ``state``, as ``state_change_event`` makes it
        (``traceparent``: one the engine formatted from its span, so valid)."""
        event_id = uuid7()
        prefix = FLOW_RUN_PREFIX if isinstance(run, FlowRunSnapshot) else TASK_RUN_PREFIX
        name = f"{prefix}.{state.name}"
        related = self._related_bytes(run)
        # Of the resource's labels only the run name is free text (the state name is checked
        # as part of the event name).
        if (
            related is not None
            and state.timestamp.tzinfo is UTC
            and _valid_name(name)
            and len(run.name) <= MAX_LABEL_VALUE_LENGTH
        ):
            previous = b"null" if previous_state is None else self._state_bytes(previous_state)
            id_json = str(event_id).encode()
            data = b"".join(
                (
                    b'{"id":"', id_json,
                    b'","occurred":', self._timestamp_bytes(state),
                    b',"event":"', name.encode(),
                    b'","resource":', self._resource_bytes(run, state, prefix),
                    b',"related":', related,
                    b',"payload":{"run":', to_json(run),
                    b',"state":', self._state_bytes(state),
                    b',"previous_state":', previous,
                    b'},"follows":', self._follows_bytes(follows),
                    _UNCAUSED if traceparent is None else _traced(traceparent),
                )
            )  # fmt: skip
            if len(data) <= MAX_PAYLOAD_BYTES:  # so the payload alone is within its limit too
                self._last_id, self._last_id_json = event_id, id_json
                return WireEvent(event_id, name, data)
        event = state_change_event(
            run, state, previous_state, follows=follows, id=event_id, traceparent=traceparent
        )
        return WireEvent.of(event)

    def _resource_bytes(
        self, run: FlowRunSnapshot | TaskRunSnapshot, state: StateSnapshot, prefix: str
    ) -> bytes:
        """``resource_of(...)`` as JSON: the run's labels once per run, then the state's."""
        head_of = self._head_of
        if head_of is None or head_of[0] is not run.id or head_of[1] is not run.name:
            labels = resource_of(run, state, prefix)
            self._head_of = (run.id, run.name)
            self._head = to_json({k: labels[k] for k in (ID_LABEL, NAME_LABEL)})[:-1]
        return self._head + _STATE_LABELS % (
            state.type.value.encode(),
            state.name.encode(),
            run.run_count,
        )

    def _follows_bytes(self, follows: UUID | None) -> bytes:
        if follows is None:
            return b"null"
        if follows is self._last_id:
            return b'"%s"' % self._last_id_json
        return f'"{follows}"'.encode()

    def _related_bytes(self, run: FlowRunSnapshot | TaskRunSnapshot) -> bytes | None:
        """The related resources as JSON, or None if the model would refuse them."""
        inputs = related_inputs(run)
        if inputs != self._related:
            related = related_from(inputs)
            valid = len(related) <= MAX_RELATED and all(map(_valid_related, related))
            self._related, self._related_json = inputs, to_json(related) if valid else None
        return self._related_json

    def _state_bytes(self, state: StateSnapshot) -> bytes:
        if state is not self._state:
            self._state, self._state_json = state, to_json(state)
        return self._state_json

    def _timestamp_bytes(self, state: StateSnapshot) -> bytes:
        """``to_json(state.timestamp)``, cut from the state's JSON (which holds it once)."""
        state_json = self._state_bytes(state)
        start = state_json.index(b'"timestamp":') + len(b'"timestamp":')
        return state_json[start : state_json.index(b",", start)]


def _traced(traceparent: str) -> bytes:
    return b',"caused_by":null,"hops":0,"traceparent":"%s"}' % traceparent.encode()


@lru_cache(maxsize=256)
def _valid_name(name: str) -> bool:
    try:
        validate_event_name(name)
    except EventError:
        return False
    return True


def _valid_related(labels: dict[str, str]) -> bool:
    try:
        check_labels(labels, (ID_LABEL, ROLE_LABEL))
    except ValueError:
        return False
    return True
