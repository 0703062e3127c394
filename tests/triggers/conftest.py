"""Trigger-state fixtures: the in-memory store and a JetStream KV bucket per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from proctor.events.bus.jetstream import connect_nats
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.triggers.state import (
    InMemoryTriggerStateStore,
    JetStreamTriggerStateStore,
    TriggerStateStore,
)

OpenStore = Callable[[], Awaitable[JetStreamTriggerStateStore]]


@pytest.fixture
async def open_kv_store(nats_server: EmbeddedNats, naming: Naming) -> AsyncIterator[OpenStore]:
    """Opens stores over this test's own KV bucket, each on its own connection (an "engine
    process"); closes them and deletes the bucket afterwards."""
    opened: list[JetStreamTriggerStateStore] = []

    async def open_store() -> JetStreamTriggerStateStore:
        store = await JetStreamTriggerStateStore.connect(nats_server.url, naming=naming)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    await _delete_bucket(nats_server, naming)


async def _delete_bucket(server: EmbeddedNats, naming: Naming) -> None:
    client = await connect_nats(server.url)
    with contextlib.suppress(Exception):
        await client.jetstream().delete_key_value(naming.trigger_state_bucket)
    await client.drain()


@pytest.fixture(params=["memory", "jetstream"])
async def state_store(
    request: pytest.FixtureRequest, naming: Naming
) -> AsyncIterator[TriggerStateStore]:
    """The contract fixture: each test using it runs against both stores."""
    if request.param == "memory":
        yield InMemoryTriggerStateStore()
        return
    server: EmbeddedNats = request.getfixturevalue("nats_server")
    store = await JetStreamTriggerStateStore.connect(server.url, naming=naming)
    yield store
    await store.close()
    await _delete_bucket(server, naming)
