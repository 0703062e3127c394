"""``JetStreamKeyValue`` against a real server: compare-and-set writes, through nats-py's
KV client and through pipelined publishes (with the connection)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from proctor.automations.engine import JetStreamKeyValue
from proctor.events.bus.jetstream import connect_nats
from proctor.events.nats_server import EmbeddedNats


@pytest.fixture(params=["nats-py", "pipelined"])
async def store(
    request: pytest.FixtureRequest, nats_server: EmbeddedNats
) -> AsyncIterator[JetStreamKeyValue]:
    nc = await connect_nats(nats_server.url)
    js = nc.jetstream()
    bucket = f"kv-{uuid.uuid4().hex[:10]}"
    pipelined = request.param == "pipelined"
    try:
        yield await JetStreamKeyValue.open(js, bucket, nc=nc if pipelined else None)
    finally:
        await js.delete_key_value(bucket)
        await nc.close()


async def test_create_then_update_with_the_revision_read(store: JetStreamKeyValue) -> None:
    first = await store.put("done.a", b"1", None)
    assert first is not None
    assert await store.get("done.a") == (b"1", first)
    second = await store.put("done.a", b"2", first)
    assert second is not None
    assert second > first
    assert await store.get("done.a") == (b"2", second)


async def test_a_stale_or_absent_expectation_loses(store: JetStreamKeyValue) -> None:
    first = await store.put("k", b"1", None)
    assert first is not None
    assert await store.put("k", b"x", None) is None  # exists already
    second = await store.put("k", b"2", first)
    assert await store.put("k", b"y", first) is None  # stale revision
    assert await store.get("k") == (b"2", second)


async def test_a_deleted_key_can_be_created_again(store: JetStreamKeyValue) -> None:
    first = await store.put("k", b"1", None)
    assert first is not None
    assert await store.delete("k", first)
    assert await store.get("k") is None
    again = await store.put("k", b"2", None)
    assert again is not None
    assert await store.get("k") == (b"2", again)
