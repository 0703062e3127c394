from __future__ import annotations

import copy
import pickle
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from proctor.core.errors import EventError, EventTooLargeError
from proctor.events.ids import uuid7
from proctor.events.model import MAX_EVENT_BYTES, MAX_PAYLOAD_BYTES, Event

RESOURCE = {"proctor.resource.id": "shop.order.1"}


def test_build_fills_id_and_time() -> None:
    event = Event.build("shop.order.created", RESOURCE, payload={"total": 12})
    assert event.id.version == 7
    assert event.occurred.tzinfo is UTC
    assert event.resource.id == "shop.order.1"
    assert event.payload == {"total": 12}


def test_wire_roundtrip_is_exact() -> None:
    event = Event.build(
        "shop.order.created",
        RESOURCE,
        payload={"items": [{"sku": "a", "qty": 2}], "note": None},
        related=[{"proctor.resource.id": "c.9", "proctor.resource.role": "customer"}],
        occurred=datetime(2026, 3, 8, 7, 30, tzinfo=timezone(timedelta(hours=-5))),
    )
    again = Event.from_wire(event.to_wire())
    assert again == event
    assert again.occurred == datetime(2026, 3, 8, 12, 30, tzinfo=UTC)
    assert again.related_with_role("customer")[0].id == "c.9"


def test_naive_datetime_is_rejected_naming_the_field() -> None:
    with pytest.raises(EventError, match=r"occurred.*naive") as caught:
        Event.build("a.b", RESOURCE, occurred=datetime(2026, 1, 1))
    assert caught.value.field == "occurred"


def test_a_time_out_of_range_in_utc_is_an_event_error_naming_the_field() -> None:
    data = b'{"event": "a.b", "resource": {"proctor.resource.id": "x"}, '
    data += b'"occurred": "9999-12-31T23:59:59-05:00"}'
    with pytest.raises(EventError, match=r"occurred.*out of range") as caught:
        Event.from_wire(data)
    assert caught.value.field == "occurred"


def test_missing_resource_id_names_the_field() -> None:
    with pytest.raises(EventError, match=r"resource.*proctor\.resource\.id") as caught:
        Event.build("a.b", {"env": "prod"})
    assert caught.value.field == "resource"


def test_bad_name_names_the_field() -> None:
    with pytest.raises(EventError, match=r"event.*token 2") as caught:
        Event.build("a..b", RESOURCE)
    assert caught.value.field == "event"


def test_oversized_payload_is_rejected_with_sizes() -> None:
    with pytest.raises(EventTooLargeError, match="payload") as caught:
        Event.build("a.b", RESOURCE, payload={"blob": "x" * MAX_PAYLOAD_BYTES})
    assert caught.value.field == "payload"
    assert caught.value.size > caught.value.limit == MAX_PAYLOAD_BYTES


def test_oversized_event_is_rejected_at_serialisation() -> None:
    labels = {f"label.{i}": "v" * 2000 for i in range(60)}
    related = [
        {"proctor.resource.id": f"r{i}", "proctor.resource.role": "x", **labels} for i in range(5)
    ]
    event = Event.build("a.b", RESOURCE, related=related)
    with pytest.raises(EventTooLargeError) as caught:
        event.to_wire()
    assert caught.value.limit == MAX_EVENT_BYTES


def test_payload_must_be_json() -> None:
    with pytest.raises(EventError, match="payload"):
        Event.build("a.b", RESOURCE, payload={"when": object()})


def test_unknown_fields_are_rejected_on_the_wire() -> None:
    with pytest.raises(EventError, match="surprise"):
        Event.from_wire(
            b'{"event": "a.b", "resource": {"proctor.resource.id": "x"}, "surprise": 1}'
        )


def test_events_are_immutable() -> None:
    event = Event.build("a.b", RESOURCE)
    with pytest.raises(ValueError, match="frozen"):
        event.event = "c.d"  # type: ignore[misc]


def test_uuid7_ids_sort_in_the_order_they_were_made() -> None:
    ids = [uuid7() for _ in range(20_000)]  # many per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 for i in ids[:10])


def test_uuid7_ids_are_ordinary_uuids() -> None:
    made = uuid7()
    plain = uuid.UUID(int=made.int)
    assert (made, hash(made), str(made)) == (plain, hash(plain), str(plain))
    assert repr(made) == repr(plain)
    assert (made.version, made.variant, made.is_safe) == (7, uuid.RFC_4122, plain.is_safe)
    assert pickle.loads(pickle.dumps(made)) == made
    assert copy.deepcopy(made) == made
