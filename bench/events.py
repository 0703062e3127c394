"""Acknowledged publish rate and publish->subscriber latency: Proctor's bus vs raw nats-py.

Both sides use the same embedded nats-server, the same file-backed stream, the same subjects
and the same ``Nats-Msg-Id`` headers, in the same run, interleaved. Proctor's figures include
serialising each ``Event``; raw nats-py sends the same bytes, serialised beforehand.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from bench.harness import (
    Options,
    Result,
    Row,
    at_most,
    embedded_nats,
    median,
    percentile,
    ratio_at_least,
    ratio_info,
)
from proctor.events.bus import EventStreamConfig, JetStreamEventBus
from proctor.events.model import Event
from proctor.events.naming import Naming

__all__ = ("TITLE", "make_events", "run")

TITLE = "acknowledged publish rate and publish->subscriber latency, Proctor's bus vs raw nats-py"
EVENT_NAME = "shop.order.created"
MSG_ID = "Nats-Msg-Id"
STREAM = EventStreamConfig(max_age=timedelta(hours=1), duplicate_window=timedelta(minutes=10))


def make_events(count: int) -> list[Event]:
    """Realistic events: labelled resource, one related resource, a ~200-byte payload."""
    return [
        Event.build(
            EVENT_NAME,
            {"proctor.resource.id": f"shop.order.{i}", "proctor.resource.name": f"order-{i}"},
            related=[
                {"proctor.resource.id": "shop.customer.c-0042", "proctor.resource.role": "customer"}
            ],
            payload={
                "order_id": i,
                "customer": "c-0042",
                "items": [
                    {"sku": "SKU-000123", "qty": 2, "price": 19.99},
                    {"sku": "SKU-000456", "qty": 1, "price": 5.49},
                ],
                "total": 45.47,
                "currency": "EUR",
                "channel": "web",
                "coupon": None,
            },
        )
        for i in range(count)
    ]


class _Raw:
    """Raw nats-py on its own connection, publishing exactly what Proctor's bus publishes."""

    def __init__(self, nc: NatsClient, naming: Naming) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.subject = naming.event_subject(EVENT_NAME)
        self.stream = naming.events_stream

    @staticmethod
    def wire(events: list[Event]) -> list[tuple[bytes, str]]:
        return [(e.to_wire(), str(e.id)) for e in events]

    async def publish_each(self, messages: list[tuple[bytes, str]]) -> None:
        for data, msg_id in messages:
            await self.js.publish(self.subject, data, stream=self.stream, headers={MSG_ID: msg_id})

    async def publish_pipelined(self, messages: list[tuple[bytes, str]]) -> None:
        futures = [
            await self.js.publish_async(
                self.subject, data, stream=self.stream, headers={MSG_ID: msg_id}
            )
            for data, msg_id in messages
        ]
        await asyncio.gather(*futures)

    async def latencies(self, messages: list[tuple[bytes, str]]) -> list[float]:
        received: asyncio.Queue[Msg] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            received.put_nowait(msg)

        sub = await self.js.subscribe(
            self.subject,
            cb=on_message,
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.NEW,
        )
        samples = []
        try:
            for data, msg_id in messages:
                started = time.perf_counter()
                publishing = asyncio.ensure_future(
                    self.js.publish(
                        self.subject, data, stream=self.stream, headers={MSG_ID: msg_id}
                    )
                )
                msg = await asyncio.wait_for(received.get(), 10)
                samples.append(time.perf_counter() - started)
                await publishing
                assert msg.headers is not None
                assert msg.headers.get(MSG_ID) == msg_id
        finally:
            await sub.unsubscribe()
        return samples


async def _proctor_each(bus: JetStreamEventBus, events: list[Event]) -> None:
    for event in events:
        await bus.publish(event)


async def _proctor_latencies(bus: JetStreamEventBus, events: list[Event]) -> list[float]:
    samples = []
    async with await bus.subscribe(EVENT_NAME) as feed:
        for event in events:
            started = time.perf_counter()
            publishing = asyncio.ensure_future(bus.publish(event))
            got = await feed.next(timeout_s=10)
            samples.append(time.perf_counter() - started)
            await publishing
            assert got.id == event.id
    return samples


async def _rate(count: int, work: Awaitable[Any]) -> float:
    """Items per second while awaiting ``work`` (a coroutine: nothing runs before the clock)."""
    started = time.perf_counter()
    await work
    return count / (time.perf_counter() - started)


async def _pair(
    proctor: Awaitable[Any], raw: Awaitable[Any], count: int, proctor_first: bool
) -> dict[str, float]:
    """Both sides' rates, measured back to back; ``ratio`` is Proctor's over raw's."""
    order = [("proctor", proctor), ("raw", raw)]
    rates = {side: await _rate(count, work) for side, work in order[:: 1 if proctor_first else -1]}
    rates["ratio"] = rates["proctor"] / rates["raw"]
    return rates


async def _measure(url: str, options: Options) -> Result:
    n_each = options.size(3000, 300)
    n_pipelined = options.size(20000, 2000)
    n_latency = options.size(1000, 100)
    naming = Naming(f"bench{uuid.uuid4().hex[:8]}")
    bus = await JetStreamEventBus.connect(url, naming=naming, stream=STREAM)
    raw = _Raw(await nats.connect(url), naming)
    figures: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    published = 0
    try:
        warm = make_events(400)  # connections, reply inboxes and first-call costs, untimed
        await _proctor_each(bus, warm[:100])
        await bus.publish_many(warm[100:200])
        await raw.publish_each(raw.wire(warm[200:300]))
        await raw.publish_pipelined(raw.wire(warm[300:]))
        published += len(warm)
        for run in range(options.runs):
            proctor_first = run % 2 == 0  # alternate, so neither side always goes first
            each = (make_events(n_each), raw.wire(make_events(n_each)))
            rates = await _pair(
                _proctor_each(bus, each[0]), raw.publish_each(each[1]), n_each, proctor_first
            )
            for side, rate in rates.items():
                record(f"{side}_each", rate)
            many = (make_events(n_pipelined), raw.wire(make_events(n_pipelined)))
            rates = await _pair(
                bus.publish_many(many[0]),
                raw.publish_pipelined(many[1]),
                n_pipelined,
                proctor_first,
            )
            for side, rate in rates.items():
                record(f"{side}_many", rate)
            proctor_lat = await _proctor_latencies(bus, make_events(n_latency))
            raw_lat = await raw.latencies(raw.wire(make_events(n_latency)))
            for side, samples in (("proctor", proctor_lat), ("raw", raw_lat)):
                record(f"{side}_p50_ms", percentile(samples, 50) * 1000)
                record(f"{side}_p99_ms", percentile(samples, 99) * 1000)
            published += 2 * (n_each + n_pipelined + n_latency)
        stored = (await bus.stats()).messages
    finally:
        await bus.js.delete_stream(naming.events_stream)
        await raw.nc.close()
        await bus.close()
    return _result(figures, options, published, stored, (n_each, n_pipelined, n_latency))


def _result(
    figures: dict[str, list[float]],
    options: Options,
    published: int,
    stored: int,
    sizes: tuple[int, int, int],
) -> Result:
    m = {key: median(values) for key, values in figures.items()}
    n_each, n_pipelined, n_latency = sizes
    result = Result("events", TITLE, "raw nats-py")
    result.rows = [
        Row(
            "publish, awaited one by one",
            "events/s",
            m["proctor_each"],
            m["raw_each"],
            ratio_info(m["ratio_each"], 1.0),
        ),
        Row(
            "publish pipelined (publish_many / publish_async)",
            "events/s",
            m["proctor_many"],
            m["raw_many"],
            ratio_at_least(m["ratio_many"], 1.0, 0.5, "raw"),
        ),
        Row(
            "publish -> subscriber p50",
            "ms",
            m["proctor_p50_ms"],
            m["raw_p50_ms"],
            at_most(m["proctor_p50_ms"], 2.0, " ms"),
        ),
        Row("publish -> subscriber p99", "ms", m["proctor_p99_ms"], m["raw_p99_ms"]),
    ]
    result.notes = [
        f"medians of {options.runs} runs (a ratio is the median of the runs' ratios, each "
        "side measured back to back, alternating which goes first); per run "
        f"{n_each} awaited, {n_pipelined} pipelined, "
        f"{n_latency} latency samples per side; ~200-byte payloads "
        f"({len(make_events(1)[0].to_wire())}-byte events), file-backed stream, loopback",
        f"stream held {stored} events after {published} distinct publishes"
        + ("" if stored == published else " -- MISMATCH"),
    ]
    result.raw = {
        "runs": figures,
        "sizes": dict(zip(("each", "pipelined", "latency"), sizes, strict=True)),
    }
    return result


def run(options: Options) -> Result:
    with embedded_nats() as server:
        return asyncio.run(_measure(server.url, options))
