"""The worker: claims run requests of one pool, executes them through a launcher, follows them.

Claiming a request (see ``proctor.runtime.orchestration``):

1. pull it from the highest-priority queue that has one (a no-wait pull per queue); the
   requester wakes the pool's workers once the request is stored, a handed-back request is
   found by looking again every ``poll_s``;
2. read the run's entry: a run that is not queued (cancelled, already claimed) is dropped; a run
   due later is handed back until it is due;
3. take a slot of every concurrency limit that applies (deployment, tags, pool, queue); if one
   is full, hand the request back for later, or with ``cancel-new`` end the run Cancelled;
4. compare-and-set the entry from queued to claimed by this worker, publish Pending, ack the
   request, and start the run.

While a run executes, its reports update its entry (so a crash or a cancel follows its latest
state); when it ends, its slots are released. Every ``heartbeat_s`` the worker publishes a
heartbeat and re-reads the entries of its runs: a cancel it missed is acted on, and a run that
was taken from it (marked Crashed while it was unreachable) is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from proctor.events.ids import uuid7
from proctor.events.model import Event, utcnow
from proctor.runtime.engine.states import Cancelled, Crashed, Failed, Pending
from proctor.runtime.orchestration.announce import announce
from proctor.runtime.orchestration.model import (
    CollisionStrategy,
    EntryStatus,
    PoolConfig,
    QueueConfig,
    RunEntry,
    WorkerBeat,
)
from proctor.runtime.orchestration.plane import QueuePuller, RunPlane
from proctor.runtime.orchestration.slots import Scope, scope_key
from proctor.runtime.run_events import StateType
from proctor.runtime.worker.launchers import Launcher, RunHandle
from proctor.runtime.worker.messages import CancelCommand, ErrorReport, Job, StateReport

__all__ = ("Worker",)

log = logging.getLogger(__name__)


@dataclass
class _Held:
    """A run this worker claimed."""

    entry: RunEntry
    handle: RunHandle | None = None
    reports: asyncio.Queue[StateReport | ErrorReport] = field(default_factory=asyncio.Queue)
    error: ErrorReport | None = None
    cancel_sent: bool = False
    lost: bool = False
    kill_timer: asyncio.TimerHandle | None = None


class Worker:
    """Claims and executes the runs of ``pool`` (all its queues, or ``queues``), at most
    ``limit`` at a time. ``await worker.start()``, later ``await worker.stop()``."""

    def __init__(
        self,
        plane: RunPlane,
        pool: str,
        *,
        launcher: Launcher,
        nats_url: str,
        queues: tuple[str, ...] | None = None,
        limit: int | None = None,
        name: str | None = None,
    ) -> None:
        self.plane = plane
        self.pool = pool
        self.launcher = launcher
        self.nats_url = nats_url
        self.queue_names = queues
        self.limit = limit
        self.id = f"{pool}-{uuid7().hex[-16:]}"
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.held: dict[UUID, _Held] = {}
        self.claimed = 0
        self._config = PoolConfig(name=pool)
        self._started = utcnow()
        self._wake = asyncio.Event()
        self._freed = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._runs: set[asyncio.Task[None]] = set()
        self._subscriptions: list[Subscription] = []
        self._pullers: dict[str, QueuePuller] = {}
        self._pool_watch: Any = None

    @property
    def options(self) -> Any:
        return self.plane.options

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Announce the worker, then start claiming."""
        nc, naming = self.plane.bus.nc, self.plane.naming
        self._config = await self.plane.pool_config(self.pool)
        self._pool_watch = await self.plane.pools.watch(self.pool)
        self._subscriptions.append(
            await nc.subscribe(naming.worker_wake_subject(self.pool), cb=self._on_request)
        )
        self._subscriptions.append(
            await nc.subscribe(naming.worker_control_subject(self.id), cb=self._on_control)
        )
        for queue in self.queues():
            self._pullers[queue.name] = await self.plane.puller(self.pool, queue.name)
        await self._beat()
        await announce(self.plane.bus, "worker", self.id, self.name, "started", pool=self.pool)
        self._tasks = [
            asyncio.create_task(self._heartbeats(), name="proctor-worker-heartbeat"),
            asyncio.create_task(self._follow_pool(), name="proctor-worker-pool"),
            asyncio.create_task(self._claim_loop(), name="proctor-worker-claim"),
        ]
        log.info("worker %s (%s) serves pool %r", self.id, self.name, self.pool)

    async def stop(self, *, cancel_after_s: float | None = None) -> None:
        """Stop claiming, let held runs finish (cancel those still running after
        ``cancel_after_s``), then sign off."""
        self._stopping = True
        self._wake.set()
        self._freed.set()
        claim = self._tasks[-1] if self._tasks else None
        if claim is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await claim
        if self._runs:
            _, running = await asyncio.wait(set(self._runs), timeout=cancel_after_s)
            if running:
                await self.cancel_held()
                await asyncio.wait(running)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool_watch is not None:
            with contextlib.suppress(Exception):
                await self._pool_watch.stop()
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for puller in self._pullers.values():
            await puller.close()
        with contextlib.suppress(Exception):
            await self.plane.workers.delete(self.id)
        await announce(self.plane.bus, "worker", self.id, self.name, "stopped", pool=self.pool)
        await self.launcher.close()

    async def cancel_held(self, message: str = "cancelled: its worker shut down") -> None:
        """Cancel every run this worker executes (they end Cancelled, hooks called)."""
        for held in list(self.held.values()):
            await self._cancel(held, message)

    # --- signals -----------------------------------------------------------------------------

    async def _on_request(self, msg: Msg) -> None:
        self._wake.set()

    async def _on_control(self, msg: Msg) -> None:
        try:
            command = json.loads(msg.data)
            run_id = UUID(command["cancel"])
        except (ValueError, KeyError, TypeError):
            return
        held = self.held.get(run_id)
        if held is not None:
            found = await self.plane.board.get(run_id)
            if found is not None:
                held.entry = found[0]
            await self._cancel(held, None)

    async def _follow_pool(self) -> None:
        async for update in self._pool_watch:
            if update is None:
                continue
            if update.value and update.operation is None:
                self._config = PoolConfig.model_validate_json(update.value)
            else:
                self._config = PoolConfig(name=self.pool)
            self._wake.set()

    async def _beat(self) -> None:
        beat = WorkerBeat(
            id=self.id,
            name=self.name,
            pool=self.pool,
            queues=tuple(q.name for q in self.queues()),
            limit=self.limit,
            running=len(self.held),
            heartbeat_s=self.options.heartbeat_s,
            started=self._started,
            sent=utcnow(),
        )
        await self.plane.workers.put(self.id, beat.model_dump_json().encode())

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            try:
                await self._beat()
                config = await self.plane.pool_config(self.pool)  # in case the watch stalled
                if config != self._config:
                    self._config = config
                    self._wake.set()
                for held in list(self.held.values()):
                    await self._check(held)
            except Exception:
                log.exception("worker %s: heartbeat failed", self.id)

    async def _check(self, held: _Held) -> None:
        """Act on what changed in a held run's entry: a cancel, or the run taken away."""
        found = await self.plane.board.get(held.entry.id)
        if found is None or found[0].worker != self.id:
            if not held.lost:
                held.lost = True
                log.warning("run %s is no longer held by this worker: stopping it", held.entry.id)
                if held.handle is not None:
                    held.handle.kill()
            return
        held.entry = found[0]
        if held.entry.cancel_requested:
            await self._cancel(held, None)

    # --- claiming ------------------------------------------------------------------------------

    def queues(self) -> list[QueueConfig]:
        queues = self._config.by_priority()
        if self.queue_names is None:
            return queues
        known = {q.name for q in queues}
        chosen = [q for q in queues if q.name in self.queue_names]
        return chosen + [QueueConfig(name=n) for n in self.queue_names if n not in known]

    def _full(self) -> bool:
        return self.limit is not None and len(self.held) >= self.limit

    async def _claim_loop(self) -> None:
        while not self._stopping:
            if self._full():
                self._freed.clear()
                await self._freed.wait()
                continue
            self._wake.clear()
            msg = None if self._config.paused else await self._next_request()
            if msg is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_s)
                continue
            try:
                await self._claim(msg)
            except Exception:
                log.exception("worker %s: claiming a run request failed", self.id)
                with contextlib.suppress(Exception):
                    await msg.nak(delay=self.options.concurrency_retry_s)

    async def _next_request(self) -> Msg | None:
        for queue in self.queues():
            if queue.paused:
                continue
            puller = self._pullers.get(queue.name)
            if puller is None:
                puller = self._pullers[queue.name] = await self.plane.puller(self.pool, queue.name)
            msg = await puller.pull()
            if msg is not None:
                return msg
        return None

    def _scopes(self, entry: RunEntry) -> list[Scope]:
        scopes: list[Scope] = []
        if self._config.concurrency_limit is not None:
            scopes.append((scope_key("pool", self.pool), self._config.concurrency_limit))
        queue = self._config.queue(entry.job.work_queue)
        if queue is not None and queue.concurrency_limit is not None:
            scope = scope_key("queue", self.pool, queue.name)
            scopes.append((scope, queue.concurrency_limit))
        return scopes

    async def _claim(self, msg: Msg) -> None:
        try:
            run_id = UUID(msg.data.decode())
        except ValueError:
            log.error("worker %s: dropping a malformed run request %r", self.id, msg.data[:100])
            await msg.term()
            return
        found = await self.plane.board.get(run_id)
        if found is None:
            log.warning("run %s was requested but has no entry (expired?): dropped", run_id)
            await msg.ack()
            return
        entry = found[0]
        if entry.status is not EntryStatus.QUEUED or entry.cancel_requested:
            await msg.ack()  # cancelled, or claimed already through another copy
            return
        wait_s = (entry.scheduled_time - utcnow()).total_seconds()
        if wait_s > 0:
            await msg.nak(delay=min(wait_s, 60.0))
            return
        slots = await self._take_slots(entry, msg)
        if slots is None:
            return

        def claim(current: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if current.status is not EntryStatus.QUEUED or current.cancel_requested:
                return None
            return current.advance(
                Pending().snapshot, status=EntryStatus.CLAIMED, worker=self.id, slots=slots
            )

        moved = await self.plane.move(run_id, claim, known=found)
        if moved is None:
            await self.plane.slots.release(run_id, slots)
            await msg.ack()
            return
        await msg.ack()
        self.claimed += 1
        held = _Held(entry=moved[0])
        self.held[run_id] = held
        task = asyncio.create_task(self._run(held), name=f"proctor-run-{run_id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _take_slots(self, entry: RunEntry, msg: Msg) -> tuple[str, ...] | None:
        """The run's concurrency slots, or ``None`` when it must wait (or was cancelled)."""
        slots = self.plane.slots
        taken: tuple[str, ...] = ()
        job = entry.job
        if job.concurrency_limit is not None and entry.run.deployment_id is not None:
            scope = (scope_key("deployment", str(entry.run.deployment_id)), job.concurrency_limit)
            got = await slots.acquire(entry.id, [scope])
            if got is None:
                if job.collision_strategy is CollisionStrategy.CANCEL_NEW:
                    await self._cancel_new(entry, job.concurrency_limit)
                    await msg.ack()
                else:
                    await msg.nak(delay=self.options.concurrency_retry_s)
                return None
            taken = got
        scopes = await slots.scopes_for_tags(entry.run.tags) + self._scopes(entry)
        rest = await slots.acquire(entry.id, scopes) if scopes else ()
        if rest is None:
            await slots.release(entry.id, taken)
            await msg.nak(delay=self.options.concurrency_retry_s)
            return None
        return taken + rest

    async def _cancel_new(self, entry: RunEntry, limit: int) -> None:
        message = f"deployment {entry.run.deployment_name!r} is at its concurrency limit of {limit}"

        def cancel(current: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if current.status is not EntryStatus.QUEUED:
                return None
            return current.advance(Cancelled(message).snapshot, status=EntryStatus.FINAL)

        await self.plane.move(entry.id, cancel)

    # --- following a run -----------------------------------------------------------------------

    async def _run(self, held: _Held) -> None:
        entry = held.entry
        code = -1
        try:
            job = Job(
                entrypoint=entry.job.entrypoint,
                working_dir=entry.job.working_dir,
                env=entry.job.env,
                parameters=entry.job.parameters,
                nats_url=self.nats_url,
                namespace=self.plane.naming.namespace,
                run=entry.run,
                state=entry.state,
                event_id=entry.event_id,
                traceparent=entry.traceparent,
            )
            held.handle = await self.launcher.start(job, held.reports.put_nowait)
            if held.entry.cancel_requested:
                await self._cancel(held, None)
            code = await self._follow(held, held.handle)
        except Exception as error:
            log.exception("worker %s: run %s could not be started", self.id, entry.id)
            held.error = ErrorReport(message=f"the run could not be started: {error}")
        finally:
            await self._finish(held, code)

    async def _follow(self, held: _Held, handle: RunHandle) -> int:
        exited = asyncio.ensure_future(handle.wait())
        try:
            while True:
                report = asyncio.ensure_future(held.reports.get())
                done, _ = await asyncio.wait({report, exited}, return_when=asyncio.FIRST_COMPLETED)
                if report in done:
                    await self._apply(held, report.result())
                    continue
                report.cancel()
                while not held.reports.empty():
                    await self._apply(held, held.reports.get_nowait())
                return exited.result()
        finally:
            exited.cancel()

    async def _apply(self, held: _Held, report: StateReport | ErrorReport) -> None:
        if isinstance(report, ErrorReport):
            held.error = report
            return
        terminal = report.state.type.is_terminal

        def record(current: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if current.worker != self.id or current.status is not EntryStatus.CLAIMED:
                return None
            if not current.is_behind(report.state):
                return None  # an older state than the one recorded (a cancel came meanwhile)
            status = EntryStatus.FINAL if terminal else EntryStatus.CLAIMED
            update = {"run": report.run, "state": report.state, "event_id": report.event_id}
            return current.model_copy(update={**update, "status": status}), None

        moved = await self.plane.move(held.entry.id, record)
        if moved is not None:
            held.entry = moved[0]
        if terminal and held.kill_timer is None:
            loop = asyncio.get_running_loop()
            held.kill_timer = loop.call_later(self.options.exit_grace_s, self._kill_lingering, held)

    def _kill_lingering(self, held: _Held) -> None:
        """Kill a run's process still there ``exit_grace_s`` after its run ended."""
        log.warning(
            "worker %s: run %s ended %.0f s ago but its code is still running "
            "(a final-state hook that does not return?): killing it",
            self.id,
            held.entry.id,
            self.options.exit_grace_s,
        )
        if held.handle is not None:
            held.handle.kill()

    async def _finish(self, held: _Held, code: int) -> None:
        if held.kill_timer is not None:
            held.kill_timer.cancel()
        run_id = held.entry.id
        try:
            if not held.lost:
                moved = await self.plane.move(run_id, lambda e: self._ended(e, held, code))
                if moved is not None:
                    held.entry = moved[0]
            await self.plane.slots.release(run_id, held.entry.slots)
        except Exception:
            log.exception("worker %s: finishing run %s failed", self.id, run_id)
        finally:
            self.held.pop(run_id, None)
            self._freed.set()
            self._wake.set()

    def _ended(
        self, entry: RunEntry, held: _Held, code: int
    ) -> tuple[RunEntry, Event | None] | None:
        """The state of a run whose process ended without ending the run itself."""
        if entry.worker != self.id or entry.status is not EntryStatus.CLAIMED:
            return None
        if held.error is not None:
            error = held.error.message
            state = Failed(error) if held.error.failed else Crashed(error)
        elif entry.cancel_requested or held.cancel_sent:
            state = Cancelled("cancelled: the run's process was stopped")
        else:
            state = Crashed(f"the run's process exited (code {code}) before the run ended")
        return entry.advance(state.snapshot, status=EntryStatus.FINAL)

    async def _cancel(self, held: _Held, message: str | None) -> None:
        """Ask a held run to end Cancelled; kill it if it has not within the grace period."""
        if held.cancel_sent or held.handle is None:
            return
        held.cancel_sent = True
        entry = held.entry
        cancelling = entry.state if entry.state.type is StateType.CANCELLING else None
        command = CancelCommand(
            state=cancelling,
            event_id=entry.event_id if cancelling is not None else None,
            message=message or (cancelling.message if cancelling else None),
        )
        held.handle.cancel(command)
        if held.kill_timer is None:
            loop = asyncio.get_running_loop()
            held.kill_timer = loop.call_later(self.options.cancel_grace_s, held.handle.kill)
