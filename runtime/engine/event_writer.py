"""A run's state-change events written straight to their wire bytes: the engine's hot path.

The event of a run entering a state has the id of that state: a state is entered once, by
one run (the engine makes a new state for every transition), so the id names one event, and
a transition published twice is stored once.

``StateEventWriter.write(...)`` gives exactly the bytes of ``state_change_event(...).to_wire()``
(``tests/unit/test_state_event_wire.py`` holds them equal for every state) at a fraction of
the cost: no ``Event`` is built, the parts are serialised with pydantic-core and joined, and
what events share is made once: per state name, the event name and the state's labels; per
run, its own labels and, when only its run count and times change, its snapshot's JSON around
them (``run_json``); per process, the related resources of runs with the same flow, flow run
and tags (checked once); per run, the JSON of its last state (the next event's
``previous_state``) and of its last event id (the one the next event ``follows``).

It applies the model's checks that these values could fail (event name, label limits, size)
and hands anything unusual to ``state_change_event``, which raises the model's
``EventError`` naming the field.
"""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from pydantic_core import to_json

from proctor.core.errors import EventError
from proctor.events.labels import (
    ID_LABEL,
    MAX_LABEL_VALUE_LENGTH,
    NAME_LABEL,
    ROLE_LABEL,
    check_labels,
)
from proctor.events.model import MAX_PAYLOAD_BYTES, MAX_RELATED, WireEvent
from proctor.events.names import validate_event_name
from proctor.runtime.engine.run_json import RunJson, Updated
from proctor.runtime.run_events import (
    FLOW_RUN_PREFIX,
    RUN_COUNT_LABEL,
    STATE_NAME_LABEL,
    STATE_TYPE_LABEL,
    TASK_RUN_PREFIX,
    FlowRunSnapshot,
    RelatedInputs,
    StateSnapshot,
    StateType,
    TaskRunSnapshot,
    related_from,
    related_inputs,
    state_change_event,
)

__all__ = ("StateEventWriter",)

_UNCAUSED = b',"caused_by":null,"hops":0}'
"""The event's last fields: no causation, and no trace context (left out when there is none)."""
_TIMESTAMP = b'"timestamp":'
_ID_LABEL_HEAD = b'{"%s":"' % ID_LABEL.encode()
_NAME_LABEL = NAME_LABEL.encode()
_new_tuple = tuple.__new__  # a named tuple without its ``__new__``, a Python function
_KEPT = 1024
"""Entries each process-wide cache keeps (then it starts again)."""


class _Named:
    """What an event for one kind of run entering one state name shares (slots: read on the
    hot path, where a slot costs less than a named tuple's field)."""

    __slots__ = ("labels", "name", "name_json", "timestamp_at")

    def __init__(self, name: str, labels: bytes, timestamp_at: int) -> None:
        self.name = name
        self.name_json = name.encode()
        self.labels = labels  # the state's labels in the resource, up to the run count's value
        self.timestamp_at = timestamp_at  # where the timestamp's value starts in its JSON


_named: dict[tuple[str, StateType, str], _Named | None] = {}
_related: dict[RelatedInputs, bytes | None] = {}


def _named_for(prefix: str, state: StateSnapshot) -> _Named | None:
    """The event name and state labels for ``state`` (None if the model would refuse them)."""
    key = (prefix, state.type, state.name)
    try:
        return _named[key]
    except KeyError:
        pass
    name = f"{prefix}.{state.name}"
    try:
        validate_event_name(name)
    except EventError:
        named = None
    else:  # of the state's labels only its name is free text, checked as part of the name
        labels = to_json({STATE_TYPE_LABEL: state.type.value, STATE_NAME_LABEL: state.name})
        named = _Named(
            name,
            b'%s,"%s":"' % (labels[1:-1], RUN_COUNT_LABEL.encode()),
            # The same for every state of this type and name: ids have a fixed length.
            to_json(state).index(_TIMESTAMP) + len(_TIMESTAMP),
        )
    if len(_named) >= _KEPT:
        _named.clear()
    _named[key] = named
    return named


def _related_json(inputs: RelatedInputs) -> bytes | None:
    """The related resources as JSON, or None if the model would refuse them."""
    try:
        return _related[inputs]
    except KeyError:
        pass
    related = related_from(inputs)
    valid = len(related) <= MAX_RELATED and all(map(_valid_related, related))
    if len(_related) >= _KEPT:
        _related.clear()
    made = _related[inputs] = to_json(related) if valid else None
    return made


class StateEventWriter:
    """Writes the state-change events of one run, in order (not thread-safe)."""

    __slots__ = (
        "_head",
        "_head_of",
        "_last_id",
        "_last_id_json",
        "_related",
        "_related_json",
        "_run",
        "_state",
        "_state_json",
    )

    def __init__(self) -> None:
        self._head: bytes | None = None
        self._head_of: tuple[UUID, str] | None = None
        self._last_id: UUID | None = None
        self._last_id_json = b""  # quoted
        self._related: RelatedInputs | None = None
        self._related_json: bytes | None = None
        self._run = RunJson()
        self._state: StateSnapshot | None = None
        self._state_json = b""

    def write(
        self,
        run: FlowRunSnapshot | TaskRunSnapshot,
        state: StateSnapshot,
        previous_state: StateSnapshot | None,
        follows: UUID | None = None,
        traceparent: str | None = None,
        updated: Updated | None = None,
    ) -> WireEvent:
        """The event for ``run`` entering ``state``, as ``state_change_event`` makes it
        (``traceparent``: one the engine formatted from its span, so valid; ``updated``: the
        snapshot ``run`` was copied from, and the changes, if it was)."""
        event_id = state.id  # entering a state is one event: it has the state's id
        prefix = FLOW_RUN_PREFIX if type(run) is FlowRunSnapshot else TASK_RUN_PREFIX
        try:
            named = _named[(prefix, state.type, state.name)]
        except KeyError:
            named = _named_for(prefix, state)
        timestamp = state.timestamp
        if named is not None and timestamp.tzinfo is UTC:
            if previous_state is None:
                previous = b"null"
            elif previous_state is self._state:
                previous = self._state_json
            else:
                previous = to_json(previous_state)
            self._state, state_json = state, to_json(state)
            self._state_json = state_json
            start = named.timestamp_at
            occurred = state_json[start : state_json.index(b'"', start + 1) + 1]
            run_json = self._run.of(run, updated, timestamp, occurred)
            if not self._run.same:  # else its labels and related resources are the last ones
                inputs = related_inputs(run)
                if inputs != self._related:
                    self._related, self._related_json = inputs, _related_json(inputs)
                self._head_bytes(run, run_json, prefix)
            head = self._head
            if head is not None and self._related_json is not None:
                id_json = state_json[6:44]  # the state's id, quoted: ``{"id":"<36 characters>"``
                if follows is None:
                    follows_json = b"null"
                elif follows is self._last_id:
                    follows_json = self._last_id_json
                else:
                    follows_json = f'"{follows}"'.encode()
                data = b"".join(
                    (
                        b'{"id":', id_json,
                        b',"occurred":', occurred,
                        b',"event":"', named.name_json,
                        b'","resource":', head, named.labels, b"%d" % run.run_count,
                        b'"},"related":', self._related_json,
                        b',"payload":{"run":', run_json,
                        b',"state":', state_json,
                        b',"previous_state":', previous,
                        b'},"follows":', follows_json,
                        _UNCAUSED if traceparent is None else _traced(traceparent),
                    )
                )  # fmt: skip
                if len(data) <= MAX_PAYLOAD_BYTES:  # so the payload alone is within it too
                    self._last_id, self._last_id_json = event_id, id_json
                    return _new_tuple(WireEvent, (event_id, named.name, data))
        event = state_change_event(
            run, state, previous_state, follows=follows, id=event_id, traceparent=traceparent
        )
        return WireEvent.of(event)

    def _head_bytes(
        self, run: FlowRunSnapshot | TaskRunSnapshot, run_json: bytes, prefix: str
    ) -> bytes | None:
        """The run's own labels as the start of a JSON object (None if the model would refuse
        them): its id (whose text ``run_json`` begins with) and name, made once per run."""
        head_of = self._head_of
        if head_of is None or head_of[0] is not run.id or head_of[1] is not run.name:
            self._head_of = (run.id, run.name)
            self._head = None
            if len(run.name) <= MAX_LABEL_VALUE_LENGTH:
                self._head = b'%s%s.%s","%s":%s,' % (
                    _ID_LABEL_HEAD,
                    prefix.encode(),
                    run_json[7:43],  # ``{"id":"<36 characters>"``
                    _NAME_LABEL,
                    to_json(run.name),
                )
        return self._head


def _traced(traceparent: str) -> bytes:
    return b',"caused_by":null,"hops":0,"traceparent":"%s"}' % traceparent.encode()


def _valid_related(labels: dict[str, str]) -> bool:
    try:
        check_labels(labels, (ID_LABEL, ROLE_LABEL))
    except ValueError:
        return False
    return True
