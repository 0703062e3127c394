"""The fault proxy itself, between the bus and a real nats-server: cut, delay, blackhole."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import AsyncIterator

import pytest

from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.jetstream import connect_nats, ensure_event_stream
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from tests.chaos.checker import classify, stored_event_ids
from tests.chaos.load import burst_through, make_events
from tests.chaos.proxy import FaultProxy
from tests.conftest import TEST_STREAM

pytestmark = pytest.mark.nats


@pytest.fixture
async def proxy(nats_server: EmbeddedNats) -> AsyncIterator[FaultProxy]:
    assert nats_server.port is not None
    async with FaultProxy(nats_server.port) as proxy:
        yield proxy


@pytest.fixture
async def proxied_bus(proxy: FaultProxy, naming: Naming) -> AsyncIterator[JetStreamEventBus]:
    """A bus whose only way to NATS is through the proxy; publish attempts time out at 0.3 s."""
    nc = await connect_nats(f"nats://127.0.0.1:{proxy.port}")
    bus = JetStreamEventBus(nc, naming, attempt_timeout_s=0.3)
    await ensure_event_stream(bus.js, naming, TEST_STREAM)
    yield bus
    proxy.resume()
    await bus.js.delete_stream(naming.events_stream)
    await bus.close()


@pytest.mark.parametrize("cut", ["reset", "drop"])
async def test_a_cut_connection_reconnects_and_every_event_is_stored_once(
    proxy: FaultProxy, proxied_bus: JetStreamEventBus, cut: str
) -> None:
    events = make_events(2_000)
    before = proxy.accepted

    async def fault() -> None:
        assert (proxy.reset() if cut == "reset" else proxy.drop()) == 1

    burst = await burst_through(proxied_bus, events, fault, fault_after=500)

    await proxy.wait_accepted(before + 1)
    assert proxied_bus.nc.stats["reconnects"] >= 1
    report = classify(
        [e.id for e in events],
        [e.id for e in burst.acknowledged],
        await stored_event_ids(proxied_bus),
    )
    assert report.ok, report.summary()
    assert report.delivered_once == len(events)


async def test_latency_is_added_in_each_direction(proxy: FaultProxy) -> None:
    nc = await connect_nats(f"nats://127.0.0.1:{proxy.port}")
    try:
        proxy.latency_s = 0.05
        started = time.monotonic()
        await nc.flush()  # one PING / PONG round trip
        assert time.monotonic() - started >= 0.1
    finally:
        await nc.close()


async def test_a_blackhole_holds_retried_publishes_and_they_are_stored_once(
    proxy: FaultProxy, proxied_bus: JetStreamEventBus
) -> None:
    event = make_events(1)[0]
    proxy.pause()
    publishing = asyncio.create_task(proxied_bus.publish(event))
    # While the link is a blackhole, no attempt (0.3 s each) is acknowledged; they are retried.
    done, _ = await asyncio.wait({publishing}, timeout=1.0)
    assert not done
    proxy.resume()
    receipt = await asyncio.wait_for(publishing, 10)
    assert receipt.event_id == event.id
    assert await stored_event_ids(proxied_bus) == [event.id]


async def test_a_failed_reconnect_attempt_leaves_no_socket_open(
    proxy: FaultProxy, proxied_bus: JetStreamEventBus
) -> None:
    """A reconnect that reaches TCP but not NATS (the proxy holds it) must close its socket.

    nats-py 2.16 replaces such an attempt's transport without closing it; connect_nats closes
    it, or CPython does so at garbage collection with a ResourceWarning.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        before = proxy.accepted
        proxy.pause()
        proxy.reset()
        # Attempt 1 is accepted and held until nats-py's 2 s connect timeout; attempt 2 replaces it.
        await asyncio.wait_for(proxy.wait_accepted(before + 2), 10)
        proxy.resume()
        await asyncio.wait_for(proxied_bus.publish(make_events(1)[0]), 10)
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
