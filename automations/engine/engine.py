"""``AutomationEngine``: consumes the event stream and the clock, fires automations, and runs
their actions. See ``evaluating`` (stage one) and ``acting`` (stage two).

It is built from ports, so it runs the same in a test (in-memory bus, state and
automations, a ``ManualClock``) and in the server (JetStream bus, KV state, the store,
the wall clock)::

    engine = AutomationEngine(bus, source=automations, services=services, clock=clock,
                              trigger_state=kv_store, guard_state=kv)
    await engine.start()   # loads the automations, then consumes
    ...
    await engine.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from proctor.automations.engine.acting import Acting
from proctor.automations.engine.catalog import AutomationSource, LoadedAutomation
from proctor.automations.engine.clock import EngineClock
from proctor.automations.engine.evaluating import Evaluation
from proctor.automations.engine.guards import Guards
from proctor.automations.engine.handoff import Handoff
from proctor.automations.engine.kv import InMemoryKeyValue, KeyValueStore
from proctor.automations.engine.options import EngineOptions
from proctor.automations.engine.reports import TRIGGERED
from proctor.automations.execution import ActionServices
from proctor.core.errors import ProctorError
from proctor.core.gc_tuning import tune_for_service
from proctor.events.bus.base import EventBus
from proctor.events.bus.consumer import Delivery, DurableConsumer
from proctor.events.bus.holding import Holding
from proctor.events.names import NameFilters, compile_filter
from proctor.triggers.evaluation import TriggerEvaluator
from proctor.triggers.state import (
    BufferedTriggerStateStore,
    InMemoryTriggerStateStore,
    TriggerStateStore,
)

__all__ = ("AutomationEngine", "EngineStats")

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineStats:
    """What the engine has done since it started."""

    events: int = 0
    """Events consumed (including those no trigger wanted)."""
    evaluated: int = 0
    """Events decoded and evaluated."""
    firings: int = 0
    """``triggered`` events published."""
    actions_executed: int = 0
    actions_failed: int = 0
    conflicts: int = 0
    """Triggers reloaded because another replica changed their state."""
    evaluated_through: int = 0
    """Highest stream sequence of an acknowledged batch."""
    kept_alive: int = 0
    """``in_progress`` signals sent for events and firings held past a keep-alive tick."""


class AutomationEngine:
    """Fires automations from events and the clock, and runs their actions."""

    def __init__(
        self,
        bus: EventBus,
        *,
        source: AutomationSource,
        services: ActionServices,
        clock: EngineClock,
        trigger_state: TriggerStateStore | None = None,
        guard_state: KeyValueStore | None = None,
        options: EngineOptions | None = None,
        reload_on: Sequence[str] = (),
    ) -> None:
        self.bus = bus
        self.source = source
        self.services = services
        self.clock = clock
        self.options = options or EngineOptions()
        self.reload_on = NameFilters(compile_filter(pattern) for pattern in reload_on)
        """Names of events that say the automations changed: met in the stream, they make the
        engine reload its automations before the events that follow them."""
        self.buffer = BufferedTriggerStateStore(trigger_state or InMemoryTriggerStateStore())
        self.evaluator = TriggerEvaluator(self.buffer, retention=self.options.retention)
        self.guard_state = guard_state or InMemoryKeyValue()
        self.guards = Guards(self.guard_state)
        self.loaded: dict[str, LoadedAutomation] = {}
        self.stopped: set[str] = set()
        """Automations the loop guard stopped (until they are changed or resumed)."""
        self.stats = EngineStats()
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.handoff = Handoff()
        """Firings published here, kept for this engine's own firings consumer."""
        self._evaluation = Evaluation(self)
        self._acting = Acting(self)
        self._sync_lock = asyncio.Lock()
        self._checkpointing = asyncio.Lock()
        self._progress = asyncio.Condition()
        self._refreshed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[DurableConsumer] = []
        self._held: list[Holding] = []
        """What the events and the firings consumer hold; kept alive until the consumers close."""
        self._keepers: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the automations, then consume events, firings and the clock."""
        if self._tasks:
            return
        self.stopping.clear()
        await self.buffer.preload()
        await self.sync()
        await self.guards.resume(list(self.loaded.values()))
        options = self.options
        if options.tune_gc:
            tune_for_service()
        events = await self.bus.durable_consumer(options.purpose, options=options.events)
        firings = await self.bus.durable_consumer(
            f"{options.purpose}-actions", TRIGGERED, options=options.firings
        )
        self._consumers = [events, firings]
        self._held = [Holding(c, on_refresh=self._kept_alive) for c in (events, firings)]
        held_events, held_firings = self._held
        self._keepers = [
            asyncio.create_task(held.keep(), name="automation keep-alive") for held in self._held
        ]
        self._spawn(self._consume_events(held_events), "automation events")
        self._spawn(self._consume_firings(held_firings), "automation firings")
        self._spawn(self._clock_loop(), "automation clock")
        self._spawn(self._checkpoint_loop(held_events), "automation checkpoints")

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self, *, drain_s: float = 10.0) -> None:
        """Finish the batch in hand and (up to ``drain_s``) the running firings, then stop.
        Safe to call twice."""
        self.stopping.set()
        self.wake.set()
        self._acting.slot_free.set()  # a firings loop waiting for a slot sees it is stopping
        tasks, self._tasks = self._tasks, []
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._held:
            with contextlib.suppress(ProctorError):
                await self._checkpoint(self._held[0])
        await self._acting.drain(drain_s)
        keepers, self._keepers = self._keepers, []
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        self._held = []
        for consumer in self._consumers:
            with contextlib.suppress(ProctorError):
                await consumer.close()
        self._consumers = []

    async def __aenter__(self) -> AutomationEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- automations -----------------------------------------------------------------------

    async def sync(self) -> None:
        """Load the source's automations: add new and changed ones, drop removed ones (and
        their state). Paused ones stay known (for firings in flight) but never fire.

        The set is read and applied under the evaluation lock: read before a reload in order
        and applied after it, it would unload what that reload had just loaded."""
        async with self._sync_lock, self._evaluation.lock:
            await self._apply(await self._wanted())
        await self.checkpoint()
        self.wake.set()

    async def reload_in_order(self) -> None:
        """``sync`` from inside a batch (the evaluation lock held): an event saying that the
        automations changed is followed by the new set for the events after it."""
        await self._apply(await self._wanted())

    async def _wanted(self) -> dict[str, LoadedAutomation]:
        wanted = {loaded.id: loaded for loaded in await self.source.load_all()}
        new = {key for key in wanted if key not in self.loaded}
        if new and self._tasks:  # started: read their state at once (see preload)
            await self.buffer.preload(new)
        return wanted

    async def _apply(self, wanted: dict[str, LoadedAutomation]) -> None:
        now = self.clock.now()
        for automation_id in [key for key in self.loaded if key not in wanted]:
            del self.loaded[automation_id]
            self.stopped.discard(automation_id)
            self.guards.forget(automation_id)
            await self.evaluator.remove(automation_id, forget_state=True)
        for automation_id, loaded in wanted.items():
            old = self.loaded.get(automation_id)
            if old is not None and old.digest == loaded.digest:
                continue
            self.loaded[automation_id] = loaded
            self.stopped.discard(automation_id)
            if loaded.enabled:
                await self.evaluator.add(automation_id, loaded.automation.trigger, now)
            else:
                await self.evaluator.remove(automation_id)

    # -- loops -----------------------------------------------------------------------------

    async def _fetch(self, consumer: DurableConsumer, count: int) -> list[Delivery]:
        """A batch (``[]`` after ``fetch_timeout_s``). Not interrupted by ``stop``: a pull
        request cut short would strand what the server sends to it until ``ack_wait``."""
        return await consumer.fetch(count, timeout_s=self.options.fetch_timeout_s)

    async def _guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` until stopped; failures are logged and retried, never fatal."""
        delay = self.options.state_retry_s
        while not self.stopping.is_set():
            try:
                await step()
                delay = self.options.state_retry_s
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("automation engine: %s: %s; retrying in %.1f s", what, error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def _consume_events(self, held: Holding) -> None:
        async def step() -> None:
            deliveries = await self._fetch(held.consumer, self.options.batch_size)
            if not deliveries:
                return
            held.hold(deliveries)
            try:
                await self._evaluation.process(deliveries)
            except BaseException:
                held.release(deliveries)  # not evaluated: they come again after ack_wait
                raise
            self.wake.set()  # windows may have opened: the clock loop looks again
            if len(self._evaluation.unacked) >= self.options.checkpoint_events:
                await self._checkpoint(held)

        await self._guarded("evaluating events", step)

    async def _checkpoint_loop(self, held: Holding) -> None:
        async def step() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.options.checkpoint_interval_s)
            if not self.stopping.is_set():
                await self._checkpoint(held)

        await self._guarded("saving trigger state", step)

    async def checkpoint(self) -> None:
        """Save the trigger state now (and acknowledge what it covers)."""
        if self._held:
            await self._checkpoint(self._held[0])
        else:
            await self._evaluation.checkpoint()

    async def _checkpoint(self, held: Holding) -> None:
        consumer = held.consumer
        async with self._checkpointing:
            done, again = await self._evaluation.checkpoint()
            try:
                if again:
                    await consumer.nak(again)
                if not done:
                    return
                await consumer.ack(done)
            finally:  # if the ack was lost, they come again after ack_wait (counted already)
                held.release(done)
                held.release(again)
            async with self._progress:
                highest = max(delivery.sequence for delivery in done)
                self.stats.evaluated_through = max(self.stats.evaluated_through, highest)
                self._progress.notify_all()

    async def _consume_firings(self, held: Holding) -> None:
        acting = self._acting

        async def step() -> None:
            if acting.free <= 0:
                await acting.slot_free.wait()  # ``stop`` sets it too
                return
            for delivery in await self._fetch(held.consumer, acting.free):
                acting.start(held, delivery)

        await self._guarded("running firings", step)

    async def _clock_loop(self) -> None:
        async def step() -> None:
            self.wake.clear()
            deadline = self._evaluation.next_deadline()
            if deadline is not None and deadline <= self.clock.now():
                await self._evaluation.tick()
                return
            await self.clock.sleep_until(deadline, self.wake)

        await self._guarded("ticking", step)

    def _kept_alive(self, signals: int) -> None:
        self.stats.kept_alive += signals
        self._refreshed.set()

    # -- for tests and tools ---------------------------------------------------------------

    async def wait_kept_alive(self, signals: int, timeout_s: float = 30.0) -> None:
        """Return once ``stats.kept_alive`` reached ``signals`` (``TimeoutError`` after
        ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while self.stats.kept_alive < signals:
                self._refreshed.clear()
                await self._refreshed.wait()

    async def wait_evaluated(self, sequence: int, timeout_s: float = 30.0) -> None:
        """Return once every event up to stream ``sequence`` is evaluated, its state saved and
        acknowledged (``TimeoutError`` after ``timeout_s``)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: self.stats.evaluated_through >= sequence),
                timeout_s,
            )
