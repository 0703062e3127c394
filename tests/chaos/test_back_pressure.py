"""Back-pressure: a flood of events at ten times what the automation engine handles.

``proctor server start`` (API, recorder, engine on SQLite) runs an automation that fires on
every ``chaos.flood`` event and emits a ``chaos.flood.counted`` event naming it. The test
measures the engine's rate on a first batch, then publishes at ten times that rate for 2 s
(``3 * PROCTOR_CHAOS_SCALE`` s in the long suite), scraping ``GET /metrics`` and sampling the
server's memory throughout. Checked: the backlog waits in JetStream, visible as consumer lag
in the metrics, while the server's memory stays bounded; the lag returns to 0 afterwards
(the recovery time); every flood event is stored exactly once and fired the automation
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proctor import Automation
from proctor.automations import EmitEvent
from proctor.events.bus import JetStreamEventBus
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.api.serve import free_port
from proctor.triggers import EventTrigger
from tests.chaos.checker import classify
from tests.chaos.processes import ProctorProcess, own_nats
from tests.chaos.results import SCALE, FaultResult, record_result

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(240 * SCALE)]

FLOOD = "chaos.flood"
COUNTED = "chaos.flood.counted"
OVERLOAD = 10
"""The flood's rate, in multiples of the engine's measured rate."""
FLOOD_S = 2.0 if SCALE == 1 else 3.0 * SCALE
"""A few seconds in the short suite; 30 s in the long one (scale 10)."""
CALIBRATION = 300
"""Events of the first batch, which measures the engine's rate."""
RSS_GROWTH_LIMIT = 256 * 1024 * 1024
"""The server may grow by this much at most, whatever the flood's size: the backlog waits in
JetStream, and the engine and recorder hold one bounded batch at a time."""
SAMPLE_S = 0.25


def counting_automation() -> Automation:
    return Automation(
        name="chaos count",
        trigger=EventTrigger(expect={FLOOD}),
        actions=[
            EmitEvent(
                event=COUNTED,
                resource={"proctor.resource.id": "chaos.count"},
                payload={"source": "{{ event.id }}"},
            )
        ],
    )


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (Linux: /proc)."""
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    """When the scrape was asked for."""
    rss: int
    lag: dict[str, tuple[int, int]]
    """Consumer name -> (pending, acknowledgements pending), from ``GET /metrics``."""

    def caught_up(self, consumers: Iterable[str]) -> bool:
        """Whether each of ``consumers`` is in this scrape (a scrape that could not read the
        stream lists none) with nothing pending and nothing unacknowledged."""
        return all(self.lag.get(name, (-1, -1)) == (0, 0) for name in consumers)


async def scrape(http: httpx.AsyncClient, pid: int) -> Sample:
    asked = time.monotonic()  # what the scrape shows is at least as recent as this
    text = (await http.get("/metrics")).raise_for_status().text
    lag: dict[str, list[int]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in (
            "proctor_consumer_pending_messages",
            "proctor_consumer_ack_pending_messages",
        ):
            for sample in family.samples:
                slot = 0 if family.name == "proctor_consumer_pending_messages" else 1
                lag.setdefault(sample.labels["consumer"], [0, 0])[slot] = int(sample.value)
    return Sample(asked, rss_bytes(pid), {k: (v[0], v[1]) for k, v in lag.items()})


@dataclass
class Monitor:
    """Scrapes ``/metrics`` and the server's memory every ``SAMPLE_S`` (a measurement, not a
    synchronisation); ``until_caught_up`` waits for a scrape showing no lag."""

    http: httpx.AsyncClient
    pid: int
    samples: list[Sample] = field(default_factory=list)
    failed: int = 0
    """Scrapes that got no answer (or an error)."""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self) -> None:
        while True:
            try:
                sample = await scrape(self.http, self.pid)
            except httpx.HTTPError:
                self.failed += 1
            else:
                async with self.changed:
                    self.samples.append(sample)
                    self.changed.notify_all()
            await asyncio.sleep(SAMPLE_S)  # allow-sleep: the sampling period

    async def until_caught_up(
        self, consumers: tuple[str, ...], after: float, timeout_s: float
    ) -> float:
        """When the first scrape asked for after ``after`` showed ``consumers`` caught up."""

        def caught_up() -> float | None:
            return next(
                (s.at for s in self.samples if s.at > after and s.caught_up(consumers)), None
            )

        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: caught_up() is not None), timeout_s
            )
        at = caught_up()
        assert at is not None
        return at

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]


@contextlib.asynccontextmanager
async def monitoring(monitor: Monitor) -> AsyncIterator[Monitor]:
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def flood_events(count: int) -> list[Event]:
    return [
        Event.build(FLOOD, {"proctor.resource.id": f"f{i % 100}"}, payload={"i": i})
        for i in range(count)
    ]


async def publish_at(bus: JetStreamEventBus, events: list[Event], rate_per_s: float) -> float:
    """Publish ``events`` in ten chunks a second at ``rate_per_s`` (as fast as the bus goes,
    if slower); the rate achieved."""
    chunk = max(1, round(rate_per_s / 10))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index, first in enumerate(range(0, len(events), chunk)):
        await bus.publish_many(events[first : first + chunk])
        due = started + (index + 1) / 10
        await asyncio.sleep(max(0.0, due - loop.time()))  # allow-sleep: pacing the load
    return len(events) / (loop.time() - started)


async def counted_sources(bus: JetStreamEventBus) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The ids of the flood events in the stream, and the sources of the counted events."""
    count = (await bus.stats()).messages
    flood: list[uuid.UUID] = []
    counted: list[uuid.UUID] = []
    async with await bus.subscribe(FLOOD, COUNTED, start="all") as feed:
        with contextlib.suppress(TimeoutError):
            for _ in range(count):
                event = await feed.next(5.0)
                if event.event == FLOOD:
                    flood.append(event.id)
                else:
                    counted.append(uuid.UUID(event.payload["source"]))
    return flood, counted


async def stored_flood_ids(http: httpx.AsyncClient) -> list[uuid.UUID]:
    """Every stored flood event's id, read through ``GET /api/events``."""
    ids: list[uuid.UUID] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"names": [FLOOD], "limit": 1000}
        if token:
            params["page_token"] = token
        page = (await http.get("/api/events", params=params)).raise_for_status().json()
        ids.extend(uuid.UUID(item["id"]) for item in page["items"])
        if not (token := page.get("next_page")):
            return ids


async def test_a_flood_at_ten_times_the_engine_rate_slows_down_loses_nothing_and_recovers(
    tmp_path: Path,
) -> None:
    naming = Naming()
    engine = naming.consumer("automation-engine")
    engines = (engine, f"{engine}-actions")
    everyone = (*engines, naming.consumer("recorder"))
    async with own_nats(tmp_path / "nats") as nats:
        port = free_port()
        env = {"PROCTOR_HOME": str(tmp_path / "home"), "PROCTOR_NATS_URL": nats.url}
        server = ProctorProcess(
            "server", "start", "--port", str(port), env=env, log=tmp_path / "server.log"
        )
        base = f"http://127.0.0.1:{port}"
        async with (
            server,
            httpx.AsyncClient(base_url=base, timeout=30.0) as http,
            httpx.AsyncClient(base_url=base, timeout=30.0) as scraper,
        ):
            rule = await http.post("/api/automations", json=counting_automation().to_data())
            assert rule.status_code == 201, rule.text
            bus = await JetStreamEventBus.connect(nats.url, naming=naming, declare=False)
            try:
                async with monitoring(Monitor(scraper, server.pid)) as monitor:
                    # The engine's rate, on a first batch published at once.
                    calibration = flood_events(CALIBRATION)
                    started = time.monotonic()
                    await bus.publish_many(calibration)
                    calibrated = await monitor.until_caught_up(engines, started, 120)
                    engine_rate = CALIBRATION / (calibrated - started)
                    baseline_rss = monitor.samples[-1].rss

                    flood = flood_events(int(OVERLOAD * engine_rate * FLOOD_S))
                    flood_started = time.monotonic()
                    flood_rate = await publish_at(bus, flood, OVERLOAD * engine_rate)
                    flood_ended = time.monotonic()
                    caught_up = await monitor.until_caught_up(everyone, flood_ended, 300 * SCALE)
                during = monitor.between(flood_started, caught_up)
                sent = [e.id for e in [*calibration, *flood]]
                in_stream, counted = await counted_sources(bus)
                stored = await stored_flood_ids(http)
            finally:
                await bus.close()

    peak_lag = max(s.lag.get(engine, (0, 0))[0] for s in during)
    peak_in_flight = max(s.lag.get(engine, (0, 0))[1] for s in during)
    peak_rss = max(s.rss for s in during)
    assert peak_lag > 0, "the engine's lag never showed in /metrics during the flood"
    assert peak_rss - baseline_rss < RSS_GROWTH_LIMIT, (
        f"the server grew by {(peak_rss - baseline_rss) / 2**20:.0f} MiB during the flood"
    )
    for what, observed in (("stream", in_stream), ("store", stored), ("firings", counted)):
        report = classify(sent, sent, observed)
        assert report.ok, f"{what}: {report.summary()}"
    record_result(
        FaultResult(
            fault=f"flood of events at {OVERLOAD}x the automation engine's measured rate",
            load_per_s=flood_rate,
            faults=1,
            report=classify(sent, sent, counted),
            recovery_s={
                "flood": flood_ended - flood_started,
                "flood_end_to_lag_0": caught_up - flood_ended,
            },
            details={
                "engine_rate_per_s": round(engine_rate, 1),
                "drain_rate_per_s": round(len(flood) / (caught_up - flood_started), 1),
                "peak_engine_lag": peak_lag,
                "peak_engine_in_flight": peak_in_flight,
                "rss_baseline_mib": round(baseline_rss / 2**20, 1),
                "rss_peak_mib": round(peak_rss / 2**20, 1),
                "scrapes": len(during),
                "scrapes_failed": monitor.failed,
            },
        )
    )
