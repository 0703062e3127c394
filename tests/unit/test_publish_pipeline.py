"""Reading JetStream's answers to a publish: the fast path and the JSON path agree."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import nats.js.errors
import pytest

from proctor.core.errors import BusError
from proctor.events.bus.pipeline import Ack, Message, PublishPipeline, _ack, _outcome, _Window


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"stream":"proctor_events","seq":12}', Ack(12, False)),
        (b'{"stream":"proctor_events","seq":3,"duplicate":true}', Ack(3, True)),
        (b'{"stream":"s","domain":"hub","seq":7}', Ack(7, False)),
        (b'{"stream":"s","seq":8,"duplicate":true,"val":"1"}', Ack(8, True)),  # JSON path
        (b'{ "stream": "s", "seq": 9 }', Ack(9, False)),  # JSON path
        (b'{"stream":"a\\"b","seq":10}', Ack(10, False)),  # an escaped quote: JSON path
    ],
)
def test_acknowledgements_are_read(data: bytes, expected: Ack) -> None:
    assert _outcome(data) == data  # acknowledged
    assert _ack(data) == expected


def test_a_refusal_is_the_jetstream_error() -> None:
    refusal = b'{"error":{"code":400,"err_code":10060,"description":"stream does not match"}}'
    error: Any = _outcome(refusal)
    assert isinstance(error, nats.js.errors.APIError)
    assert error.err_code == 10060
    busy = _outcome(b'{"error":{"code":503,"description":"unavailable"}}')
    assert isinstance(busy, nats.js.errors.ServiceUnavailableError)  # retryable


def test_no_responders_is_retryable() -> None:
    outcome = _outcome(b"", no_responders=True)
    assert isinstance(outcome, nats.js.errors.NoStreamResponseError)


def test_an_unreadable_answer_is_a_bus_error() -> None:
    assert isinstance(_outcome(b"not json"), BusError)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Message(b"a b", b"{}", b"1"), "not a NATS subject"),
        (Message(b"a.b", b"{}", b"1\r\nX: y"), "not a NATS message id"),
        (Message(b"a.b", b"x" * 1025, b"1"), "1025-byte message is over the server's limit"),
    ],
)
async def test_unfit_messages_are_refused_before_anything_is_sent(
    message: Message, error: str
) -> None:
    sent: list[Any] = []
    nc: Any = SimpleNamespace(max_payload=1024, new_inbox=lambda: sent.append("inbox"))
    fine = Message(b"a.b", b"{}", b"2")
    with pytest.raises(BusError, match=error):
        await PublishPipeline(nc).publish("S", [fine, message], str)
    assert sent == []


async def test_a_reads_acks_settle_their_messages_each_as_what_it_is() -> None:
    pipeline = PublishPipeline(SimpleNamespace())  # type: ignore[arg-type]
    pipeline._prefix = b"_INBOX.x."
    first, second = _Window(range(3)), _Window(range(2))
    pipeline._windows = {0: first, 1: second}
    plain = b'{"stream":"s","seq":%d}'
    refusal = b'{"error":{"code":10060,"err_code":10060,"description":"expected stream"}}'
    pipeline._on_acks([(b"_INBOX.x.0.%d" % i, plain % i, False) for i in range(3)])
    assert (first.left, first.failed, first.done.done()) == (0, 0, True)
    pipeline._on_acks(
        [
            (b"_INBOX.x.1.0", plain % 5, False),
            (b"_INBOX.x.9.0", plain % 6, False),  # its window was given up on
            (b"_INBOX.x.1.x", plain % 7, False),  # not a reply to one of ours
            (b"_INBOX.x.1.1", refusal, False),
        ]
    )
    assert second.outcomes[0] == plain % 5
    assert isinstance(second.outcomes[1], nats.js.errors.APIError)
    assert (second.left, second.failed) == (0, 1)
