"""Raw subscriptions (``proctor.events.bus.wire``) on a real nats-server: their messages come
as bytes, every other subscription of the connection is left to nats-py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from nats.aio.msg import Msg

from proctor.events.bus.jetstream import connect_nats
from proctor.events.bus.wire import subscribe_raw, unsubscribe_raw
from proctor.events.nats_server import EmbeddedNats

pytestmark = pytest.mark.nats


async def test_raw_and_ordinary_subscriptions_share_a_connection(
    nats_server: EmbeddedNats,
) -> None:
    nc = await connect_nats(nats_server.url)
    raw: list[tuple[bytes, bytes]] = []
    ordinary: list[Msg] = []
    all_in = asyncio.Event()

    def check() -> None:
        if len(raw) == 2 and len(ordinary) == 1:
            all_in.set()

    def on_raw(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        raw.append((subject, data))
        check()

    async def on_ordinary(msg: Msg) -> None:
        ordinary.append(msg)
        check()

    first = await subscribe_raw(nc, "wire.raw.a", on_raw)
    # Something else wraps the connection's dispatch after us, chaining to it...
    wrapped: Callable[..., Awaitable[None]] = nc._process_msg

    async def wrapper(*args: object) -> None:
        await wrapped(*args)

    nc._process_msg = wrapper  # type: ignore[method-assign,assignment]
    second = await subscribe_raw(nc, "wire.raw.b", on_raw)
    assert nc._process_msg is wrapper  # ... and stays on top: no second router under it
    await nc.subscribe("wire.ordinary", cb=on_ordinary)

    await nc.publish("wire.raw.a", b"1", headers={"K": "v"})
    await nc.publish("wire.ordinary", b"2")
    await nc.publish("wire.raw.b", b"3")
    await asyncio.wait_for(all_in.wait(), 10)
    assert sorted(raw) == [(b"wire.raw.a", b"1"), (b"wire.raw.b", b"3")]
    assert [(m.subject, m.data) for m in ordinary] == [("wire.ordinary", b"2")]

    await unsubscribe_raw(nc, first)
    await unsubscribe_raw(nc, second)
    await nc.publish("wire.raw.a", b"late")
    await nc.flush()
    assert len(raw) == 2
    await nc.close()
