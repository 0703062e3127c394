"""The automation engine as a server service: ``AutomationService(bus, store)``.

It wires the engine to the runtime: automations from the store (and deployments' schedules),
trigger state and the engine's own state in JetStream KV buckets (shared by replicas), run
requests on the run plane, Slack and outgoing webhooks through the SSRF guard, and the wall
clock. It reloads the automations when they change (the ``proctor.automation.*`` and
``proctor.deployment.*`` events) and every ``resync_interval_s`` as a safety net.

In ``proctor server start`` it is one of ``default_services()``; at scale, run several
(``AutomationService`` per process against the same NATS and database): they share the
durable consumers and the state, so each event and each firing is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from proctor.automations.delivery import DestinationPolicy, GuardedHttp
from proctor.automations.engine import (
    AutomationEngine,
    EngineClock,
    EngineOptions,
    JetStreamKeyValue,
)
from proctor.automations.execution import ActionServices
from proctor.automations.outgoing import OutgoingWebhookSender
from proctor.automations.ports import RunControl
from proctor.automations.slack import SlackSender
from proctor.core.discovery import read_discovery
from proctor.core.errors import ProctorError
from proctor.events.bus.base import EventSubscription
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.runtime.automation_service.clock import SystemEngineClock
from proctor.runtime.automation_service.registry import CHANGED, AutomationRegistry
from proctor.runtime.automation_service.runs import RuntimeRunControl
from proctor.runtime.orchestration import RunPlane
from proctor.runtime.services import ServiceContext
from proctor.runtime.store import Store
from proctor.triggers.state import JetStreamTriggerStateStore

__all__ = ("AutomationService", "AutomationServiceOptions", "automation_service")

log = logging.getLogger(__name__)

DEPLOYMENT_CHANGES = "proctor.deployment.>"


@dataclass(frozen=True)
class AutomationServiceOptions:
    """How the service runs its engine."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    resync_interval_s: float = 30.0
    """Reload every automation this often even without change events."""
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    """Non-public destinations Slack messages and webhook calls may reach."""
    ui_url: str | Callable[[], str | None] | None = None
    """Base URL of the web UI, for links to runs in alerts (or how to find it when needed)."""


class AutomationService:
    """The automation engine, wired to the runtime. ``start()`` / ``stop()``."""

    name = "automations"

    def __init__(
        self,
        bus: JetStreamEventBus,
        store: Store,
        *,
        options: AutomationServiceOptions | None = None,
        clock: EngineClock | None = None,
        runs: RunControl | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.options = options or AutomationServiceOptions()
        self.clock: EngineClock = clock or SystemEngineClock()
        self.registry = AutomationRegistry(store, bus)
        self._runs = runs
        self.engine: AutomationEngine | None = None
        self._http: GuardedHttp | None = None
        self._changes: EventSubscription | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the state buckets and the run plane, then start the engine."""
        naming, js = self.bus.naming, self.bus.js
        runs = self._runs
        if runs is None:
            plane = await RunPlane.open(self.bus)
            runs = RuntimeRunControl(
                self.store, plane, self.bus, registry=self.registry, ui_url=self.options.ui_url
            )
        self._http = GuardedHttp(policy=self.options.destinations)
        services = ActionServices(
            runs=runs,
            automations=self.registry,
            publisher=self.bus,
            slack=SlackSender(http=self._http),
            webhooks=OutgoingWebhookSender(http=self._http),
        )
        self.engine = AutomationEngine(
            self.bus,
            source=self.registry,
            services=services,
            clock=self.clock,
            trigger_state=await JetStreamTriggerStateStore.open(
                js, naming.trigger_state_bucket, nc=self.bus.nc
            ),
            guard_state=await JetStreamKeyValue.open(
                js, naming.automation_state_bucket, nc=self.bus.nc
            ),
            options=self.options.engine,
            reload_on=(*CHANGED, DEPLOYMENT_CHANGES),
        )
        self._changes = await self.bus.subscribe(*CHANGED, DEPLOYMENT_CHANGES)
        await self.engine.start()
        self._watcher = asyncio.create_task(self._watch(), name="automation changes")

    async def _watch(self) -> None:
        """Reload on change events (coalesced) and every ``resync_interval_s``."""
        assert self._changes is not None
        assert self.engine is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await self._changes.next(self.options.resync_interval_s)
                with contextlib.suppress(TimeoutError):
                    while True:  # a burst of changes: one reload
                        await self._changes.next(0.05)
            try:
                await self.engine.sync()
            except ProctorError as error:
                log.warning("automations: could not reload the automations: %s", error)

    async def stop(self) -> None:
        """Stop watching, stop the engine (finishing what it holds), close connections."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._changes is not None:
            await self._changes.close()
            self._changes = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None


async def automation_service(context: ServiceContext) -> AutomationService:
    """The ``ServiceFactory`` for ``proctor server start``."""
    settings = context.settings

    def ui_url() -> str | None:  # the API starts after the services: look its address up late
        if settings.api_url:
            return settings.api_url
        found = read_discovery(settings.home)
        return found.api_url if found is not None else None

    options = AutomationServiceOptions(
        destinations=DestinationPolicy(allow=settings.outgoing_allow), ui_url=ui_url
    )
    return AutomationService(context.bus, context.store, options=options)
