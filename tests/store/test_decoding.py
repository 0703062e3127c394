"""The recorder's decoding: ``decode`` is ``Event.from_wire``, its event or its error, whatever
the message's size; without the payload, the same checks and the event with an empty one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proctor.core.errors import EventError
from proctor.events.model import MAX_PAYLOAD_BYTES, Event
from proctor.runtime.store.projection import decode
from tests.store.factory import T0

_ENVELOPE = Event.build("shop.order", {"proctor.resource.id": "order.1"}, occurred=T0)


def _message(payload: Any) -> bytes:
    return _raw(json.dumps(payload).encode())


def _raw(payload: bytes) -> bytes:
    head, _, _ = _ENVELOPE.to_wire().partition(b',"payload":')
    return head + b',"payload":' + payload + b',"hops":0}'


_GROWING = b'{"n":[' + b",".join([b"1e15"] * 14_000) + b"]}"
"""70 KB that serialise again to 266 KB (``1e15`` is ``1000000000000000.0``)."""


@pytest.mark.parametrize(
    "payload",
    [{}, {"order": {"id": 7, "total": 9.5}, "tags": ["a", "é"]}, {"x": "y" * 100_000}],
)
def test_decode_gives_the_event_from_wire_gives(payload: dict[str, Any]) -> None:
    data = _message(payload)
    assert decode(data).model_dump() == Event.from_wire(data).model_dump()


@pytest.mark.parametrize(
    "payload",
    [{}, {"order": {"id": 7, "total": 9.5}, "tags": ["a", "é"]}, {"x": "y" * 100_000}],
)
def test_decode_without_the_payload_gives_the_same_event_with_an_empty_payload(
    payload: dict[str, Any],
) -> None:
    data = _message(payload)
    expected = Event.from_wire(data).model_dump() | {"payload": {}}
    assert decode(data, payload=False).model_dump() == expected


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        _message([1, 2]),
        _raw(b'"an object"'),
        _raw(b'{"unfinished": [1, 2}'),
        _message({"x": "y" * MAX_PAYLOAD_BYTES}),
        _raw(_GROWING),
        _ENVELOPE.to_wire().replace(b'"shop.order"', b'"shop..order"'),
    ],
)
@pytest.mark.parametrize("payload", [True, False])
def test_decode_refuses_what_from_wire_refuses_with_the_same_error(
    data: bytes, payload: bool
) -> None:
    with pytest.raises(EventError) as expected:
        Event.from_wire(data)
    with pytest.raises(EventError) as refused:
        decode(data, payload=payload)
    assert str(refused.value) == str(expected.value)
