"""``kill -9`` of Proctor's own processes under load: the server, a worker, an engine replica.

Each scenario sends uniquely identified work, kills a real process mid-way, lets the system
recover, and checks with ``checker.classify`` that every acknowledged id was delivered exactly
once. Its figures go to ``artifacts/chaos/results.jsonl`` (``results.py``); docs/reliability.md
shows them. ``PROCTOR_CHAOS_SCALE=10`` makes the long version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from proctor import Automation
from proctor.automations import EmitEvent
from proctor.core.settings import ProctorSettings
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.base import EventSubscription
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.api.serve import free_port
from proctor.runtime.orchestration import RunMonitor, RunPlane
from proctor.runtime.server import LocalServer
from proctor.runtime.webhooks.intake import delivery_event_id
from proctor.triggers import EventTrigger
from tests.chaos.checker import classify
from tests.chaos.processes import ProctorProcess, own_nats
from tests.chaos.results import SCALE, FaultResult, record_result
from tests.runtime.conftest import StateFeed, nats_url, process_gone, request
from tests.webhooks.signers import sign_standard

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(120 * SCALE)]

LOAD = "chaos.load"
HOOK_SLUG = "chaos"
HOOK_EVENT = f"webhook.{HOOK_SLUG}"
ECHO = "chaos.echo"
ECHO_WAIT_S = 90.0
"""Backstop for the automation's last firing (events a dead engine held come back after the
engine consumers' ``ack_wait``, 3 s)."""


def echo_automation() -> Automation:
    """Fires on every load event and webhook; its action names the event that fired it."""
    return Automation(
        name="chaos echo",
        trigger=EventTrigger(expect={LOAD, HOOK_EVENT}),
        actions=[
            EmitEvent(
                event=ECHO,
                resource={"proctor.resource.id": "chaos.echo"},
                payload={"source": "{{ event.id }}"},
            )
        ],
    )


class Echoes:
    """The automation's ``chaos.echo`` events, read as they are stored (from ``start()`` to
    ``stop()``): source id -> when its first echo arrived."""

    def __init__(self) -> None:
        self.first_at: dict[uuid.UUID, float] = {}
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, bus: JetStreamEventBus) -> None:
        subscription = await bus.subscribe(ECHO, start="all")
        self._reader = asyncio.create_task(self._read(subscription))

    async def _read(self, subscription: EventSubscription) -> None:
        async with subscription:
            while True:
                with contextlib.suppress(TimeoutError):
                    event = await subscription.next(60.0)
                    async with self._changed:
                        source = uuid.UUID(event.payload["source"])
                        self.first_at.setdefault(source, time.monotonic())
                        self._changed.notify_all()

    async def until(self, sources: set[uuid.UUID], timeout_s: float = ECHO_WAIT_S) -> None:
        """Wait until every id in ``sources`` has its echo (``TimeoutError`` after timeout)."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: sources <= self.first_at.keys()), timeout_s
            )

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def stored_events(bus: JetStreamEventBus, *names: str) -> list[Event]:
    """Every event named ``names`` the stream holds, duplicates included."""
    count = (await bus.stats()).messages
    events: list[Event] = []
    async with await bus.subscribe(start="all") as feed:
        for _ in range(count):
            event = await feed.next(10.0)
            if event.event in names:
                events.append(event)
    return events


def echo_sources(events: list[Event]) -> list[uuid.UUID]:
    return [uuid.UUID(e.payload["source"]) for e in events if e.event == ECHO]


# -- a. kill -9 of the server ----------------------------------------------------------------


@dataclass
class Sender:
    """HTTP load through both entrances, each request with a unique id, retried like a real
    client (same id) until it gets an answer; ids answered 2xx are acknowledged."""

    http: httpx.AsyncClient
    hook_secret: str
    sent: set[uuid.UUID] = field(default_factory=set)
    acknowledged: set[uuid.UUID] = field(default_factory=set)
    refused: dict[uuid.UUID, int] = field(default_factory=dict)
    acks_at: list[float] = field(default_factory=list)
    count: int = 0
    up: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def acks(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` requests in all have been answered 2xx."""
        async with self.progress:
            await asyncio.wait_for(
                self.progress.wait_for(lambda: len(self.acks_at) >= count), timeout_s
            )

    def _request(self) -> tuple[uuid.UUID, Callable[[], Awaitable[httpx.Response]]]:
        self.count += 1
        if self.count % 2:
            event = Event.build(LOAD, {"proctor.resource.id": f"r{self.count}"}, payload={})
            body = event.model_dump(mode="json")
            return event.id, lambda: self.http.post("/api/events", json=body)
        delivery = f"d-{uuid.uuid4()}"
        raw = json.dumps({"n": self.count}).encode()

        def hook() -> Awaitable[httpx.Response]:  # signed again on each retry: a fresh time
            headers = sign_standard(self.hook_secret, raw, datetime.now(UTC), delivery)
            return self.http.post(f"/hooks/{HOOK_SLUG}", content=raw, headers=headers)

        return delivery_event_id(HOOK_SLUG, delivery), hook

    async def one(self, deadline: float) -> None:
        ident, send = self._request()
        self.sent.add(ident)
        while time.monotonic() < deadline:
            await self.up.wait()
            try:
                answer = await send()
            except httpx.TransportError:
                self.up.clear()  # the server is down: wait until the test says it is back
                continue
            if answer.is_success:
                self.acknowledged.add(ident)
                async with self.progress:
                    self.acks_at.append(time.monotonic())
                    self.progress.notify_all()
            else:
                self.refused[ident] = answer.status_code
            return

    async def run(self, until: Callable[[], bool], deadline: float) -> None:
        while not until() and time.monotonic() < deadline:
            await self.one(deadline)


async def test_kill_9_of_the_server_loses_and_duplicates_no_acknowledged_request(
    tmp_path: Path,
) -> None:
    per_phase = 150 * SCALE
    kills = SCALE
    async with own_nats(tmp_path / "nats") as nats:
        port = free_port()
        env = {
            "PROCTOR_HOME": str(tmp_path / "home"),
            "PROCTOR_NATS_URL": nats.url,
        }

        def server() -> ProctorProcess:
            return ProctorProcess(
                "server", "start", "--port", str(port), env=env, log=tmp_path / "server.log"
            )

        running = server()
        bus: JetStreamEventBus | None = None
        echoes = Echoes()
        limits = httpx.Limits(max_connections=4)
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15.0, limits=limits)
        try:
            await running.start()
            bus = await JetStreamEventBus.connect(nats.url, naming=Naming(), declare=False)
            created = await http.post(
                "/api/webhooks", json={"slug": HOOK_SLUG, "preset": "standard"}
            )
            assert created.status_code == 201, created.text
            rule = await http.post("/api/automations", json=echo_automation().to_data())
            assert rule.status_code == 201, rule.text
            await echoes.start(bus)

            sender = Sender(http, created.json()["secret"])
            sender.up.set()
            deadline = time.monotonic() + 60.0 * SCALE
            load_started = time.monotonic()
            senders = [
                asyncio.create_task(
                    sender.run(
                        lambda: len(sender.acknowledged) >= per_phase * (kills + 1), deadline
                    )
                )
                for _ in range(4)
            ]
            recoveries: list[dict[str, float]] = []
            try:
                for kill in range(1, kills + 1):
                    await sender.acks(per_phase * kill)
                    await running.kill()
                    killed = time.monotonic()
                    acked_before = len(sender.acks_at)
                    running = server()
                    await running.start()
                    sender.up.set()
                    await sender.acks(acked_before + 1)
                    first_ack = sender.acks_at[acked_before]
                    recoveries.append(
                        {
                            "restart_to_ready": running.ready_s,
                            "kill_to_first_ack": first_ack - killed,
                        }
                    )
                await asyncio.gather(*senders)
            finally:
                for task in senders:
                    task.cancel()
            load_s = time.monotonic() - load_started

            await echoes.until(set(sender.acknowledged))
            every_firing_s = max(echoes.first_at.values()) - killed
            # The store (through the API) and the stream: each acknowledged id exactly once.
            stored = await api_event_ids(http, LOAD, HOOK_EVENT, expected=sender.acknowledged)
            in_stream = await stored_events(bus, LOAD, HOOK_EVENT, ECHO)
        finally:
            await echoes.stop()
            await http.aclose()
            await running.stop()
            if bus is not None:
                await bus.close()

    report = classify(sender.sent, sender.acknowledged, stored)
    assert report.ok, report.summary()
    # A retry is refused (401 `replayed`) only when its delivery was answered 2xx before the
    # kill and the answer was lost with the server: such a delivery is stored, never lost.
    assert set(sender.refused.values()) <= {401}, sender.refused
    refused_stored = sum(1 for i in sender.refused if i in set(stored))
    assert refused_stored == len(sender.refused), "a refused retry's delivery was never stored"
    stream_report = classify(
        sender.sent, sender.acknowledged, [e.id for e in in_stream if e.event != ECHO]
    )
    assert stream_report.ok, stream_report.summary()
    fired = classify(sender.sent, sender.acknowledged, echo_sources(in_stream))
    assert fired.ok, f"the automation: {fired.summary()}"
    record_result(
        FaultResult(
            fault="kill -9 of `proctor server start` (API, recorder, engine) mid-load",
            load_per_s=len(sender.acknowledged) / load_s,
            faults=kills,
            report=report,
            recovery_s={
                "restart_to_ready": max(r["restart_to_ready"] for r in recoveries),
                "kill_to_first_ack": max(r["kill_to_first_ack"] for r in recoveries),
                "last_kill_to_every_firing": every_firing_s,
            },
            details={
                "automation_firings": fired.delivered_once,
                "webhook_retries_refused_401": len(sender.refused),
                "of_which_stored": refused_stored,
            },
        )
    )


async def api_event_ids(
    http: httpx.AsyncClient, *names: str, expected: set[uuid.UUID], timeout_s: float = 60.0
) -> list[uuid.UUID]:
    """The ids of the stored events named ``names``, read through ``GET /api/events`` once
    the recorder has stored at least ``expected`` (or ``timeout_s`` has passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids: list[uuid.UUID] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"names": list(names), "limit": 1000}
            if token:
                params["page_token"] = token
            page = (await http.get("/api/events", params=params)).raise_for_status().json()
            ids.extend(uuid.UUID(item["id"]) for item in page["items"])
            if not (token := page.get("next_page")):
                break
        if expected <= set(ids) or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)  # allow-sleep: polling another process's store


# -- b. kill -9 of a worker ------------------------------------------------------------------


async def drain(feed: StateFeed) -> None:
    """Read what is left of the feed (late state changes would show up here)."""
    with contextlib.suppress(TimeoutError):
        while True:
            await feed.next(1.0)


async def test_kill_9_of_a_worker_crashes_its_runs_and_another_worker_ends_the_rest(
    plane: RunPlane, feed: StateFeed, monitor: RunMonitor, tmp_path: Path
) -> None:
    env = {
        "PROCTOR_NATS_URL": nats_url(plane),
        "PROCTOR_NAMESPACE": plane.naming.namespace,
        "PROCTOR_RUNTIME_POLL_S": "0.2",
    }
    held, waiting, later = 2, 3 * SCALE, 3 * SCALE
    requested: list[UUID] = []
    crashed_ids: list[UUID] = []
    crash_s: list[float] = []
    takeover_s: list[float] = []
    started = time.monotonic()
    for round_ in range(SCALE):
        pool = f"pool-{round_}"

        def worker(name: str, limit: int, pool: str = pool) -> ProctorProcess:
            return ProctorProcess(
                *("worker", "start", "--pool", pool, "--limit", str(limit), "--heartbeat", "0.1"),
                env=env, log=tmp_path / f"{pool}-{name}.log", ready="started",
            )  # fmt: skip

        async with worker("a", held) as doomed:
            long_runs = [await request(plane, "long_running", {}, pool=pool) for _ in range(held)]
            pids = [await feed.started_pid() for _ in long_runs]
            for entry in long_runs:
                await feed.until(entry.id, "Running", timeout_s=30)
            queued = [
                await request(
                    plane, "timed", {"path": str(tmp_path / "t"), "seconds": 0.2}, pool=pool
                )
                for _ in range(waiting)
            ]
            await doomed.kill()
            killed = time.monotonic()
            for entry in long_runs:
                await feed.until(entry.id, "Crashed", timeout_s=10)
                crash_s.append(time.monotonic() - killed)
        ended_before = len({c.run.id for c in feed.changes if c.state.type.is_terminal})
        async with worker("b", 4):
            more = [
                await request(
                    plane, "timed", {"path": str(tmp_path / "t"), "seconds": 0.2}, pool=pool
                )
                for _ in range(later)
            ]
            await feed.finals(ended_before + 1, timeout_s=60)
            takeover_s.append(time.monotonic() - killed)
            requested += [e.id for e in [*long_runs, *queued, *more]]
            crashed_ids += [e.id for e in long_runs]
            finals = await feed.finals(len(requested), timeout_s=60)
        for pid in pids:
            await process_gone(pid)  # the orphaned run processes ended by themselves
    load_s = time.monotonic() - started
    await drain(feed)

    ended = [c for c in feed.changes if c.state.type.is_terminal]
    report = classify(requested, requested, [c.run.id for c in ended])
    assert report.ok, report.summary()
    final_names = {c.run.id: c.state.name for c in finals}
    assert {i for i, name in final_names.items() if name == "Crashed"} == set(crashed_ids)
    assert all(final_names[i] == "Completed" for i in requested if i not in crashed_ids)
    bound = plane.options.crash_after_s + plane.options.check_interval_s
    assert max(crash_s) < bound + 1.0, f"Crashed after {max(crash_s):.2f} s; bound {bound:.2f} s"
    record_result(
        FaultResult(
            fault="kill -9 of `proctor worker start` holding runs",
            load_per_s=len(requested) / load_s,
            faults=SCALE,
            report=report,
            recovery_s={
                "kill_to_crashed": max(crash_s),
                "crash_bound": bound,
                "kill_to_first_run_ended_by_second_worker": max(takeover_s),
            },
            details={"runs_crashed": len(crashed_ids)},
        )
    )


# -- c. kill -9 of one of two engine replicas ------------------------------------------------


@dataclass
class PacedLoad:
    """``count`` load events published at ``rate_per_s``; ``half_way`` is set at ``kill_at``."""

    bus: JetStreamEventBus
    count: int
    rate_per_s: float
    kill_at: int
    sent_at: dict[UUID, float] = field(default_factory=dict)
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(self.count):
            event = Event.build(LOAD, {"proctor.resource.id": f"r{i}"}, payload={})
            await self.bus.publish(event)
            self.sent_at[event.id] = time.monotonic()
            if i + 1 == self.kill_at:
                self.reached.set()
            due = started + (i + 1) / self.rate_per_s
            await asyncio.sleep(max(0.0, due - loop.time()))  # allow-sleep: pacing the load


async def test_kill_9_of_one_of_two_engine_replicas_fires_every_event_once(
    tmp_path: Path, isolated_environment: Path
) -> None:
    rate, seconds = 40.0, 6 * SCALE
    count = int(rate * seconds)
    async with own_nats(tmp_path / "nats") as nats:
        settings = ProctorSettings(nats_url=nats.url)
        env = {"PROCTOR_NATS_URL": nats.url, "PROCTOR_HOME": str(isolated_environment)}
        # The recorder and the API (no engine): they declare the streams and hold the store.
        base = LocalServer(settings, services=[], port=0)
        echoes = Echoes()
        await base.start()
        try:
            assert base.bus is not None
            async with httpx.AsyncClient(base_url=base.api_url) as http:
                rule = await http.post("/api/automations", json=echo_automation().to_data())
                assert rule.status_code == 201, rule.text
            engines = [
                ProctorProcess("services", "engine", env=env, log=tmp_path / f"engine-{i}.log")
                for i in range(2)
            ]
            async with engines[0], engines[1]:
                await echoes.start(base.bus)
                load = PacedLoad(base.bus, count, rate, kill_at=count // 3)
                publishing = asyncio.create_task(load.run())
                try:
                    await asyncio.wait_for(load.reached.wait(), 60)
                    await engines[0].kill()
                    killed = time.monotonic()
                    await asyncio.wait_for(publishing, 60 * SCALE)
                finally:
                    publishing.cancel()
                await echoes.until(set(load.sent_at))
            in_stream = await stored_events(base.bus, LOAD, ECHO)
        finally:
            await echoes.stop()
            await base.stop()

    sent = list(load.sent_at)
    fired = classify(sent, sent, echo_sources(in_stream))
    assert fired.ok, f"the automation: {fired.summary()}"
    stored = classify(sent, sent, [e.id for e in in_stream if e.event == LOAD])
    assert stored.ok, stored.summary()
    after_kill = [s for s, at in load.sent_at.items() if at > killed]
    failover_s = min(echoes.first_at[s] for s in after_kill) - killed
    before_kill = [s for s, at in load.sent_at.items() if at <= killed]
    delays = [echoes.first_at[s] - load.sent_at[s] for s in before_kill]
    # What the dead replica held (or had a pull request open for) waits for ack_wait; every
    # event must still fire within 5 s of the kill, or of being sent if that was later.
    late = {s: echoes.first_at[s] - max(at, killed) for s, at in load.sent_at.items()}
    held = [s for s in before_kill if late[s] > 0.5]
    record_result(
        FaultResult(
            fault="kill -9 of one of two `proctor services engine` replicas mid-load",
            load_per_s=count / seconds,
            faults=1,
            report=fired,
            recovery_s={
                "kill_to_next_firing_by_survivor": failover_s,
                "longest_delay_of_an_event_sent_before_the_kill": max(delays),
                "longest_wait_after_the_kill": max(late.values()),
                "kill_to_last_held_event_fired": max((late[s] for s in held), default=0.0),
            },
            details={"events_held_by_the_killed_replica": len(held)},
        )
    )
    assert failover_s <= 5.0, f"the survivor fired {failover_s:.2f} s after the kill"
    slowest = max(late, key=late.__getitem__)
    assert late[slowest] <= 5.0, (
        f"event {slowest} fired {late[slowest]:.2f} s after the kill (or after it was sent)"
    )
