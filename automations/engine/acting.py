"""Stage two of the engine: each ``proctor.automation.triggered`` event becomes its actions.

Firings come from a durable consumer shared by every replica (each firing to one of them),
up to ``max_concurrent_firings`` at once; the engine never waits for an action. A firing's
actions run in order, each with its idempotency key (derived from the firing), retried with
exponential backoff while its failure is retryable; an action that still fails is
dead-lettered: reported as ``action.failed`` (reason, attempts, no secret) and skipped. Each
outcome is an event (``action.executed`` / ``action.failed``). The firing is acknowledged
when all its actions are done (meanwhile ``Holding`` keeps it from being delivered again); if
the engine dies first, it is delivered again within the consumer's ``ack_wait``, and actions
already done (recorded by key) are not run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError

from proctor.automations.actions import Action
from proctor.automations.engine.handoff import HeldFiring
from proctor.automations.engine.reports import ACTION_EXECUTED, action_event
from proctor.automations.execution import FiringContext, execute
from proctor.core.errors import ActionError, EventError, ProctorError
from proctor.events.bus.consumer import Delivery
from proctor.events.bus.holding import Holding
from proctor.events.model import Event
from proctor.triggers.firing import Firing

if TYPE_CHECKING:
    from proctor.automations.engine.catalog import LoadedAutomation
    from proctor.automations.engine.engine import AutomationEngine

__all__ = ("Acting",)

log = logging.getLogger(__name__)

_DONE: Final = b"1"


def _done_key(key: str) -> str:
    return f"done.{key}"


def _decoded(delivery: Delivery) -> HeldFiring | None:
    """What a ``triggered`` delivery says (``None``, logged, if it cannot be read)."""
    try:
        triggered = delivery.decode()
        payload = triggered.payload
        automation_id = str(payload["automation"]["id"])
        firing = Firing.model_validate(payload["firing"])
        carried = payload.get("event")
        event = Event.model_validate(carried) if carried is not None else None
    except (EventError, KeyError, TypeError, ValidationError) as error:
        log.warning("automation engine: skipping a malformed firing report: %s", error)
        return None
    return HeldFiring(triggered.id, triggered.hops, automation_id, firing, event)


class _Interrupted(Exception):
    """The engine is stopping while an action waits to be retried: deliver the firing again."""


class Acting:
    """The acting half of an ``AutomationEngine``."""

    def __init__(self, engine: AutomationEngine) -> None:
        self.engine = engine
        self.tasks: set[asyncio.Task[None]] = set()
        self.slot_free = asyncio.Event()
        self.slot_free.set()

    @property
    def free(self) -> int:
        return self.engine.options.max_concurrent_firings - len(self.tasks)

    def start(self, held: Holding, delivery: Delivery) -> None:
        """Handle ``delivery`` in the background; ``held`` keeps it from being delivered
        again while its actions run."""
        held.hold((delivery,))
        task = asyncio.create_task(self._handle(held, delivery), name="automation firing")
        self.tasks.add(task)
        if self.free <= 0:
            self.slot_free.clear()
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slot_free.set()

    async def drain(self, timeout_s: float) -> None:
        """Let in-flight firings finish (up to ``timeout_s``), then cancel the rest: they
        are delivered again."""
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _handle(self, held: Holding, delivery: Delivery) -> None:
        consumer = held.consumer
        try:
            await self._run_firing(delivery)
        except asyncio.CancelledError:  # stopping: another replica takes it now
            with contextlib.suppress(ProctorError):
                await consumer.nak([delivery])
            raise
        except _Interrupted:
            with contextlib.suppress(ProctorError):
                await consumer.nak([delivery])
            return
        except Exception:
            log.exception("automation engine: a firing failed unexpectedly; delivering it again")
            with contextlib.suppress(ProctorError):
                await consumer.nak([delivery], delay=timedelta(seconds=1))
            return
        finally:
            held.release((delivery,))
        with contextlib.suppress(ProctorError):
            await consumer.ack([delivery])

    async def _run_firing(self, delivery: Delivery) -> None:
        engine = self.engine
        held = engine.handoff.take(delivery.data) or _decoded(delivery)
        if held is None:
            return
        triggered_id, hops, automation_id, firing, event = held
        loaded = engine.loaded.get(automation_id)
        if loaded is None:  # made by a replica that knows a newer set of automations
            await engine.sync()
            loaded = engine.loaded.get(automation_id)
        if loaded is None:
            log.warning("automation %s fired, but it no longer exists: skipped", automation_id)
            return
        ctx = FiringContext(
            automation_id=loaded.id,
            automation_name=loaded.name,
            firing=firing,
            event=event,
            triggered_id=triggered_id,
            hops=hops,
            now=engine.clock.now(),
            services=engine.services,
        )
        for index, action in enumerate(loaded.automation.actions):
            key = ctx.key(index)
            if delivery.attempt > 1 and await engine.guard_state.get(_done_key(key)):
                continue
            report = await self._attempts(loaded, action, ctx, index)
            await engine.bus.publish(report)
            if report.event == ACTION_EXECUTED:
                engine.stats.actions_executed += 1
                await engine.guard_state.put(_done_key(key), _DONE, None)
            else:
                engine.stats.actions_failed += 1

    async def _attempts(
        self,
        loaded: LoadedAutomation,
        action: Action,
        ctx: FiringContext,
        index: int,
    ) -> Event:
        """Run one action until it succeeds, fails for good, or runs out of attempts."""
        options = self.engine.options
        key = ctx.key(index)
        delay = options.action_backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                detail = await execute(action, ctx, index)
            except ActionError as error:
                reason, message, retryable = error.reason, str(error), error.retryable
            except Exception as error:  # a bug or an unexpected failure: retry, then report
                log.exception("automation %s: action %d (%s) failed", loaded.id, index, action.kind)
                reason, message, retryable = "internal_error", type(error).__name__, True
            else:
                return action_event(
                    loaded.id,
                    loaded.name,
                    firing_id=ctx.firing.id,
                    caused_by=ctx.triggered_id,
                    hops=ctx.hops,
                    index=index,
                    kind=action.kind,
                    key=key,
                    now=self.engine.clock.now(),
                    detail=detail,
                    attempts=attempt,
                )
            if retryable and self.engine.stopping.is_set():
                raise _Interrupted
            if not retryable or attempt >= options.action_attempts:
                log.warning(
                    "automation %s: action %d (%s) failed after %d attempt(s): %s",
                    loaded.id,
                    index,
                    action.kind,
                    attempt,
                    reason,
                )
                return action_event(
                    loaded.id,
                    loaded.name,
                    firing_id=ctx.firing.id,
                    caused_by=ctx.triggered_id,
                    hops=ctx.hops,
                    index=index,
                    kind=action.kind,
                    key=key,
                    now=self.engine.clock.now(),
                    reason=reason,
                    message=message,
                    attempts=attempt,
                    retryable=retryable,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.engine.stopping.wait(), delay)
            delay = min(delay * 2, options.action_max_backoff_s)
