"""JetStream-only promises: the stream's configuration, dedup at volume, broker restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from nats.js import api

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import EventStreamConfig, JetStreamEventBus
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats

pytestmark = pytest.mark.nats


def make(i: int) -> Event:
    return Event.build("load.test", {"proctor.resource.id": f"r{i}"}, payload={"i": i})


async def test_stream_is_declared_with_file_storage_retention_and_dedup_window(
    jetstream_bus: JetStreamEventBus,
) -> None:
    info = await jetstream_bus.js.stream_info(jetstream_bus.naming.events_stream)
    assert info.config.storage == api.StorageType.FILE
    assert info.config.max_age == 3600
    assert info.config.duplicate_window == 300
    assert info.config.subjects == [f"{jetstream_bus.naming.events_prefix}.>"]


async def test_redeclaring_updates_retention(nats_server: EmbeddedNats, naming: Naming) -> None:
    config = EventStreamConfig(max_age=timedelta(hours=2), duplicate_window=timedelta(minutes=1))
    first = await JetStreamEventBus.connect(nats_server.url, naming=naming)
    second = await JetStreamEventBus.connect(nats_server.url, naming=naming, stream=config)
    info = await second.js.stream_info(naming.events_stream)
    assert info.config.max_age == 7200
    await second.js.delete_stream(naming.events_stream)
    await first.close()
    await second.close()


async def test_a_client_that_does_not_declare_needs_the_stream(
    nats_server: EmbeddedNats, naming: Naming
) -> None:
    with pytest.raises(BrokerUnavailableError, match=naming.events_stream):
        await JetStreamEventBus.connect(nats_server.url, naming=naming, declare=False)


async def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(
        BrokerUnavailableError, match=r"cannot connect to NATS at nats://127\.0\.0\.1:1"
    ):
        await JetStreamEventBus.connect("nats://127.0.0.1:1")


async def test_name_filters_are_pushed_down_to_the_consumer(
    jetstream_bus: JetStreamEventBus,
) -> None:
    prefix = jetstream_bus.naming.events_prefix
    async with await jetstream_bus.subscribe("shop.order.*"):
        (consumer,) = await jetstream_bus.js.consumers_info(jetstream_bus.naming.events_stream)
        assert consumer.config.filter_subject == f"{prefix}.shop.order.*"
    async with await jetstream_bus.subscribe("a.>", "b.Fail*"):
        (consumer,) = await jetstream_bus.js.consumers_info(jetstream_bus.naming.events_stream)
        assert sorted(consumer.config.filter_subjects or []) == [f"{prefix}.a.>", f"{prefix}.b.*"]


@pytest.mark.slow
async def test_ten_thousand_events_published_twice_are_stored_once(
    jetstream_bus: JetStreamEventBus,
) -> None:
    events = [make(i) for i in range(10_000)]
    first = await jetstream_bus.publish_many(events)
    second = await jetstream_bus.publish_many(events)
    assert not any(r.duplicate for r in first)
    assert all(r.duplicate for r in second)
    assert (await jetstream_bus.stats()).messages == 10_000
    async with await jetstream_bus.subscribe("load.test", start="all") as feed:
        ids = {(await feed.next(10)).id for _ in range(10_000)}
    assert ids == {e.id for e in events}


@pytest.mark.slow
async def test_broker_restart_mid_burst_loses_no_acknowledged_event(
    tmp_path: Path, naming: Naming
) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        bus = await JetStreamEventBus.connect(server.url, naming=naming)
        events = [make(i) for i in range(5_000)]
        acknowledged: list[Event] = []
        halfway = asyncio.Event()

        async def burst() -> None:
            for i in range(0, len(events), 100):
                chunk = events[i : i + 100]
                await bus.publish_many(chunk)
                acknowledged.extend(chunk)
                if len(acknowledged) >= 2_000:
                    halfway.set()

        publisher = asyncio.create_task(burst())
        await asyncio.wait_for(halfway.wait(), 60)
        await asyncio.to_thread(server.restart)
        await asyncio.wait_for(publisher, 90)

        assert len(acknowledged) == 5_000
        assert (await bus.stats()).messages == 5_000
        async with await bus.subscribe("load.test", start="all") as feed:
            stored = {(await feed.next(10)).id for _ in range(5_000)}
        assert stored == {e.id for e in acknowledged}
        await bus.close()
    finally:
        server.stop()
