"""The monitor on a fake clock: the crash bound, Late once, cancels pending on dead workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from proctor.events.model import Event, utcnow
from proctor.runtime.engine import FakeClock
from proctor.runtime.engine.states import Completed, Pending, Running
from proctor.runtime.orchestration import (
    EntryStatus,
    RunEntry,
    RunMonitor,
    RunPlane,
    WorkerBeat,
    cancel_run,
)
from proctor.runtime.orchestration.monitor import RecordedRun
from proctor.runtime.run_events import StateSnapshot
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


class _Store:
    """The runs a recorder stored, as the server's monitor reads them."""

    def __init__(self) -> None:
        self.runs: dict[UUID, RecordedRun] = {}

    async def latest(self, run_id: UUID) -> RecordedRun | None:
        return self.runs.get(run_id)


async def _crash_with_recorded(
    plane: RunPlane, clock: FakeClock, recorded: Callable[[RunEntry], RecordedRun]
) -> tuple[RunEntry, RecordedRun, RunEntry]:
    """A run claimed by a worker that dies, with ``recorded(entry)`` as the store's record
    of it: the entry, that record, and the entry after the monitor's check."""
    await beat(plane, "w1", heartbeat_s=1.0)
    entry = await claimed(plane, "w1", slot=True)
    store = _Store()
    run = store.runs[entry.id] = recorded(entry)
    monitor = RunMonitor(plane, clock=clock, recorded_run=store.latest)
    try:
        await monitor.start()
        clock.advance(plane.options.missed_heartbeats + 1)
        await monitor.check()
    finally:
        await monitor.stop()
    return entry, run, await state_of(plane, entry)


def _started(then: StateSnapshot, *, ended: bool = False) -> Callable[[RunEntry], RecordedRun]:
    """A run recorded at ``then``, entered by the engine just after the entry's state, in its
    first run (started 5 ms before ``then``; ended at ``then`` if ``ended``)."""

    def entered(entry: RunEntry) -> RecordedRun:
        at = entry.state.timestamp + timedelta(milliseconds=10)
        state = then.model_copy(update={"timestamp": at})
        started = at - timedelta(milliseconds=5)
        end = at if ended else None
        return RecordedRun(state=state, run_count=1, start_time=started, end_time=end)

    return entered


async def test_a_crash_follows_the_running_state_the_dead_worker_had_not_recorded(
    plane: RunPlane, feed: StateFeed, clock: FakeClock
) -> None:
    entry, running, after = await _crash_with_recorded(plane, clock, _started(Running().snapshot))
    assert after.status is EntryStatus.FINAL
    crashed = await feed.until(entry.id, "Crashed")
    assert crashed.previous_state is not None
    assert crashed.previous_state.id == running.state.id  # not the Pending the entry held
    assert after.event_id == crashed.event_id
    assert await plane.slots.held("tag.db") == []
    # the event says what the Running's event said of the run, not the entry's Pending view
    assert entry.run.run_count == 0
    assert crashed.run.run_count == 1
    assert crashed.run.start_time == running.start_time
    assert crashed.run.end_time == crashed.state.timestamp


async def test_a_run_that_ended_before_its_worker_died_keeps_its_end(
    plane: RunPlane, feed: StateFeed, clock: FakeClock
) -> None:
    entry, completed, after = await _crash_with_recorded(
        plane, clock, _started(Completed().snapshot, ended=True)
    )
    assert after.status is EntryStatus.FINAL
    assert after.state.id == completed.state.id
    assert after.run.end_time == completed.state.timestamp
    assert (after.run.run_count, after.run.start_time) == (1, completed.start_time)
    assert await plane.slots.held("tag.db") == []
    marker = Event(event="test.marker", resource={"proctor.resource.id": "test.marker"})
    await plane.bus.publish(marker)
    await feed.through(marker)
    assert "Crashed" not in feed.names(entry.id)  # no Crashed after its Completed


async def test_a_recorded_state_older_than_the_entry_s_is_ignored(
    plane: RunPlane, feed: StateFeed, clock: FakeClock
) -> None:
    def stale(entry: RunEntry) -> RecordedRun:  # entered before the run's Pending
        earlier = entry.state.timestamp - timedelta(seconds=1)
        running = Running().snapshot.model_copy(update={"timestamp": earlier})
        return RecordedRun(state=running, run_count=1, start_time=earlier)

    entry, _, after = await _crash_with_recorded(plane, clock, stale)
    assert after.state.name == "Crashed"
    crashed = await feed.until(entry.id, "Crashed")
    assert crashed.previous_state is not None
    assert crashed.previous_state.name == "Pending"
    assert crashed.run.run_count == 0  # nothing of the stale record
