"""The run monitor: marks runs Crashed when their worker died, and Late when nobody started them.

It follows the worker heartbeats and the run entries through KV watches and stamps each new
heartbeat with *its own* clock when it sees it, so clocks of other machines don't matter.
Before calling a worker dead it reads the worker's heartbeat itself (a watch can stall on a
loaded broker: a beat it missed proves the worker alive), and it restarts its watches every
``RESYNC_S``. Every ``check_interval_s`` it looks for:

- workers silent for ``missed_heartbeats`` of their heartbeat intervals: each run they held
  becomes Crashed (Cancelled if a cancel was pending), its slots are released, and the worker
  is forgotten. A run is thus Crashed within ``heartbeat_s * missed_heartbeats +
  check_interval_s`` of its worker's death;
- queued runs still Scheduled ``late_after_s`` after their scheduled time: they become Late.

Each mark is a compare-and-set on the run's entry: several monitors (server replicas) mark a
run once, and a worker that claims a run at the same moment either wins or sees it Late.

A worker records the states its runs enter in their entries, after the run has published
them: a worker that dies in between leaves its entry behind the run's events. So before
marking a run Crashed the monitor asks ``recorded_run`` (the server: the store) for the
run as last recorded. A later state was entered by the engine (whose events carry their
state's id): the Crashed event follows it and says what that state's event said of the run
(its run count, start and end time), and a run already ended (Completed, Failed...) keeps
its end, with no Crashed event after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import nats.js.errors

from proctor.events.model import Event
from proctor.runtime.engine.clock import Clock, SystemClock
from proctor.runtime.engine.states import Cancelled, Crashed, Late
from proctor.runtime.orchestration.announce import announce
from proctor.runtime.orchestration.model import EntryStatus, RunEntry, WorkerBeat
from proctor.runtime.orchestration.plane import RunPlane
from proctor.runtime.run_events import StateSnapshot

__all__ = ("RESYNC_S", "ReadRecordedRun", "RecordedRun", "RunMonitor", "WorkerStatus")

log = logging.getLogger(__name__)

RESYNC_S = 60.0
"""The monitor restarts its KV watches this often (a push feed can stall on a loaded broker)."""


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """A flow run as the recorder stored it: its latest state, and what that state's event
    said of the run."""

    state: StateSnapshot
    run_count: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None


ReadRecordedRun = Callable[[UUID], Awaitable[RecordedRun | None]]
"""A run as last recorded (``None``: nothing recorded, or the run is unknown)."""


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """A worker as the monitor sees it: its last heartbeat and when that was seen."""

    beat: WorkerBeat
    seen: datetime

    def silent_for(self, now: datetime) -> float:
        return (now - self.seen).total_seconds()


class RunMonitor:
    """``await RunMonitor(plane).start()``; ``stop()`` to end. ``check()`` runs one pass."""

    def __init__(
        self,
        plane: RunPlane,
        *,
        clock: Clock | None = None,
        recorded_run: ReadRecordedRun | None = None,
    ) -> None:
        self.plane = plane
        self.clock = clock or SystemClock()
        self._recorded_run = recorded_run
        self.workers: dict[str, WorkerStatus] = {}
        self.entries: dict[UUID, RunEntry] = {}
        self._seen_runs: dict[UUID, datetime] = {}
        self._watchers: list[Any] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._synced: set[str] = set()
        self._changed = asyncio.Condition()
        self._remembered: dict[str, WorkerStatus] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._watched_at = self.clock.now()

    async def start(self) -> None:
        """Follow heartbeats and entries (their current values first), then check on a timer."""
        await self._watch()
        self._loop_task = asyncio.create_task(self._loop())

    async def _watch(self) -> None:
        """(Re)start the KV watches and wait for their current values. A restart keeps what
        is known of each worker: an unchanged heartbeat keeps the time it was first seen."""
        await self._unwatch()
        self._remembered, self.workers, self.entries = self.workers, {}, {}
        self._synced.clear()
        self._ready.clear()
        workers = await self.plane.workers.watchall()
        entries = await self.plane.board.kv.watchall()
        self._watchers = [workers, entries]
        self._tasks = [
            asyncio.create_task(self._follow(workers, "workers", self._on_worker)),
            asyncio.create_task(self._follow(entries, "entries", self._on_entry)),
        ]
        await self._ready.wait()
        self._remembered = {}
        self._watched_at = self.clock.now()

    async def _unwatch(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for watcher in self._watchers:
            with contextlib.suppress(Exception):
                await watcher.stop()
        self._tasks, self._watchers = [], []

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self._unwatch()

    async def _follow(self, watcher: Any, name: str, handle: Any) -> None:
        async for update in watcher:
            if update is None:
                self._synced.add(name)
                if len(self._synced) == 2:
                    self._ready.set()
                continue
            try:
                handle(update)
            except Exception:
                log.exception("monitor: bad %s update for %s", name, update.key)
            async with self._changed:
                self._changed.notify_all()

    async def wait_until(self, seen: Callable[[RunMonitor], bool], timeout_s: float = 10) -> None:
        """Wait until what the monitor has seen satisfies ``seen`` (``TimeoutError`` after
        ``timeout_s``)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: seen(self))

    def _on_worker(self, update: Any) -> None:
        if update.operation is not None or not update.value:
            self.workers.pop(update.key, None)
            return
        beat = WorkerBeat.model_validate_json(update.value)
        self.workers[update.key] = self._stamp(update.key, beat)

    def _stamp(self, worker_id: str, beat: WorkerBeat) -> WorkerStatus:
        """The worker as seen now: a new heartbeat (its ``sent`` changed) is stamped with this
        monitor's clock; the same heartbeat seen again keeps its first stamp."""
        known = self.workers.get(worker_id) or self._remembered.get(worker_id)
        if known is not None and known.beat.sent == beat.sent:
            return known
        return WorkerStatus(beat, self.clock.now())

    def _on_entry(self, update: Any) -> None:
        run_id = UUID(update.key)
        if update.operation is not None or not update.value:
            self.entries.pop(run_id, None)
            self._seen_runs.pop(run_id, None)
            return
        entry = RunEntry.model_validate_json(update.value)
        if entry.status is EntryStatus.FINAL:
            self.entries.pop(run_id, None)
            self._seen_runs.pop(run_id, None)
        else:
            self.entries[run_id] = entry
            self._seen_runs.setdefault(run_id, self.clock.now())

    async def _loop(self) -> None:
        while True:
            try:
                if (self.clock.now() - self._watched_at).total_seconds() >= RESYNC_S:
                    await self._watch()  # a watch can stall on a loaded broker: start afresh
                await self.check()
            except Exception:
                log.exception("monitor: check failed")
            await asyncio.sleep(self.plane.options.check_interval_s)

    async def _still_silent(self, worker_id: str, status: WorkerStatus) -> bool:
        """Read the worker's heartbeat itself before calling it dead: a beat the watch missed
        proves it alive."""
        try:
            found = await self.plane.workers.get(worker_id)
        except nats.js.errors.KeyNotFoundError:
            return True
        if not found.value:
            return True
        beat = WorkerBeat.model_validate_json(found.value)
        if beat.sent != status.beat.sent:
            self.workers[worker_id] = WorkerStatus(beat, self.clock.now())
            return False
        return True

    # --- one pass ----------------------------------------------------------------------------

    def live_workers(self, pool: str | None = None) -> list[WorkerBeat]:
        """Workers heard from within their crash bound (of ``pool``, or all)."""
        now, bound = self.clock.now(), self.plane.options.missed_heartbeats
        return [
            status.beat
            for status in self.workers.values()
            if (pool is None or status.beat.pool == pool)
            and status.silent_for(now) <= status.beat.heartbeat_s * bound
        ]

    def _dead(self, now: datetime) -> set[str]:
        bound = self.plane.options.missed_heartbeats
        return {
            worker_id
            for worker_id, status in self.workers.items()
            if status.silent_for(now) > status.beat.heartbeat_s * bound
        }

    def _orphaned(self, now: datetime) -> list[RunEntry]:
        """Claimed runs whose worker is unknown (gone before we started) for a crash bound."""
        bound = timedelta(seconds=self.plane.options.crash_after_s)
        return [
            entry
            for entry in self.entries.values()
            if entry.status is EntryStatus.CLAIMED
            and entry.worker is not None
            and entry.worker not in self.workers
            and now - self._seen_runs.get(entry.id, now) > bound
        ]

    async def check(self) -> None:
        """Mark the runs of dead workers Crashed and overdue queued runs Late."""
        if not self._ready.is_set():
            return
        now = self.clock.now()
        dead = {w for w in self._dead(now) if await self._still_silent(w, self.workers[w])}
        for entry in list(self.entries.values()):
            if entry.status is EntryStatus.CLAIMED and entry.worker in dead:
                await self._crash(entry.id, entry.worker, "stopped sending heartbeats")
        for entry in self._orphaned(now):
            await self._crash(entry.id, entry.worker, "is gone")
        for worker_id in dead:
            status = self.workers.pop(worker_id, None)
            with contextlib.suppress(Exception):
                await self.plane.workers.delete(worker_id)
            if status is not None:
                await announce(
                    self.plane.bus, "worker", worker_id, status.beat.name, "lost",
                    pool=status.beat.pool,
                )  # fmt: skip
        late_after = timedelta(seconds=self.plane.options.late_after_s)
        for entry in list(self.entries.values()):
            if (
                entry.status is EntryStatus.QUEUED
                and entry.state.name == "Scheduled"
                and now >= entry.scheduled_time + late_after
            ):
                await self._late(entry.id, now, late_after)

    async def _crash(self, run_id: UUID, worker_id: str | None, why: str) -> None:
        recorded = await self._recorded(run_id)

        def crash(entry: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if entry.status is not EntryStatus.CLAIMED or entry.worker != worker_id:
                return None
            entry = _caught_up(entry, recorded)
            if entry.state.type.is_terminal:  # the run ended; its worker died before saying so
                run = entry.run
                if run.end_time is None:
                    run = run.model_copy(update={"end_time": entry.state.timestamp})
                final = {"run": run, "status": EntryStatus.FINAL, "worker": None}
                return entry.model_copy(update=final), None
            reason = f"its worker {worker_id} {why}"
            if entry.cancel_requested:
                state = Cancelled(f"cancelled: {reason}")
            else:
                state = Crashed(f"crashed: {reason}")
            return entry.advance(state.snapshot, status=EntryStatus.FINAL, worker=None)

        moved = await self.plane.move(run_id, crash)
        if moved is not None:
            entry, event = moved
            if event is None:
                log.warning(
                    "run %s ended %s; its worker %s %s", run_id, entry.state.name, worker_id, why
                )
            else:
                log.warning("run %s: %s", run_id, entry.state.message)
            await self.plane.slots.release(run_id, entry.slots)
            self.entries.pop(run_id, None)

    async def _recorded(self, run_id: UUID) -> RecordedRun | None:
        """The run as last recorded, if there is a source and it answers."""
        if self._recorded_run is None:
            return None
        try:
            return await self._recorded_run(run_id)
        except Exception as error:  # the entry's own state is used: the run still ends
            log.warning("run %s: its recorded state could not be read: %s", run_id, error)
            return None

    async def _late(self, run_id: UUID, now: datetime, late_after: timedelta) -> None:
        def late(entry: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if entry.status is not EntryStatus.QUEUED or entry.state.name != "Scheduled":
                return None
            if entry.cancel_requested or now < entry.scheduled_time + late_after:
                return None
            return entry.advance(Late(scheduled_time=entry.scheduled_time).snapshot)

        moved = await self.plane.move(run_id, late)
        if moved is not None:
            self.entries[run_id] = moved[0]


def _caught_up(entry: RunEntry, recorded: RecordedRun | None) -> RunEntry:
    """``entry`` at the ``recorded`` run if its state is later than the entry's (entered by
    the engine, so its event has the state's id), else ``entry``."""
    if recorded is None or not entry.is_behind(recorded.state):
        return entry
    run = entry.run.model_copy(
        update={
            "run_count": max(entry.run.run_count, recorded.run_count),
            "start_time": recorded.start_time or entry.run.start_time,
            "end_time": recorded.end_time or entry.run.end_time,
        }
    )
    state = recorded.state
    return entry.model_copy(update={"run": run, "state": state, "event_id": state.id})
