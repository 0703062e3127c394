"""Consumers created while the 3-node cluster elects a new JetStream meta leader.

For a few seconds after the node holding the meta leadership dies, JetStream answers no
request that creates a consumer. ``bus.durable_consumer()`` and ``bus.subscribe()`` retry
through the election (up to the bus's deadline), then read every stored event exactly once;
past the deadline they raise ``BrokerUnavailableError`` (a ``BusError``), never a raw
nats-py error.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.base import EventSubscription
from proctor.events.bus.consumer import DurableConsumer
from proctor.events.nats_cluster import NatsCluster
from tests.chaos.checker import classify
from tests.chaos.conftest import R3_STREAM
from tests.chaos.load import make_events
from tests.chaos.results import SCALE, FaultResult, record_result

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(120 * SCALE)]

_LEADER_LINE = re.compile(
    r"^\[\d+\] (?P<at>\S+ \S+) \[INF\] (?:JetStream cluster new metadata leader: "
    r"(?P<other>[^/\s]+)/|(?P<self>Self) is new JetStream cluster metadata leader)"
)


def meta_leader(cluster: NatsCluster) -> int:
    """The index of the node holding the meta leadership: the latest such line any node's
    log holds (nats-server logs each change; a restarted node's log starts afresh)."""
    latest: tuple[str, str] | None = None
    for node in cluster.nodes:
        if not node.running:
            continue
        for line in node.log_file.read_text(errors="replace").splitlines():
            if (found := _LEADER_LINE.match(line)) is not None:
                name = node.server_name if found["self"] else found["other"]
                assert name is not None
                if latest is None or found["at"] >= latest[0]:
                    latest = (found["at"], name)
    assert latest is not None, "no node has logged a meta leader"
    return cluster.node_named(latest[1])


async def read_all(consumer: DurableConsumer, count: int) -> tuple[list[object], int]:
    """The ids of ``count`` deliveries (acknowledged), and how many fetches found the
    consumer's own leader away (``BrokerUnavailableError``: try again, as the recorder does)."""
    ids: list[object] = []
    unavailable = 0
    deadline = time.monotonic() + 30
    while len(ids) < count and time.monotonic() < deadline:
        try:
            batch = await consumer.fetch(500, timeout_s=2.0)
        except BrokerUnavailableError:  # answered at once (503): back off, as the recorder does
            unavailable += 1
            await asyncio.sleep(0.1)  # allow-sleep: a retry's backoff, not synchronisation
            continue
        ids += [delivery.decode().id for delivery in batch]
        await consumer.ack(batch)
    return ids, unavailable


async def read_feed(feed: EventSubscription, count: int) -> list[object]:
    return [(await feed.next(30.0)).id for _ in range(count)]


async def test_consumers_made_at_once_after_the_meta_leader_dies_read_every_event_once(
    nats_cluster: NatsCluster, cluster_bus: JetStreamEventBus
) -> None:
    events = make_events(500 * SCALE)
    started = time.monotonic()
    await cluster_bus.publish_many(events)
    publish_s = time.monotonic() - started
    sent = [e.id for e in events]
    durable_s: list[float] = []
    subscribe_s: list[float] = []
    observed: list[object] = []
    fetches_unavailable = 0
    for round_ in range(SCALE):
        leader = meta_leader(nats_cluster)
        await nats_cluster.kill_node(leader)
        killed = time.monotonic()
        consumer = await cluster_bus.durable_consumer(f"after-kill-{round_}")
        durable_s.append(time.monotonic() - killed)
        made = time.monotonic()
        feed = await cluster_bus.subscribe(start="all")
        subscribe_s.append(time.monotonic() - made)
        try:
            from_consumer, unavailable = await read_all(consumer, len(events))
            async with feed:
                from_feed = await read_feed(feed, len(events))
        finally:
            await consumer.close()
        fetches_unavailable += unavailable
        for ids in (from_consumer, from_feed):
            report = classify(sent, sent, ids)
            assert report.ok, report.summary()
        observed = from_consumer
        await nats_cluster.start_node(leader)
        await nats_cluster.wait_stream_current(cluster_bus.naming.events_stream)

    record_result(
        FaultResult(
            fault="SIGKILL of the NATS node holding the JetStream meta leadership; "
            "a durable consumer and a subscription created at once",
            load_per_s=len(events) / publish_s,
            faults=SCALE,
            report=classify(sent, sent, observed),
            recovery_s={
                "kill_to_durable_consumer_created": max(durable_s),
                "then_subscription_created": max(subscribe_s),
            },
            details={"fetches_answered_503": fetches_unavailable},
        )
    )


async def test_past_the_deadline_creating_a_consumer_is_a_bus_error(
    nats_cluster: NatsCluster,
) -> None:
    bus = await JetStreamEventBus.connect(nats_cluster.url, stream=R3_STREAM, publish_deadline_s=3)
    try:
        await nats_cluster.kill_node(meta_leader(nats_cluster))
        await nats_cluster.kill_node(next(i for i, n in enumerate(nats_cluster.nodes) if n.running))
        # One node of three: no quorum, no meta leader, no answer.
        with pytest.raises(BrokerUnavailableError, match=r"consumer 'proctor-late'.*within 3 s"):
            await bus.durable_consumer("late")
        with pytest.raises(BrokerUnavailableError, match=r"subscribing to late\.\*.*within 3 s"):
            await bus.subscribe("late.*")
    finally:
        await bus.close()
