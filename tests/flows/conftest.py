"""Fixtures for flow-engine tests: a publisher on an in-memory bus or on real JetStream."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from uuid import UUID

import pytest

from proctor.events.bus import InMemoryEventBus, JetStreamEventBus
from proctor.events.emit import BusThread, use_publisher
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.run_events import StateChange, parse_state_change
from tests.conftest import TEST_STREAM


@pytest.fixture
def memory_publisher(naming: Naming) -> Iterator[BusThread]:
    """Flows in the test publish to an in-memory bus (``memory_bus(thread).events``)."""

    async def make() -> InMemoryEventBus:
        return InMemoryEventBus(naming)

    thread = BusThread(make)
    with use_publisher(thread):
        yield thread
    thread.close()


@pytest.fixture
def jetstream_publisher(nats_server: EmbeddedNats, naming: Naming) -> Iterator[BusThread]:
    """Flows in the test publish to a real JetStream (event and logs streams declared)."""
    from proctor.events.bus.jetstream import ensure_logs_stream

    async def make() -> JetStreamEventBus:
        bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, stream=TEST_STREAM)
        await ensure_logs_stream(bus.js, naming, TEST_STREAM)
        return bus

    thread = BusThread(make)
    with use_publisher(thread):
        yield thread
    bus = thread.bus
    assert isinstance(bus, JetStreamEventBus)

    async def cleanup() -> None:
        for stream in (naming.events_stream, naming.logs_stream):
            with contextlib.suppress(Exception):
                await bus.js.delete_stream(stream)

    thread.call(cleanup())
    thread.close()


def memory_events(thread: BusThread) -> list[Event]:
    bus = thread.bus
    assert isinstance(bus, InMemoryEventBus)
    return list(bus.events)


def changes(events: list[Event]) -> list[StateChange]:
    """The run state changes among ``events``, in stored order."""
    return [change for event in events if (change := parse_state_change(event)) is not None]


def names_of(events: list[Event], run_id: UUID) -> list[str]:
    """State names one run went through, in stored order."""
    return [c.state.name for c in changes(events) if c.run.id == run_id]
