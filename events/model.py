"""The event model: one schema on the wire, in the store and in the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import to_json

from proctor.core.errors import EventError, EventTooLargeError
from proctor.core.tracing import TRACEPARENT_PATTERN, check_traceparent
from proctor.events.ids import uuid7
from proctor.events.labels import RelatedResource, Resource
from proctor.events.names import EventName

__all__ = (
    "EMPTY_PAYLOAD_JSON",
    "MAX_EVENT_BYTES",
    "MAX_HOPS",
    "MAX_PAYLOAD_BYTES",
    "MAX_RELATED",
    "Event",
    "WireEvent",
    "utcnow",
)

MAX_EVENT_BYTES: Final = 512 * 1024
"""Largest serialised event the bus accepts (NATS' default max message is 1 MiB)."""
MAX_PAYLOAD_BYTES: Final = 256 * 1024
"""Largest serialised ``payload``."""
MAX_RELATED: Final = 128
"""Most related resources one event may carry."""
MAX_HOPS: Final = 64
"""Most causation hops an event chain may take; automations stop far earlier (loop guard)."""
EMPTY_PAYLOAD_JSON: Final = b',"payload":{},"follows":'
"""Where an event with an empty payload has it in its JSON: code that writes an event's bytes
around a payload it serialised itself cuts the model's JSON here."""


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Event(BaseModel):
    """Something that happened, to a resource, at a time. Immutable once made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(default_factory=uuid7, description="Time-ordered UUIDv7; the dedup key.")
    occurred: datetime = Field(
        default_factory=utcnow, description="When it happened: timezone-aware, stored in UTC."
    )
    event: EventName = Field(description="Dotted name, e.g. 'proctor.flow-run.Failed'.")
    resource: Resource = Field(description="Labels of the resource it is about.")
    related: tuple[RelatedResource, ...] = Field(
        default=(), description="Other resources involved, each with a role label."
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="A JSON object.")
    follows: UUID | None = Field(
        default=None, description="Id of the event this one follows (for ordering)."
    )
    caused_by: UUID | None = Field(
        default=None, description="Id of the event that caused this one (causation)."
    )
    hops: int = Field(
        default=0,
        ge=0,
        le=MAX_HOPS,
        description="Causation hops from the original event; the loop guard reads it.",
    )
    traceparent: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        json_schema_extra={"pattern": TRACEPARENT_PATTERN},
        description="W3C trace context of the span that produced it "
        "('00-<trace id>-<span id>-<flags>'), so its consumers continue the same trace; "
        "left out of the JSON when there is none.",
    )

    @field_validator("occurred", mode="after")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "naive datetime: give a timezone-aware one, e.g. datetime.now(timezone.utc)"
            )
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is out of range once in UTC") from None

    @field_validator("traceparent", mode="after")
    @classmethod
    def _traceparent(cls, value: str | None) -> str | None:
        return check_traceparent(value) if value is not None else None

    @field_validator("related", mode="after")
    @classmethod
    def _related_count(cls, value: tuple[RelatedResource, ...]) -> tuple[RelatedResource, ...]:
        if len(value) > MAX_RELATED:
            raise ValueError(f"{len(value)} related resources; the limit is {MAX_RELATED}")
        return value

    @field_validator("payload", mode="after")
    @classmethod
    def _payload_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(to_json(value))
        except Exception as error:  # pydantic_core raises PydanticSerializationError
            raise ValueError(f"must be JSON-serialisable: {error}") from None
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}")
        return value

    @classmethod
    def build(
        cls,
        event: str,
        resource: Mapping[str, str],
        *,
        payload: Mapping[str, Any] | None = None,
        related: Sequence[Mapping[str, str]] | None = None,
        occurred: datetime | None = None,
        id: UUID | None = None,
        follows: UUID | None = None,
        caused_by: UUID | None = None,
        hops: int = 0,
        traceparent: str | None = None,
    ) -> Event:
        """Make an event from plain values, raising ``EventError`` naming the bad field."""
        fields: dict[str, Any] = {
            "event": event,
            "resource": resource,
            "payload": dict(payload) if payload is not None else {},
            "related": tuple(related) if related is not None else (),
            "follows": follows,
            "caused_by": caused_by,
            "hops": hops,
        }
        if traceparent is not None:
            fields["traceparent"] = traceparent
        if occurred is not None:
            fields["occurred"] = occurred
        if id is not None:
            fields["id"] = id
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise _as_event_error(error) from None

    def to_wire(self) -> bytes:
        """The event as JSON bytes, checked against ``MAX_EVENT_BYTES``."""
        data = self.model_dump_json().encode()
        if len(data) > MAX_EVENT_BYTES:
            raise EventTooLargeError(
                f"event {self.event!r} is {len(data)} bytes as JSON; the limit is "
                f"{MAX_EVENT_BYTES}: move bulky data out of the payload and labels",
                field="event",
                size=len(data),
                limit=MAX_EVENT_BYTES,
            )
        return data

    @classmethod
    def from_wire(cls, data: bytes) -> Event:
        """Parse an event from its JSON bytes, raising ``EventError`` if it is invalid."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            raise _as_event_error(error) from None

    def related_with_role(self, role: str) -> list[RelatedResource]:
        """The related resources that play ``role`` in this event."""
        return [r for r in self.related if r.role == role]


class WireEvent(NamedTuple):
    """An event already serialised: exactly ``Event.to_wire()``, with the id and name a bus
    needs. Hot paths (the flow engine) make these without building the model; a bus takes
    them wherever it takes an ``Event``. Make one from a model with ``WireEvent.of(event)``.
    """

    id: UUID
    event: str
    data: bytes

    @classmethod
    def of(cls, event: Event) -> WireEvent:
        """``event`` serialised (``EventTooLargeError`` if it is too large)."""
        return cls(event.id, event.event, event.to_wire())

    def to_wire(self) -> bytes:
        return self.data

    def to_event(self) -> Event:
        """The model, parsed back from the bytes."""
        return Event.from_wire(self.data)

    @classmethod
    def with_payload(cls, envelope: Event, payload: bytes) -> WireEvent | None:
        """``envelope`` (an event with an empty payload, validated as usual) serialised
        with ``payload`` (a JSON object's bytes, trusted to be one) as its payload: the
        bytes ``Event.to_wire()`` gives for that payload, without building it as objects.
        ``None`` when the payload or the event would be too large (build the model: it
        says why)."""
        head, found, tail = envelope.model_dump_json().encode().rpartition(EMPTY_PAYLOAD_JSON)
        if not found or len(payload) > MAX_PAYLOAD_BYTES:
            return None
        data = b"".join((head, b',"payload":', payload, b',"follows":', tail))
        if len(data) > MAX_EVENT_BYTES:
            return None
        return cls(envelope.id, envelope.event, data)


def _as_event_error(error: ValidationError) -> EventError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "event"
    top = str(first["loc"][0]) if first["loc"] else "event"
    message = first["msg"].removeprefix("Value error, ")
    if top == "payload" and "bytes as JSON" in message:
        size = int(message.split(" bytes")[0].split()[-1])
        return EventTooLargeError(
            f"payload {message}", field="payload", size=size, limit=MAX_PAYLOAD_BYTES
        )
    more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
    return EventError(f"invalid event: {field}: {message}{more}", field=field)
