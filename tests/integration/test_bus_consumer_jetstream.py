"""Durable consumers on real JetStream only: replicas sharing one, broker restarts, a consumer
deleted under its readers, and pull requests that must end as soon as they have something."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

import pytest

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.consumer import ConsumerOptions, Delivery, DurableConsumer
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats

pytestmark = pytest.mark.nats

RESOURCE = {"proctor.resource.id": "test.resource"}


def make(n: int) -> Event:
    return Event.build("shop.order.created", RESOURCE, payload={"n": n})


async def drain(consumer: DurableConsumer, until: set[int], timeout_s: float = 30) -> set[int]:
    """Fetch and acknowledge until every sequence of ``until`` was seen (or the backstop),
    through moments JetStream does not answer, as the recorder and the engine do."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while not until <= seen and time.monotonic() < deadline:
        with contextlib.suppress(BrokerUnavailableError):
            deliveries = await consumer.fetch(100, timeout_s=1)
            seen.update(d.sequence for d in deliveries)
            await consumer.ack(deliveries)
    return seen


async def test_a_lingering_fetch_returns_the_first_events_without_waiting_out_its_timeout(
    jetstream_bus: JetStreamEventBus,
) -> None:
    consumer = await jetstream_bus.durable_consumer("recorder")
    fetching = asyncio.create_task(consumer.fetch(500, timeout_s=60))
    receipt = await jetstream_bus.publish(make(1))
    deliveries = await asyncio.wait_for(fetching, 10)  # far less than the fetch's 60 s
    assert [d.sequence for d in deliveries] == [receipt.sequence]
    await consumer.close()


async def test_replicas_sharing_a_durable_consumer_get_disjoint_events(
    jetstream_bus: JetStreamEventBus,
) -> None:
    first = await jetstream_bus.durable_consumer("engine")
    second = await jetstream_bus.durable_consumer("engine")
    receipts = await jetstream_bus.publish_many([make(n) for n in range(2_000)])
    sequences = {r.sequence for r in receipts}
    got: list[list[Delivery]] = [[], []]

    async def read(index: int, consumer: DurableConsumer) -> None:
        while sum(len(g) for g in got) < len(sequences):
            deliveries = await consumer.fetch(50, timeout_s=0.5)
            got[index].extend(deliveries)
            await consumer.ack(deliveries)
            await asyncio.sleep(0)  # allow-sleep: a loop turn, so the other replica pulls too

    await asyncio.wait_for(asyncio.gather(read(0, first), read(1, second)), 60)
    mine, theirs = ({d.sequence for d in g} for g in got)
    assert mine, "each replica should have had a share"
    assert theirs, "each replica should have had a share"
    assert not mine & theirs
    assert mine | theirs == sequences
    assert len(got[0]) + len(got[1]) == len(sequences)  # none delivered twice
    await first.close()
    await second.close()


async def test_acks_in_progress_and_naks_of_one_batch_reach_the_server(
    jetstream_bus: JetStreamEventBus,
) -> None:
    options = ConsumerOptions(ack_wait=timedelta(seconds=30), max_deliver=5)
    receipts = await jetstream_bus.publish_many([make(n) for n in range(300)])
    consumer = await jetstream_bus.durable_consumer("recorder", options=options)
    batch = await consumer.fetch(300, timeout_s=5)
    assert len(batch) == 300
    await consumer.in_progress(batch)
    await consumer.ack(batch[:200])
    await consumer.nak(batch[200:])
    state = await consumer.state()
    assert (state.ack_floor, state.ack_pending) == (receipts[199].sequence, 100)
    again = await consumer.fetch(300, timeout_s=5)
    assert [(d.sequence, d.attempt) for d in again] == [(d.sequence, 2) for d in batch[200:]]
    await consumer.ack(again)
    await consumer.ack(again)  # twice: harmless
    state = await consumer.state()
    assert (state.ack_floor, state.ack_pending) == (receipts[-1].sequence, 0)
    await consumer.close()


async def test_fetching_goes_on_after_the_broker_restarts(tmp_path: Path, naming: Naming) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        bus = await JetStreamEventBus.connect(server.url, naming=naming)
        options = ConsumerOptions(ack_wait=timedelta(seconds=2), max_deliver=5)
        consumer = await bus.durable_consumer("recorder", options=options)
        before = await bus.publish_many([make(n) for n in range(50)])
        assert await drain(consumer, {r.sequence for r in before}) >= {r.sequence for r in before}

        fetching = asyncio.create_task(consumer.fetch(100, timeout_s=3))  # pending on restart
        await asyncio.to_thread(server.restart)
        # Nothing came, or JetStream was still recovering its consumers when it was sent.
        with contextlib.suppress(BrokerUnavailableError):
            assert await asyncio.wait_for(fetching, 30) == []

        after = await bus.publish_many([make(n) for n in range(50, 100)])
        wanted = {r.sequence for r in after}
        assert await drain(consumer, wanted) == wanted  # nothing acked before comes again
        await consumer.close()
        await bus.close()
    finally:
        server.stop()


async def test_a_consumer_deleted_under_a_fetch_is_a_clear_error_until_it_is_recreated(
    jetstream_bus: JetStreamEventBus,
) -> None:
    reader = await jetstream_bus.durable_consumer("recorder")
    fetching = asyncio.create_task(reader.fetch(100, timeout_s=60))
    other = await jetstream_bus.durable_consumer("recorder")
    await other.delete()

    async def fetch_on() -> None:
        await fetching  # ends with the deletion, not after its 60 s
        for _ in range(3):  # ... unless the server answered it while tearing down
            await reader.fetch(100, timeout_s=1)

    with pytest.raises(BrokerUnavailableError, match=r"(?i)'.*-recorder'.* deleted"):
        await asyncio.wait_for(fetch_on(), 10)

    recreated = await jetstream_bus.durable_consumer("recorder")  # as a restarted replica would
    receipt = await jetstream_bus.publish(make(1))
    assert [d.sequence for d in await reader.fetch(100, timeout_s=5)] == [receipt.sequence]
    await reader.close()
    await recreated.close()


async def test_acknowledging_to_a_deleted_consumer_is_a_clear_error(
    jetstream_bus: JetStreamEventBus,
) -> None:
    await jetstream_bus.publish(make(1))
    consumer = await jetstream_bus.durable_consumer("recorder")
    deliveries = await consumer.fetch(10, timeout_s=5)
    await (await jetstream_bus.durable_consumer("recorder")).delete()
    with pytest.raises(BrokerUnavailableError, match=r"'.*-recorder'.* deleted"):
        await asyncio.wait_for(consumer.ack(deliveries), 4)  # no need to wait for a reply
    await consumer.close()


async def test_a_prefetching_consumer_gets_every_event_once_in_order(
    jetstream_bus: JetStreamEventBus,
) -> None:
    receipts = await jetstream_bus.publish_many([make(n) for n in range(250)])
    options = ConsumerOptions(prefetch=True)
    consumer = await jetstream_bus.durable_consumer("engine", options=options)
    first = await consumer.fetch(100, timeout_s=5)
    assert len(first) == 100
    batches = [first]
    while sum(len(batch) for batch in batches) < len(receipts):
        batches.append(await consumer.fetch(100, timeout_s=5))
    assert [len(batch) for batch in batches] == [100, 100, 50]
    delivered = [(d.sequence, d.attempt) for batch in batches for d in batch]
    assert delivered == [(r.sequence, 1) for r in receipts]  # in order, each once
    await consumer.ack([d for batch in batches for d in batch])
    state = await consumer.state()  # the short last batch asked for no more
    assert (state.delivered_through, state.ack_pending) == (receipts[-1].sequence, 0)
    await consumer.close()


@pytest.mark.parametrize("prefetch", [False, True])
async def test_only_a_prefetching_replica_holds_a_batch_it_did_not_ask_for_yet(
    jetstream_bus: JetStreamEventBus, prefetch: bool
) -> None:
    await jetstream_bus.publish_many([make(n) for n in range(250)])
    options = ConsumerOptions(prefetch=prefetch)
    first = await jetstream_bus.durable_consumer("engine", options=options)
    second = await jetstream_bus.durable_consumer("engine", options=options)
    assert len(await first.fetch(100, timeout_s=5)) == 100
    left = len(await second.fetch(500, timeout_s=5))  # the first asked for more meanwhile:
    assert left < 150 if prefetch else left == 150  # the server shares what is left out
    await first.close()
    await second.close()


async def test_a_prefetch_that_brings_nothing_ends_and_the_next_fetch_waits_for_new_events(
    jetstream_bus: JetStreamEventBus,
) -> None:
    await jetstream_bus.publish_many([make(n) for n in range(10)])
    consumer = await jetstream_bus.durable_consumer(
        "engine", options=ConsumerOptions(prefetch=True)
    )
    assert len(await consumer.fetch(10, timeout_s=5)) == 10  # full: a prefetch goes out
    fetching = asyncio.create_task(consumer.fetch(10, timeout_s=30))
    receipt = await jetstream_bus.publish(make(10))
    later = await asyncio.wait_for(fetching, 10)
    assert [d.sequence for d in later] == [receipt.sequence]
    await consumer.close()
