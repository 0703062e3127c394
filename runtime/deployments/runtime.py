"""The runtime's server side in one object, and as a service of ``proctor server start``."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from uuid import UUID

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus.base import EventBus
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.runtime.deployments.pools import WorkPoolService
from proctor.runtime.deployments.service import DeploymentService
from proctor.runtime.orchestration import RunMonitor, RunPlane, RuntimeOptions
from proctor.runtime.orchestration.monitor import ReadRecordedRun, RecordedRun
from proctor.runtime.run_events import StateSnapshot
from proctor.runtime.services import ServiceContext
from proctor.runtime.store import Store

__all__ = ("LazyRuntime", "Runtime", "RuntimeService", "recorded_run", "runtime_service")


@dataclass
class Runtime:
    """The run plane, work pools and deployments over one bus and store (and the monitor, in
    the process that runs it)."""

    plane: RunPlane
    pools: WorkPoolService
    deployments: DeploymentService
    monitor: RunMonitor | None = None

    @classmethod
    async def open(
        cls,
        bus: JetStreamEventBus,
        store: Store,
        options: RuntimeOptions | None = None,
        *,
        monitor: RunMonitor | None = None,
    ) -> Runtime:
        plane = monitor.plane if monitor is not None else await RunPlane.open(bus, options)
        pools = WorkPoolService(store, plane, monitor)
        return cls(plane, pools, DeploymentService(store, plane, pools, monitor), monitor)


class LazyRuntime:
    """A ``Runtime`` opened on first use (the API's): the bus must be JetStream."""

    def __init__(self, bus: EventBus, store: Store, options: RuntimeOptions | None = None):
        self._bus = bus
        self._store = store
        self._options = options
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Runtime:
        """The runtime; ``BrokerUnavailableError`` when the bus is not JetStream."""
        if self._runtime is None:
            async with self._lock:
                if self._runtime is None:
                    if not isinstance(self._bus, JetStreamEventBus):
                        raise BrokerUnavailableError(
                            "deployments, work pools and runs need NATS JetStream: this API "
                            "runs on an in-memory bus"
                        )
                    self._runtime = await Runtime.open(self._bus, self._store, self._options)
        return self._runtime


def recorded_run(store: Store) -> ReadRecordedRun:
    """A flow run as the recorder stored it (what the monitor checks a run's entry against
    before marking it Crashed)."""

    async def latest(run_id: UUID) -> RecordedRun | None:
        run = await store.runs.flow_run(run_id)
        if run is None:
            return None
        return RecordedRun(
            state=StateSnapshot.model_validate(run.state.model_dump()),
            run_count=run.run_count,
            start_time=run.start_time,
            end_time=run.end_time,
        )

    return latest


class RuntimeService:
    """Declares the runtime's stream and buckets, mirrors the pools to KV, and runs the crash
    and lateness monitor (one per server; several replicas mark each run once)."""

    name = "runtime"

    def __init__(
        self, bus: JetStreamEventBus, store: Store, options: RuntimeOptions | None = None
    ) -> None:
        self.bus = bus
        self.store = store
        self.options = options or RuntimeOptions()
        self.runtime: Runtime | None = None

    async def start(self) -> None:
        plane = await RunPlane.open(self.bus, self.options)
        monitor = RunMonitor(plane, recorded_run=recorded_run(self.store))
        self.runtime = await Runtime.open(self.bus, self.store, monitor=monitor)
        await self.runtime.pools.sync()
        await monitor.start()

    async def stop(self) -> None:
        if self.runtime is not None and self.runtime.monitor is not None:
            await self.runtime.monitor.stop()
        self.runtime = None


async def runtime_service(context: ServiceContext) -> RuntimeService:
    """The factory ``default_services()`` lists (timings from ``PROCTOR_RUNTIME_*``)."""
    return RuntimeService(context.bus, context.store, RuntimeOptions.from_environ(os.environ))
