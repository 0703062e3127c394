"""The ``triggered`` event's bytes, written without building its payload as objects, are
exactly what the model gives; a carried event too large to carry whole takes the model path."""

from __future__ import annotations

import uuid

import pytest

from proctor.automations.engine.reports import (
    MAX_CARRIED_EVENT_BYTES,
    triggered_event,
    triggered_wire,
)
from proctor.events.labels import ID_LABEL, NAME_LABEL
from proctor.events.model import Event, WireEvent
from proctor.triggers.firing import Firing
from tests.triggers.support import T0

FIRING = Firing(
    id=uuid.UUID(int=7),
    trigger="a1",
    path=(0, 2),
    kind="reactive",
    bucket=("order.1",),
    events=(uuid.UUID(int=1), uuid.UUID(int=2)),
    occurred=T0,
    evaluated=T0,
)
TRACEPARENT = f"00-{'a' * 32}-{'b' * 16}-01"


def cause(**changes: object) -> Event:
    fields: dict[str, object] = {
        "payload": {"total": 12.5, "note": 'é\u2028"quoted"', "items": [1, None, {"a": []}]},
        "hops": 3,
        "occurred": T0,
    }
    fields.update(changes)
    return Event.build("shop.order.created", {ID_LABEL: "order.1", NAME_LABEL: "#1"}, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [None, cause(), cause(traceparent=TRACEPARENT), cause(hops=64), cause(payload={})],
    ids=["schedule", "event", "traced", "max-hops", "empty-payload"],
)
def test_the_written_bytes_are_the_models(event: Event | None) -> None:
    name = 'nightly "etl" \\ checks'
    wire = triggered_wire("a1", name, FIRING, event, T0)
    assert wire == WireEvent.of(triggered_event("a1", name, FIRING, event, T0))
    assert wire is not None
    assert wire.to_event().payload["firing"]["id"] == str(FIRING.id)


def test_an_event_too_large_to_carry_whole_takes_the_model_path() -> None:
    large = cause(payload={"blob": "x" * MAX_CARRIED_EVENT_BYTES})
    assert triggered_wire("a1", "big", FIRING, large, T0) is None
    report = triggered_event("a1", "big", FIRING, large, T0)
    assert report.payload["event_payload_dropped"] is True
    assert report.payload["event"]["payload"] == {}
