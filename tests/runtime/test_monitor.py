"""The monitor on a fake clock: the crash bound, Late once, cancels pending on dead workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from proctor.events.model import Event, utcnow
from proctor.runtime.engine import FakeClock
from proctor.runtime.engine.states import Pending
from proctor.runtime.orchestration import (
    EntryStatus,
    RunEntry,
    RunMonitor,
    RunPlane,
    WorkerBeat,
    cancel_run,
)
from tests.runtime.conftest import StateFeed, request

pytestmark = pytest.mark.nats


async def beat(plane: RunPlane, worker_id: str, heartbeat_s: float = 1.0) -> None:
    now = datetime.now(UTC)
    record = WorkerBeat(
        id=worker_id,
        name="w",
        pool="pool",
        queues=("default",),
        limit=None,
        running=1,
        heartbeat_s=heartbeat_s,
        started=now,
        sent=now,
    )
    await plane.workers.put(worker_id, record.model_dump_json().encode())


async def claimed(plane: RunPlane, worker_id: str, *, slot: bool = False) -> RunEntry:
    """A run requested and claimed by ``worker_id`` (holding one tag slot if ``slot``)."""
    entry = await request(plane, "record", {"path": "/dev/null"}, tags=["db"])
    slots = await plane.slots.acquire(entry.id, [("tag.db", 1)]) if slot else ()
    assert slots is not None

    def claim(current: RunEntry) -> tuple[RunEntry, Event | None]:
        return current.advance(
            Pending().snapshot, status=EntryStatus.CLAIMED, worker=worker_id, slots=slots
        )

    moved = await plane.move(entry.id, claim)
    assert moved is not None
    return moved[0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow())


@pytest.fixture
async def started(plane: RunPlane, clock: FakeClock) -> AsyncIterator[RunMonitor]:
    monitor = RunMonitor(plane, clock=clock)
    yield monitor
    await monitor.stop()


async def state_of(plane: RunPlane, entry: RunEntry) -> RunEntry:
    found = await plane.board.get(entry.id)
    assert found is not None
    return found[0]


async def test_a_silent_worker_s_run_is_crashed_after_the_missed_heartbeats_not_before(
    plane: RunPlane, feed: StateFeed, clock: FakeClock, started: RunMonitor
) -> None:
    await beat(plane, "w1", heartbeat_s=1.0)
    entry = await claimed(plane, "w1", slot=True)
    await started.start()
    bound = 1.0 * plane.options.missed_heartbeats

    clock.advance(bound - 0.1)
    await started.check()
    assert (await state_of(plane, entry)).status is EntryStatus.CLAIMED

    clock.advance(0.2)
    await started.check()
    after = await state_of(plane, entry)
    assert after.status is EntryStatus.FINAL
    assert after.state.name == "Crashed"
    crashed = await feed.until(entry.id, "Crashed")
    assert crashed.previous_state is not None
    assert crashed.previous_state.name == "Pending"
    assert await plane.slots.held("tag.db") == []
    assert await plane.worker_beats() == []  # the dead worker is forgotten


async def test_a_heartbeat_resets_the_bound(
    plane: RunPlane, clock: FakeClock, started: RunMonitor
) -> None:
    await beat(plane, "w1", heartbeat_s=1.0)
    entry = await claimed(plane, "w1")
    await started.start()
    for _ in range(5):
        clock.advance(2.0)  # two beats' time: silent, but within the bound of three
        before = started.workers["w1"].seen

        def beat_seen(monitor: RunMonitor, before: datetime = before) -> bool:
            return monitor.workers["w1"].seen > before

        await beat(plane, "w1", heartbeat_s=1.0)
        await started.wait_until(beat_seen)
        await started.check()
    assert (await state_of(plane, entry)).status is EntryStatus.CLAIMED


async def test_a_run_being_cancelled_on_a_dead_worker_ends_cancelled(
    plane: RunPlane, feed: StateFeed, clock: FakeClock, started: RunMonitor
) -> None:
    await beat(plane, "w1")
    entry = await claimed(plane, "w1")
    await cancel_run(plane, entry.id)
    await started.start()
    clock.advance(10)
    await started.check()
    assert (await state_of(plane, entry)).state.name == "Cancelled"
    await feed.until(entry.id, "Cancelled")


async def test_a_run_claimed_by_an_unknown_worker_is_crashed_after_the_bound(
    plane: RunPlane, clock: FakeClock, started: RunMonitor
) -> None:
    entry = await claimed(plane, "gone-before-the-monitor-started")
    await started.start()
    await started.check()
    assert (await state_of(plane, entry)).status is EntryStatus.CLAIMED
    clock.advance(plane.options.crash_after_s + 0.1)
    await started.check()
    assert (await state_of(plane, entry)).state.name == "Crashed"


async def test_a_run_nobody_starts_becomes_late_once(
    plane: RunPlane, feed: StateFeed, clock: FakeClock, started: RunMonitor
) -> None:
    entry = await request(plane, "record", {"path": "/dev/null"})
    await started.start()
    late_after = plane.options.late_after_s
    clock.advance(late_after - 0.1)
    await started.check()
    assert (await state_of(plane, entry)).state.name == "Scheduled"
    clock.advance(0.2)
    await started.check()
    await started.check()
    late = await feed.until(entry.id, "Late")
    assert late.state.scheduled_time == entry.scheduled_time
    assert (await state_of(plane, entry)).status is EntryStatus.QUEUED
    assert feed.names(entry.id) == ["Scheduled", "Late"]


async def test_a_worker_whose_beats_the_watch_missed_is_not_crashed(
    plane: RunPlane, clock: FakeClock, started: RunMonitor
) -> None:
    await beat(plane, "w1", heartbeat_s=1.0)
    entry = await claimed(plane, "w1")
    await started.start()
    await started._unwatch()  # as if the broker stalled the monitor's push feeds
    started._ready.set()
    clock.advance(10)
    await beat(plane, "w1", heartbeat_s=1.0)  # the worker is alive; the monitor didn't hear
    await started.check()
    assert (await state_of(plane, entry)).status is EntryStatus.CLAIMED
    clock.advance(10)  # now it really is silent
    await started.check()
    assert (await state_of(plane, entry)).state.name == "Crashed"
