"""An event's ``traceparent``: W3C trace context, checked where the event is made, carried
through its JSON unchanged, and absent from the JSON when there is none."""

from __future__ import annotations

import pytest

from proctor.core.errors import EventError
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _event(traceparent: str | None) -> Event:
    return Event.build("shop.order.created", {ID_LABEL: "shop.order.1"}, traceparent=traceparent)


@pytest.mark.parametrize(
    "value",
    [
        VALID,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",  # not sampled
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-future",  # a later version
    ],
)
def test_a_w3c_traceparent_rides_on_the_event_and_survives_its_json(value: str) -> None:
    event = _event(value)
    assert event.traceparent == value
    assert Event.from_wire(event.to_wire()) == event
    assert event.model_dump(mode="json")["traceparent"] == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "is not a W3C traceparent"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "is not a W3C traceparent"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "lowercase"),
        (" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "is not a W3C"),
        (VALID + "\n", "is not a W3C traceparent"),
        (VALID + "-extra", "has four parts"),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff is invalid"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "must not be all zeros"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "must not be all zeros"),
    ],
)
def test_a_malformed_traceparent_is_an_event_error_naming_the_field(value: str, why: str) -> None:
    with pytest.raises(EventError, match=why) as raised:
        _event(value)
    assert raised.value.field == "traceparent"
    assert "traceparent" in str(raised.value)


def test_an_event_without_trace_context_has_none_in_its_json() -> None:
    event = _event(None)
    assert event.traceparent is None
    assert b"traceparent" not in event.to_wire()
    assert "traceparent" not in event.model_dump(mode="json")
    legacy = event.to_wire()  # what events stored before the field existed look like
    assert Event.from_wire(legacy).traceparent is None
