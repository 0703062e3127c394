"""The event bus on a 3-node NATS cluster: acknowledged events survive node and cluster faults."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from proctor.core.errors import ConfigurationError, EmbeddedNatsError
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.jetstream import connect_nats
from proctor.events.nats_cluster import NatsCluster
from tests.chaos.checker import classify, stored_event_ids
from tests.chaos.load import burst_through, make_events

pytestmark = pytest.mark.nats


async def test_cluster_forms_and_the_event_stream_has_three_replicas(
    nats_cluster: NatsCluster, cluster_bus: JetStreamEventBus
) -> None:
    assert len(nats_cluster.url.split(",")) == 3
    assert len({node.pid for node in nats_cluster.nodes}) == 3
    info = await cluster_bus.js.stream_info(cluster_bus.naming.events_stream)
    assert info.config.num_replicas == 3
    assert info.cluster is not None
    names = {node.server_name for node in nats_cluster.nodes}
    assert {info.cluster.leader, *(p.name for p in info.cluster.replicas or [])} == names
    receipt = await cluster_bus.publish(make_events(1)[0])
    assert receipt.sequence == 1


async def test_every_process_is_stopped(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path)
    async with cluster:
        await cluster.kill_node(2)
        assert not cluster.nodes[2].running
    assert not any(node.running for node in cluster.nodes)


async def test_a_taken_route_port_is_a_clear_error(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path)
    taken = cluster.nodes[1].cluster
    assert taken is not None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken.port))
        holder.listen()
        with pytest.raises(EmbeddedNatsError, match=f"127.0.0.1:{taken.port} is already in use"):
            await cluster.start()
    assert not any(node.running for node in cluster.nodes)


@pytest.mark.parametrize("advertise", [True, False])
async def test_nodes_advertise_each_other_to_clients_unless_told_not_to(
    tmp_path: Path, advertise: bool
) -> None:
    async with NatsCluster(tmp_path, advertise=advertise) as cluster:
        nc = await connect_nats(cluster.urls[0])
        try:
            await nc.flush()
            assert len(nc.discovered_servers) == (2 if advertise else 0)
        finally:
            await nc.close()


def test_bad_sizes_and_ports_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 3 nodes"):
        NatsCluster(tmp_path, size=2)
    with pytest.raises(ConfigurationError, match="route_ports must list 3 distinct ports"):
        NatsCluster(tmp_path, route_ports=[7001, 7001, 7002])


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["stream leader", "client's server"])
async def test_sigkill_of_a_node_mid_burst_loses_and_duplicates_nothing(
    nats_cluster: NatsCluster, cluster_bus: JetStreamEventBus, victim: str
) -> None:
    stream = cluster_bus.naming.events_stream
    info = await cluster_bus.js.stream_info(stream)
    assert info.cluster is not None
    assert info.cluster.leader is not None
    if victim == "stream leader":
        index = nats_cluster.node_named(info.cluster.leader)
    else:
        port = cluster_bus.nc.connected_url.port if cluster_bus.nc.connected_url else None
        index = next(i for i, node in enumerate(nats_cluster.nodes) if node.port == port)

    events = make_events(3_000)
    burst = await burst_through(
        cluster_bus, events, lambda: nats_cluster.kill_node(index), fault_after=1_000
    )
    assert len(burst.acknowledged) == len(events)
    assert (await cluster_bus.stats()).messages == len(events)  # two nodes of three hold them

    # The killed node comes back, catches up, and carries the stream again.
    started = time.monotonic()
    await nats_cluster.start_node(index)
    await nats_cluster.wait_stream_current(stream)
    rejoined_s = time.monotonic() - started
    info = await cluster_bus.js.stream_info(stream)
    assert info.cluster is not None
    assert nats_cluster.nodes[index].server_name in {
        info.cluster.leader,
        *(p.name for p in info.cluster.replicas or [] if p.current),
    }

    report = classify(
        [e.id for e in events],
        [e.id for e in burst.acknowledged],
        await stored_event_ids(cluster_bus),
    )
    assert report.ok, report.summary()
    print(
        f"\nkill {victim}: {report.summary()}; longest ack gap {burst.longest_gap_s:.2f} s; "
        f"rejoined and caught up in {rejoined_s:.2f} s"
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["graceful", "SIGKILL"])
async def test_stored_events_survive_a_restart_of_the_whole_cluster(
    nats_cluster: NatsCluster, cluster_bus: JetStreamEventBus, how: str
) -> None:
    events = make_events(1_000)
    await cluster_bus.publish_many(events)

    started = time.monotonic()
    if how == "SIGKILL":
        await nats_cluster.kill()
    await nats_cluster.restart()
    print(f"\nwhole cluster restart ({how}): formed again in {time.monotonic() - started:.2f} s")

    later = make_events(1)[0]
    await cluster_bus.publish(later)  # the same client reconnects by itself
    report = classify(
        [e.id for e in [*events, later]],
        [e.id for e in [*events, later]],
        await stored_event_ids(cluster_bus),
    )
    assert report.ok, report.summary()
    assert report.delivered_once == 1_001
