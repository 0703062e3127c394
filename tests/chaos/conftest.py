"""Fixtures of the chaos tests: a 3-node NATS cluster per test and a bus on it; the run
plane's fixtures (``plane``, ``feed``, ``monitor``) of tests/runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from proctor.events.bus import EventStreamConfig, JetStreamEventBus
from proctor.events.naming import Naming
from proctor.events.nats_cluster import NatsCluster
from tests.runtime.conftest import feed, monitor, plane  # noqa: F401 (the run plane's fixtures)

R3_STREAM = EventStreamConfig(
    max_age=timedelta(hours=1), duplicate_window=timedelta(minutes=5), replicas=3
)


@pytest.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    """Three nats-server nodes on loopback, formed; stopped after the test."""
    cluster = NatsCluster(tmp_path / "cluster")
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
async def cluster_bus(
    nats_cluster: NatsCluster, naming: Naming
) -> AsyncIterator[JetStreamEventBus]:
    """The event bus on the cluster, its stream declared with 3 replicas."""
    bus = await JetStreamEventBus.connect(nats_cluster.url, naming=naming, stream=R3_STREAM)
    yield bus
    await bus.close()
