"""The engine harness: a bus (in memory or real JetStream), in-memory automations, fake runs
and senders, a manual clock, and a feed of the engine's reports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from proctor.automations.engine import (
    AutomationEngine,
    EngineOptions,
    InMemoryAutomations,
    InMemoryKeyValue,
    JetStreamKeyValue,
    KeyValueStore,
    ManualClock,
)
from proctor.automations.execution import ActionServices
from proctor.events.bus import EventBus, EventSubscription, InMemoryEventBus, JetStreamEventBus
from proctor.events.bus.consumer import ConsumerOptions
from proctor.events.bus.jetstream import connect_nats
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.triggers.state import (
    InMemoryTriggerStateStore,
    JetStreamTriggerStateStore,
    TriggerStateStore,
)
from tests.automations.fakes import FakeRuns, RecordingSender
from tests.conftest import TEST_STREAM
from tests.triggers.support import T0

FAST_CONSUMER = ConsumerOptions(ack_wait=timedelta(seconds=2), max_deliver=20, start="new")
TEST_OPTIONS = EngineOptions(
    fetch_timeout_s=0.2,
    checkpoint_interval_s=0.1,
    events=FAST_CONSUMER,
    firings=FAST_CONSUMER,
    action_backoff_s=0.01,
    action_max_backoff_s=0.05,
    state_retry_s=0.05,
)


@dataclass
class Harness:
    """Everything an engine test needs; ``engine()`` starts one (several: replicas)."""

    bus: EventBus
    naming: Naming
    reports: EventSubscription
    automations: InMemoryAutomations = field(default_factory=InMemoryAutomations)
    runs: FakeRuns = field(default_factory=FakeRuns)
    slack: RecordingSender = field(default_factory=RecordingSender)
    webhooks: RecordingSender = field(default_factory=RecordingSender)
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    engines: list[AutomationEngine] = field(default_factory=list)
    open_state: Callable[[], Any] | None = None
    memory_state: InMemoryTriggerStateStore = field(default_factory=InMemoryTriggerStateStore)
    memory_guards: InMemoryKeyValue = field(default_factory=InMemoryKeyValue)
    seen: list[Event] = field(default_factory=list)

    def services(self) -> ActionServices:
        return ActionServices(
            runs=self.runs,
            automations=self.automations,
            publisher=self.bus,
            slack=self.slack,
            webhooks=self.webhooks,
        )

    async def engine(
        self,
        bus: EventBus | None = None,
        *,
        reload_on: tuple[str, ...] = (),
        state_through: Callable[[TriggerStateStore], TriggerStateStore] = lambda state: state,
        **options: Any,
    ) -> AutomationEngine:
        """Start an engine (a replica, if others run) on this harness's state (seen through
        ``state_through``, e.g. a ``GatedState``)."""
        state: TriggerStateStore = self.memory_state
        guards: KeyValueStore = self.memory_guards
        if self.open_state is not None:
            state, guards = await self.open_state()
        engine = AutomationEngine(
            bus or self.bus,
            source=self.automations,
            services=self.services(),
            clock=self.clock,
            trigger_state=state_through(state),
            guard_state=guards,
            options=replace(TEST_OPTIONS, **options),
            reload_on=reload_on,
        )
        await engine.start()
        self.engines.append(engine)
        return engine

    async def report(
        self, name: str, predicate: Callable[[Event], bool] = lambda e: True, timeout_s: float = 10
    ) -> Event:
        """The next report named ``name`` matching ``predicate`` (earlier ones are kept)."""
        for event in self.seen:
            if event.event == name and predicate(event):
                self.seen.remove(event)
                return event
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.reports.next(timeout_s)
                if event.event == name and predicate(event):
                    return event
                self.seen.append(event)

    async def no_report(self, name: str) -> None:
        """Fail if a report named ``name`` arrived so far (after draining what is queued)."""
        with contextlib.suppress(TimeoutError):
            while True:
                self.seen.append(await self.reports.next(0.3))
        assert [e for e in self.seen if e.event == name] == []


@pytest.fixture(params=["memory", "jetstream"])
async def harness(request: pytest.FixtureRequest, naming: Naming) -> AsyncIterator[Harness]:
    """The engine on the in-memory bus, and on a real nats-server with KV state."""
    if request.param == "memory":
        bus: EventBus = InMemoryEventBus(naming)
        async with _harness(bus, naming, None) as made:
            yield made
        return
    server: EmbeddedNats = request.getfixturevalue("nats_server")
    async with _jetstream_harness(server, naming) as made:
        yield made


@pytest.fixture
async def js_harness(nats_server: EmbeddedNats, naming: Naming) -> AsyncIterator[Harness]:
    """The engine on a real nats-server, trigger state and guards in its KV buckets."""
    async with _jetstream_harness(nats_server, naming) as made:
        yield made


@contextlib.asynccontextmanager
async def _jetstream_harness(server: EmbeddedNats, naming: Naming) -> AsyncIterator[Harness]:
    bus = await JetStreamEventBus.connect(server.url, naming=naming, stream=TEST_STREAM)

    async def open_state() -> tuple[TriggerStateStore, KeyValueStore]:
        state = await JetStreamTriggerStateStore.open(
            bus.js, naming.trigger_state_bucket, nc=bus.nc
        )
        guards = await JetStreamKeyValue.open(bus.js, naming.automation_state_bucket, nc=bus.nc)
        return state, guards

    try:
        async with _harness(bus, naming, open_state) as made:
            yield made
    finally:
        client = await connect_nats(server.url)
        for bucket in (naming.trigger_state_bucket, naming.automation_state_bucket):
            with contextlib.suppress(Exception):
                await client.jetstream().delete_key_value(bucket)
        with contextlib.suppress(Exception):
            await client.jetstream().delete_stream(naming.events_stream)
        await client.drain()


@contextlib.asynccontextmanager
async def _harness(
    bus: EventBus, naming: Naming, open_state: Callable[[], Any] | None
) -> AsyncIterator[Harness]:
    reports = await bus.subscribe("proctor.automation.>")
    made = Harness(bus=bus, naming=naming, reports=reports, open_state=open_state)
    try:
        yield made
    finally:
        for engine in made.engines:
            await engine.stop(drain_s=2)
        await reports.close()
        await bus.close()
