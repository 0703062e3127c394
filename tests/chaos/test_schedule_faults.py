"""``kill -9`` of an engine replica while it drives a schedule and a failure alert.

A served deployment runs every ``INTERVAL_S`` and fails each time; an automation sends one
Slack message per failed run to a stand-in Slack. Two ``proctor services engine`` replicas
share the work; one is killed mid-way. Checked: every schedule slot in the window got exactly
one run (no slot doubled, none missing), and every failed run exactly one Slack message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from examples.alert_on_failure import FakeSlack

from proctor import Automation, SendSlackMessage, flow, on_flow_failed
from proctor.core.settings import ProctorSettings
from proctor.events.bus import JetStreamEventBus
from proctor.runtime.run_events import parse_state_change
from proctor.runtime.server import LocalServer
from tests.chaos.checker import classify
from tests.chaos.processes import ProctorProcess, own_nats
from tests.chaos.results import SCALE, FaultResult, record_result

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(180 * SCALE)]

INTERVAL_S = 2.0
SLOTS_BEFORE_KILL = 3
SLOTS_AFTER_KILL = 5 * SCALE
FLOW = "chaos-doomed"


@flow(name=FLOW)
def doomed() -> None:
    """Fails on purpose: each run should bring exactly one Slack message."""
    raise RuntimeError("chaos: failing on purpose")


@dataclass
class Runs:
    """The flow's runs as their state events are stored: slot of each, and which failed."""

    slot_of: dict[UUID, datetime] = field(default_factory=dict)
    scheduled: Counter[UUID] = field(default_factory=Counter)
    failed: set[UUID] = field(default_factory=set)
    first_seen: dict[UUID, float] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self, bus: JetStreamEventBus) -> None:
        async with await bus.subscribe("proctor.flow-run.*", start="all") as feed:
            while True:
                with contextlib.suppress(TimeoutError):
                    change = parse_state_change(await feed.next(60.0))
                    if change is None or change.run.flow_name != FLOW:
                        continue
                    async with self.changed:
                        run = change.run.id
                        if change.state.name == "Scheduled":
                            self.scheduled[run] += 1
                            assert change.state.scheduled_time is not None
                            self.slot_of[run] = change.state.scheduled_time
                            self.first_seen.setdefault(run, time.monotonic())
                        elif change.state.name == "Failed":
                            self.failed.add(run)
                        self.changed.notify_all()

    async def until(self, ready: Callable[[], bool], timeout_s: float) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(ready), timeout_s)


async def slack_runs(slack: FakeSlack, failed: set[UUID], timeout_s: float) -> list[UUID]:
    """The run id of every Slack message, read until each failed run has one."""
    seen: list[UUID] = []
    async with asyncio.timeout(timeout_s):
        while not failed <= set(seen):
            seen.append(UUID((await slack.messages.get())["text"]))
    return seen


async def firings_settled(bus: JetStreamEventBus, timeout_s: float) -> None:
    """Wait until the engines' firings consumer has nothing pending or unacknowledged: every
    firing's actions ran, including those the killed replica held (redelivered)."""
    name = bus.naming.consumer("automation-engine-actions")
    async with asyncio.timeout(timeout_s):
        while True:
            info = await bus.js.consumer_info(bus.naming.events_stream, name)
            if not info.num_pending and not info.num_ack_pending:
                return
            await asyncio.sleep(0.2)  # allow-sleep: polling the consumer other processes share


async def test_kill_9_of_an_engine_replica_keeps_one_run_per_slot_and_one_alert_per_failure(
    tmp_path: Path, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = FakeSlack()
    slack_url = await slack.start()
    async with own_nats(tmp_path / "nats") as nats:
        monkeypatch.setenv("PROCTOR_NATS_URL", nats.url)
        env = {
            "PROCTOR_NATS_URL": nats.url,
            "PROCTOR_HOME": str(isolated_environment),
            "PROCTOR_OUTGOING_ALLOW": "127.0.0.1",
        }
        base = LocalServer(ProctorSettings(nats_url=nats.url), services=[], port=0)
        await base.start()
        runs = Runs()
        reading: asyncio.Task[None] | None = None
        stop_serving = asyncio.Event()
        serving: asyncio.Task[None] | None = None
        try:
            assert base.bus is not None
            monkeypatch.setenv("PROCTOR_API_URL", base.api_url)
            alert = Automation(
                name="chaos alert",
                trigger=on_flow_failed(FLOW),
                actions=[SendSlackMessage(webhook_url=slack_url, text="{{ flow_run.id }}")],
            )
            async with httpx.AsyncClient(base_url=base.api_url) as http:
                created = await http.post("/api/automations", json=alert.to_data())
                assert created.status_code == 201, created.text
            reading = asyncio.create_task(runs.read(base.bus))
            engines = [
                ProctorProcess("services", "engine", env=env, log=tmp_path / f"engine-{i}.log")
                for i in range(2)
            ]
            async with engines[0], engines[1]:
                serving = asyncio.create_task(
                    doomed.aserve("every-2s", interval=INTERVAL_S, stop=stop_serving)
                )
                await runs.until(lambda: len(runs.failed) >= SLOTS_BEFORE_KILL, 60)
                await engines[0].kill()
                killed = time.monotonic()
                before = len(runs.failed)
                await runs.until(lambda: len(runs.failed) >= before + SLOTS_AFTER_KILL, 60 * SCALE)
                stop_serving.set()
                await asyncio.wait_for(serving, 60)
                serving = None
                alerted = await slack_runs(slack, set(runs.failed), 90)
                await firings_settled(base.bus, 90)
                while not slack.messages.empty():  # any second message for a run
                    alerted.append(UUID(slack.messages.get_nowait()["text"]))
        finally:
            stop_serving.set()
            if serving is not None:
                await asyncio.wait_for(serving, 60)
            if reading is not None:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
            await base.stop()
            await slack.stop()

    slots = sorted(runs.slot_of.values())
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert all(abs(gap - INTERVAL_S) < 0.01 for gap in gaps), f"slots missing: {gaps}"
    assert len(set(slots)) == len(slots), "a slot has two runs"
    assert set(runs.scheduled.values()) == {1}, "a run was requested twice"
    failed = sorted(runs.failed, key=lambda run: runs.slot_of[run])
    report = classify(failed, failed, alerted)
    assert report.ok, f"Slack alerts: {report.summary()}"
    after_kill = [at for at in runs.first_seen.values() if at > killed]
    record_result(
        FaultResult(
            fault="kill -9 of one of two engine replicas driving a schedule and Slack alerts",
            load_per_s=1 / INTERVAL_S,
            faults=1,
            report=report,
            recovery_s={"kill_to_next_slot_requested": min(after_kill) - killed},
            details={"slots": len(slots), "alerts": len(alerted)},
        )
    )
