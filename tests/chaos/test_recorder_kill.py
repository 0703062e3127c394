"""``kill -9`` of a standalone recorder (``proctor services recorder``) under load.

Events are published to the event stream at 400/s while the recorder stores them in its
SQLite store; it gets SIGKILL every ``500`` acknowledged events and is started again at once
(``2 * PROCTOR_CHAOS_SCALE`` kills). Checked with the checker, reading the store's events
index: every acknowledged event is stored exactly once after the last restart, and nothing is
dead-lettered. Recovery: restart to ready, and last kill to everything stored: what the dead
recorder had fetched and not acknowledged comes back after its consumer's ``ack_wait``
(``RECORDER_ACK_WAIT``, 5 s; it was 30 s), so everything is stored within
``CAUGHT_UP_BOUND_S`` of the last kill.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest

from proctor.events.bus import JetStreamEventBus
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.recorder import RECORDER_ACK_WAIT
from proctor.runtime.store.engine import SQLITE_FILE_NAME
from tests.chaos.checker import classify, dead_letters, indexed_event_ids
from tests.chaos.processes import ProctorProcess, own_nats
from tests.chaos.results import SCALE, FaultResult, record_result

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(180 * SCALE)]

LOAD = "chaos.recorded"
EVERY = 500
CHUNK = 20
RATE_PER_S = 400.0
CAUGHT_UP_BOUND_S = RECORDER_ACK_WAIT.total_seconds() + 10.0
"""The dead recorder's batch comes back after ``ack_wait``; the restart and the catch-up
of what was published meanwhile take the rest (a few seconds on a loaded machine)."""


@dataclass
class Publisher:
    """Publishes uniquely identified events in small chunks at ``RATE_PER_S``, until stopped."""

    bus: JetStreamEventBus
    sent: set[UUID] = field(default_factory=set)
    acknowledged: set[UUID] = field(default_factory=set)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def acks(self, count: int, timeout_s: float = 60.0) -> None:
        async with self.progress:
            await asyncio.wait_for(
                self.progress.wait_for(lambda: len(self.acknowledged) >= count), timeout_s
            )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started, n = loop.time(), 0
        while not self.stop.is_set():
            chunk = [
                Event.build(LOAD, {"proctor.resource.id": f"r{n + i}"}, payload={})
                for i in range(CHUNK)
            ]
            n += CHUNK
            self.sent.update(e.id for e in chunk)
            await self.bus.publish_many(chunk)
            async with self.progress:
                self.acknowledged.update(e.id for e in chunk)
                self.progress.notify_all()
            due = started + n / RATE_PER_S
            await asyncio.sleep(max(0.0, due - loop.time()))  # allow-sleep: pacing the load


async def test_kill_9_of_the_recorder_loses_and_duplicates_no_acknowledged_event(
    tmp_path: Path,
) -> None:
    kills = 2 * SCALE
    home = tmp_path / "home"
    database = f"sqlite+aiosqlite:///{home / SQLITE_FILE_NAME}"
    async with own_nats(tmp_path / "nats") as nats:
        env = {"PROCTOR_HOME": str(home), "PROCTOR_NATS_URL": nats.url}

        def recorder() -> ProctorProcess:
            return ProctorProcess("services", "recorder", env=env, log=tmp_path / "recorder.log")

        running = recorder()
        await running.start()
        bus = await JetStreamEventBus.connect(nats.url, naming=Naming(), declare=False)
        publisher = Publisher(bus)
        publishing = asyncio.create_task(publisher.run())
        restarts: list[float] = []
        last_kill = 0.0
        started = time.monotonic()
        try:
            for kill in range(1, kills + 1):
                await publisher.acks(kill * EVERY)
                await running.kill()
                last_kill = time.monotonic()
                running = recorder()
                await running.start()
                restarts.append(running.ready_s)
            await publisher.acks((kills + 1) * EVERY)
            publisher.stop.set()
            await publishing
            load_s = time.monotonic() - started
            stored = await indexed_event_ids(
                database, [LOAD], expected=publisher.acknowledged, timeout_s=90
            )
            caught_up_s = time.monotonic() - last_kill
            dead = await dead_letters(database)
        finally:
            publishing.cancel()
            await bus.close()
            await running.stop()

    report = classify(publisher.sent, publisher.acknowledged, stored)
    assert report.ok, report.summary()
    assert not dead, f"dead-lettered: {dead[:5]}"
    assert caught_up_s <= CAUGHT_UP_BOUND_S, f"everything stored {caught_up_s:.1f} s after"
    record_result(
        FaultResult(
            fault="kill -9 of `proctor services recorder` mid-load",
            load_per_s=len(publisher.acknowledged) / load_s,
            faults=kills,
            report=report,
            recovery_s={
                "restart_to_ready": max(restarts),
                "last_kill_to_everything_stored": caught_up_s,
            },
        )
    )
