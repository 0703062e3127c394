"""Stage one of the engine: events and clock ticks in, ``proctor.automation.triggered`` out.

Per batch of events (one durable consumer shared by every replica): skip the events no
trigger wants (by name, without decoding them), evaluate the rest against trigger state held
in memory, apply the loop guard, debounce and throttle, and publish one ``triggered`` event
per firing (its id is the firing's id, so JetStream stores a re-made firing once).

Checkpoints (a few times a second) write the trigger state the batches changed to the
durable store, with compare-and-set, and only then are those batches acknowledged. A crash
before a checkpoint redelivers its batches: the state they change was not saved, so they count
again exactly once, and the firings they make again carry the ids already stored. If another
replica changed a trigger's state meanwhile, that trigger is reloaded and every batch not yet
acknowledged is delivered again.

The clock loop sleeps until the evaluator's (or a debounce's) next deadline, then ticks:
proactive windows close, schedule slots fire (missed ones by the catch-up policy, and
reported), debounced firings are released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from proctor.automations.engine.guards import Held
from proctor.automations.engine.handoff import HeldFiring
from proctor.automations.engine.reports import (
    TRIGGERED,
    missed_event,
    stopped_event,
    suppressed_event,
    triggered_event,
    triggered_hops,
    triggered_wire,
)
from proctor.core.errors import EventError, ProctorError
from proctor.events.bus.consumer import Delivery
from proctor.events.model import Event, WireEvent
from proctor.triggers.firing import Firing, MissedSlots

if TYPE_CHECKING:
    from proctor.automations.engine.catalog import LoadedAutomation
    from proctor.automations.engine.engine import AutomationEngine

__all__ = ("Evaluation",)

log = logging.getLogger(__name__)

Pending = list[tuple[Firing, Event | None]]
_YIELD_EVERY: Final = 64


class Evaluation:
    """The evaluating half of an ``AutomationEngine`` (it holds the engine's state)."""

    def __init__(self, engine: AutomationEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        """Serialises batches, ticks and loads: the trigger state changes under it."""
        self.unacked: list[Delivery] = []
        """Evaluated deliveries whose state the next checkpoint saves (then acknowledges)."""

    # -- events ----------------------------------------------------------------------------

    async def process(self, deliveries: Sequence[Delivery]) -> None:
        """Evaluate one batch and publish its firings; the next checkpoint acknowledges it."""
        engine = self.engine
        evaluator = engine.evaluator
        async with self.lock:
            now = engine.clock.now()
            pending: Pending = []
            for position, delivery in enumerate(deliveries, start=1):
                if position % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let acks and state writes progress
                if engine.reload_on(delivery.event_name):
                    await engine.reload_in_order()
                    continue
                if not evaluator.concerns(delivery.event_name):
                    continue
                try:
                    event = delivery.decode()
                except EventError:
                    continue  # the recorder dead-letters what cannot be decoded
                engine.stats.evaluated += 1
                for firing in await evaluator.evaluate(event, now):
                    pending.append((firing, event))
            await self._fire(pending, [], [], now)
            self.unacked.extend(deliveries)
        engine.stats.events += len(deliveries)

    async def checkpoint(self) -> tuple[list[Delivery], list[Delivery]]:
        """Save the changed trigger state; the deliveries to acknowledge, and those to
        deliver again (after another replica changed a trigger's state: all not yet saved)."""
        engine = self.engine
        async with self.lock:
            deliveries, self.unacked = self.unacked, []
        try:
            conflicted = await self._flush()
        except BaseException:  # their state is still pending: the next checkpoint saves it
            self.unacked[:0] = deliveries
            raise
        if not conflicted:
            return deliveries, []
        async with self.lock:
            now = engine.clock.now()
            engine.stats.conflicts += len(conflicted)
            for key in conflicted:
                await engine.evaluator.reload(key, now)
            again, self.unacked = deliveries + self.unacked, []
        return [], again

    # -- the clock -------------------------------------------------------------------------

    def next_deadline(self) -> datetime | None:
        engine = self.engine
        deadlines = [
            d for d in (engine.evaluator.next_deadline(), engine.guards.next_deadline()) if d
        ]
        return min(deadlines, default=None)

    async def tick(self) -> None:
        """Close windows, fire due slots and release debounced firings, as of now."""
        engine = self.engine
        async with self.lock:
            now = engine.clock.now()
            result = await engine.evaluator.tick(now)
            released = await engine.guards.release(now)
            pending: Pending = [(firing, None) for firing in result.firings]
            await self._fire(pending, released, result.missed, now)

    # -- firing ----------------------------------------------------------------------------

    async def _fire(
        self, pending: Pending, released: list[Held], missed: list[MissedSlots], now: datetime
    ) -> None:
        """Guard each firing and publish what is admitted (and the reports) in one go."""
        engine = self.engine
        reports: list[Event | WireEvent] = []
        for firing, event in pending:
            loaded = engine.loaded.get(firing.trigger)
            if loaded is None or not loaded.enabled or firing.trigger in engine.stopped:
                continue
            limit = engine.options.loop_limit
            if event is not None and event.hops >= limit:
                reports.append(await self._stop_for_loop(firing.trigger, event, now))
                continue
            admission = await engine.guards.admit(loaded, firing, event, now)
            if admission.admitted:
                reports.append(self._handed(loaded, firing, event, now))
            elif admission.report is not None:
                reports.append(
                    suppressed_event(
                        loaded.id,
                        loaded.name,
                        reason="throttle",
                        firing=firing,
                        now=now,
                        detail=admission.report,
                    )
                )
        for held in released:
            loaded = engine.loaded.get(held.automation_id)
            if loaded is None or not loaded.enabled:
                continue
            admission = await engine.guards.throttle(loaded, held.firing, now)
            if admission.admitted:
                reports.append(self._handed(loaded, held.firing, held.event, now))
        for slots in missed:
            loaded = engine.loaded.get(slots.trigger)
            if loaded is not None:
                reports.append(missed_event(loaded.id, loaded.name, slots, now))
        if reports:
            await self._publish(reports)
            engine.stats.firings += sum(1 for report in reports if report.event == TRIGGERED)

    def _handed(
        self, loaded: LoadedAutomation, firing: Firing, event: Event | None, now: datetime
    ) -> Event | WireEvent:
        """The ``triggered`` event of an admitted firing, serialised, its objects kept for
        this engine's firings consumer (``Handoff``), unless it carries a shortened event."""
        wire = triggered_wire(loaded.id, loaded.name, firing, event, now)
        if wire is None:
            return triggered_event(loaded.id, loaded.name, firing, event, now)
        held = HeldFiring(wire.id, triggered_hops(event), loaded.id, firing, event)
        self.engine.handoff.keep(wire.data, held)
        return wire

    async def _stop_for_loop(self, automation_id: str, event: Event, now: datetime) -> Event:
        engine = self.engine
        loaded = engine.loaded[automation_id]
        limit = engine.options.loop_limit
        message = (
            f"automation {loaded.name!r} stopped by the loop guard: it was triggered by an "
            f"event {event.hops} causation hops from its origin (the limit is {limit}), so it "
            "keeps re-triggering itself. Fix its trigger or actions, then resume it."
        )
        log.warning("%s", message)
        engine.stopped.add(automation_id)
        await engine.evaluator.remove(automation_id)
        try:
            await engine.services.automations.pause_automation(automation_id, reason=message)
        except ProctorError as error:
            log.warning("automation %s: could not record the pause: %s", automation_id, error)
        return stopped_event(
            loaded.id, loaded.name, reason="loop_guard", message=message, cause=event, now=now
        )

    async def _publish(self, events: list[Event | WireEvent]) -> None:
        """Publish, waiting out an unreachable broker (the batch is held meanwhile)."""
        delay = self.engine.options.state_retry_s
        while True:
            try:
                await self.engine.bus.publish_many(events)
                return
            except ProctorError as error:
                if self.engine.stopping.is_set():
                    raise
                log.warning("automation engine: cannot publish (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _flush(self) -> set[str]:
        """Write the changed trigger state, waiting out an unreachable store; the triggers
        another replica changed meanwhile."""
        engine = self.engine
        delay = engine.options.state_retry_s
        while True:
            try:
                return await engine.buffer.flush()
            except ProctorError as error:
                if engine.stopping.is_set():
                    raise
                log.warning("automation engine: cannot save trigger state (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
