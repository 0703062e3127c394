"""The publish pipeline on a real nats-server: acks read straight from the connection."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.jetstream import connect_nats
from proctor.events.bus.pipeline import Message, PublishPipeline
from proctor.events.model import Event
from proctor.events.nats_server import EmbeddedNats


async def test_a_subject_no_stream_takes_is_unavailable_after_the_deadline(
    jetstream_bus: JetStreamEventBus,
) -> None:
    pipeline = PublishPipeline(jetstream_bus.nc, attempt_timeout_s=0.2, deadline_s=0.5)
    nowhere = Message(b"no.stream.here", b"{}", b"id-1")
    with pytest.raises(BrokerUnavailableError, match="NoStreamResponseError"):
        await pipeline.publish(jetstream_bus.naming.events_stream, [nowhere], str)
    await pipeline.close()


async def test_windows_of_many_messages_are_all_acknowledged_in_order(
    jetstream_bus: JetStreamEventBus,
) -> None:
    subject = f"{jetstream_bus.naming.events_prefix}.load.test".encode()
    messages = [Message(subject, b'{"n":%d}' % i, b"m-%d" % i) for i in range(2_500)]
    acks = await jetstream_bus.pipeline.publish(jetstream_bus.naming.events_stream, messages, str)
    assert [a.sequence for a in acks] == list(range(acks[0].sequence, acks[0].sequence + 2_500))
    again = await jetstream_bus.pipeline.publish(
        jetstream_bus.naming.events_stream, messages[:5], str
    )
    assert [a.sequence for a in again] == [a.sequence for a in acks[:5]]
    assert all(a.duplicate for a in again)


async def test_other_subscriptions_on_the_connection_get_their_messages_before_and_after(
    nats_server: EmbeddedNats, jetstream_bus: JetStreamEventBus
) -> None:
    nc = await connect_nats(nats_server.url)
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        await received.put(msg.data)

    try:
        await nc.subscribe("plain.subject", cb=on_message)
        bus = JetStreamEventBus(nc, jetstream_bus.naming, owns_connection=False)
        event = Event.build("shop.order.created", {"proctor.resource.id": "order-1"})
        assert not (await bus.publish(event)).duplicate
        await nc.publish("plain.subject", b"while publishing")
        assert await asyncio.wait_for(received.get(), 5) == b"while publishing"
        await bus.close()
        await nc.publish("plain.subject", b"after")
        assert await asyncio.wait_for(received.get(), 5) == b"after"
        assert (await jetstream_bus.publish(event)).duplicate
    finally:
        await nc.close()
