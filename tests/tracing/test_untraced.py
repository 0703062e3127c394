"""Without any tracer provider (a fresh interpreter: no SDK set up), flows, tasks and emitted
events work as before, and no event carries trace context."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from proctor.events.bus import JetStreamEventBus
from proctor.events.model import Event
from proctor.events.nats_server import EmbeddedNats

pytestmark = pytest.mark.nats

SCRIPT = textwrap.dedent(
    """
    from opentelemetry import trace
    from proctor import emit_event, flow, task
    from proctor.core.tracing import current_traceparent, tracer

    @task
    def announce(n: int) -> int:
        emit_event("shop.order.packed", {"proctor.resource.id": f"shop.order.{n}"})
        return n

    @flow
    def packing(n: int) -> int:
        return sum(announce.map(range(n)).result()) + announce(n)

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracer() is None
    assert packing(3) == 6
    assert current_traceparent() is None
    print("packed")
    """
)


async def _stored(bus: JetStreamEventBus, expected: int) -> list[Event]:
    consumer = await bus.durable_consumer("check", ">")
    events: list[Event] = []
    try:
        async with asyncio.timeout(30):
            while len(events) < expected:
                deliveries = await consumer.fetch(500, timeout_s=1.0)
                await consumer.ack(deliveries)
                events.extend(d.decode() for d in deliveries)
    finally:
        await consumer.close()
    return events


async def test_without_a_tracer_provider_nothing_changes(
    nats_server: EmbeddedNats, jetstream_bus: JetStreamEventBus
) -> None:
    environ = {
        **os.environ,
        "PROCTOR_NATS_URL": nats_server.url,
        "PROCTOR_NAMESPACE": jetstream_bus.naming.namespace,
    }
    for name in [n for n in environ if n.startswith("OTEL_")]:
        del environ[name]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", SCRIPT],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "packed"
    # a flow run (3 events) and 4 task runs (3 each), and 4 emitted events
    events = await _stored(jetstream_bus, 3 + 4 * 3 + 4)
    assert len([e for e in events if e.event == "shop.order.packed"]) == 4
    assert all(e.traceparent is None for e in events)
