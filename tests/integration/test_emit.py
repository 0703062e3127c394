"""emit_event / aemit_event: validated before sending, stored when they return, no server → None."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from proctor import aemit_event, emit_event
from proctor.core.discovery import ServerInfo, write_discovery
from proctor.core.errors import EventError
from proctor.events.bus import InMemoryEventBus, JetStreamEventBus
from proctor.events.emit import BusThread, ambient_related, use_publisher
from proctor.events.labels import RelatedResource
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats

RESOURCE = {"proctor.resource.id": "shop.order.1"}


@pytest.fixture
def memory_thread(naming: Naming) -> Iterator[BusThread]:
    async def make() -> InMemoryEventBus:
        return InMemoryEventBus(naming)

    thread = BusThread(make)
    yield thread
    thread.close()


def stored(thread: BusThread) -> list[object]:
    bus = thread.bus
    assert isinstance(bus, InMemoryEventBus)
    return list(bus.events)


def test_without_a_server_emit_returns_none_at_once() -> None:
    assert emit_event("shop.order.created", RESOURCE) is None


def test_emit_returns_the_stored_event(memory_thread: BusThread) -> None:
    with use_publisher(memory_thread):
        event = emit_event("shop.order.created", RESOURCE, payload={"total": 3})
    assert event is not None
    assert stored(memory_thread) == [event]


async def test_aemit_awaits_the_acknowledgement(memory_thread: BusThread) -> None:
    with use_publisher(memory_thread):
        event = await aemit_event("shop.order.created", RESOURCE)
    assert stored(memory_thread) == [event]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event": "bad..name", "resource": RESOURCE}, "event"),
        ({"event": "a.b", "resource": {"no": "id"}}, "resource"),
        ({"event": "a.b", "resource": RESOURCE, "payload": {"x": "y" * 300_000}}, "payload"),
    ],
)
def test_bad_events_raise_naming_the_field_and_publish_nothing(
    memory_thread: BusThread, kwargs: dict[str, object], field: str
) -> None:
    with use_publisher(memory_thread), pytest.raises(EventError) as caught:
        emit_event(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert stored(memory_thread) == []


def test_naive_occurred_is_rejected(memory_thread: BusThread) -> None:
    with use_publisher(memory_thread), pytest.raises(EventError, match="naive"):
        emit_event("a.b", RESOURCE, occurred=datetime(2026, 1, 1))
    assert stored(memory_thread) == []


def test_ambient_related_resources_are_attached(memory_thread: BusThread) -> None:
    run = RelatedResource(
        {"proctor.resource.id": "proctor.flow-run.1", "proctor.resource.role": "flow-run"}
    )
    token = ambient_related.set((run,))
    try:
        with use_publisher(memory_thread):
            event = emit_event("a.b", RESOURCE)
    finally:
        ambient_related.reset(token)
    assert event is not None
    assert event.related_with_role("flow-run")[0].id == "proctor.flow-run.1"


@pytest.mark.nats
async def test_a_plain_script_finds_the_local_server_by_its_discovery_file(
    nats_server: EmbeddedNats, jetstream_bus: JetStreamEventBus, isolated_environment: Path
) -> None:
    url = nats_server.url
    write_discovery(
        isolated_environment,
        ServerInfo(pid=os.getpid(), nats_url=url, namespace=jetstream_bus.naming.namespace),
    )
    async with await jetstream_bus.subscribe("shop.>") as feed:
        event = await aemit_event("shop.order.created", RESOURCE)
        assert event is not None
        assert (await feed.next(5)).id == event.id


@pytest.mark.nats
def test_a_stale_discovery_file_is_ignored(isolated_environment: Path) -> None:
    write_discovery(
        isolated_environment, ServerInfo(pid=2**22 + 12345, nats_url="nats://127.0.0.1:1")
    )
    assert emit_event("a.b", RESOURCE) is None
