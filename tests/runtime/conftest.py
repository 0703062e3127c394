"""Runtime fixtures: a run plane on the test NATS server, helpers to request runs and follow
their state events."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from proctor.core.settings import ProctorSettings
from proctor.events.bus import JetStreamEventBus
from proctor.events.bus.consumer import DurableConsumer
from proctor.events.bus.jetstream import ensure_logs_stream
from proctor.events.ids import uuid7
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.api.app import ApiServices, create_app
from proctor.runtime.api.serve import ApiServer
from proctor.runtime.deployments import DeploymentSpec, Runtime
from proctor.runtime.orchestration import (
    RunEntry,
    RunJob,
    RunMonitor,
    RunPlane,
    RuntimeOptions,
    submit_run,
)
from proctor.runtime.run_events import FlowRunSnapshot, StateChange, parse_state_change
from proctor.runtime.store import Store
from proctor.runtime.worker import ProcessLauncher, Worker
from tests.conftest import TEST_STREAM

FLOWS_DIR = str(Path(__file__).parent)
FLOWS = "flows_for_tests.py"


async def _cleanup(bus: JetStreamEventBus, naming: Naming) -> None:
    streams = [naming.events_stream, naming.logs_stream, naming.run_requests_stream]
    buckets = [
        naming.runs_bucket,
        naming.workers_bucket,
        naming.concurrency_bucket,
        naming.work_pools_bucket,
    ]
    for stream in streams + [f"KV_{b}" for b in buckets]:
        with contextlib.suppress(Exception):
            await bus.js.delete_stream(stream)


@pytest.fixture
async def plane(nats_server: EmbeddedNats, naming: Naming) -> AsyncIterator[RunPlane]:
    """The runtime's stream and buckets in this test's namespace, with fast timings."""
    bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, stream=TEST_STREAM)
    await ensure_logs_stream(bus.js, naming, TEST_STREAM)
    yield await RunPlane.open(bus, RuntimeOptions.fast())
    await _cleanup(bus, naming)
    await bus.close()


def deployment_run(
    flow: str,
    parameters: dict[str, Any],
    *,
    pool: str = "pool",
    queue: str = "default",
    tags: Iterable[str] = (),
    deployment_id: UUID | None = None,
    **job: Any,
) -> tuple[FlowRunSnapshot, RunJob]:
    """A run of ``flows_for_tests.py:<flow>`` as a deployment would request it."""
    run = FlowRunSnapshot(
        id=uuid7(),
        name=f"{flow}-{uuid7().hex[-6:]}",
        flow_name=flow.replace("_", "-"),
        deployment_id=deployment_id or uuid7(),
        deployment_name="test",
        work_pool=pool,
        work_queue=queue,
        parameters=parameters,
        tags=tuple(tags),
    )
    spec = RunJob(
        entrypoint=f"{FLOWS}:{flow}",
        working_dir=FLOWS_DIR,
        work_pool=pool,
        work_queue=queue,
        parameters=parameters,
        **job,
    )
    return run, spec


async def request(plane: RunPlane, flow: str, parameters: dict[str, Any], **kw: Any) -> RunEntry:
    run, job = deployment_run(flow, parameters, **kw)
    entry, created = await submit_run(plane, run, job)
    assert created
    return entry


class StateFeed:
    """The flow-run state events of this namespace as they are stored (and the flows' own
    ``test.>`` events), read through a durable pull consumer from the stream's start: nothing
    is missed, even when a loaded machine would make a live push feed reset."""

    def __init__(self, consumer: DurableConsumer) -> None:
        self.consumer = consumer
        self.changes: list[StateChange] = []
        self.custom: list[Event] = []
        self._buffer: list[Event] = []

    async def _event(self, timeout_s: float) -> Event:
        async with asyncio.timeout(timeout_s):
            while not self._buffer:
                deliveries = await self.consumer.fetch(500, timeout_s=1.0)
                self._buffer.extend(d.decode() for d in deliveries)
                await self.consumer.ack(deliveries)
        return self._buffer.pop(0)

    async def _pump(self, timeout_s: float) -> StateChange | None:
        event = await self._event(timeout_s)
        change = parse_state_change(event)
        if change is None:
            self.custom.append(event)
        else:
            self.changes.append(change)
        return change

    async def next(self, timeout_s: float = 10.0) -> StateChange:
        async with asyncio.timeout(timeout_s):
            while (change := await self._pump(timeout_s)) is None:
                pass
        return change

    async def started_pid(self, timeout_s: float = 30.0) -> int:
        """The pid a long-running test flow reported when its body started."""
        async with asyncio.timeout(timeout_s):
            while not self.custom:
                await self._pump(timeout_s)
        return int(self.custom.pop(0).payload["pid"])

    async def through(self, marker: Event, timeout_s: float = 10.0) -> None:
        """Read on until ``marker`` (a ``test.`` event published after what is awaited)."""
        async with asyncio.timeout(timeout_s):
            while not any(event.id == marker.id for event in self.custom):
                await self._pump(timeout_s)

    async def until(self, run_id: UUID, name: str, timeout_s: float = 10.0) -> StateChange:
        """Wait for ``run_id`` to enter the state named ``name``."""
        for change in self.changes:
            if change.run.id == run_id and change.state.name == name:
                return change
        async with asyncio.timeout(timeout_s):
            while True:
                change = await self.next(timeout_s)
                if change.run.id == run_id and change.state.name == name:
                    return change

    async def finals(self, count: int, timeout_s: float = 30.0) -> list[StateChange]:
        """Wait until ``count`` runs have ended; their final state changes."""
        ended = {c.run.id: c for c in self.changes if c.state.type.is_terminal}
        async with asyncio.timeout(timeout_s):
            while len(ended) < count:
                change = await self.next(timeout_s)
                if change.state.type.is_terminal:
                    ended[change.run.id] = change
        return list(ended.values())

    def names(self, run_id: UUID) -> list[str]:
        """The states ``run_id`` went through, in the order it entered them."""
        mine = [c for c in self.changes if c.run.id == run_id]
        return [c.state.name for c in sorted(mine, key=lambda c: c.state.timestamp)]


@pytest.fixture
async def feed(plane: RunPlane) -> AsyncIterator[StateFeed]:
    consumer = await plane.bus.durable_consumer("test-feed", "proctor.flow-run.*", "test.>")
    yield StateFeed(consumer)
    await consumer.close()


@pytest.fixture
async def monitor(plane: RunPlane) -> AsyncIterator[RunMonitor]:
    """The crash and lateness monitor, on the real clock."""
    running = RunMonitor(plane)
    await running.start()
    yield running
    await running.stop()


def nats_url(plane: RunPlane) -> str:
    url = plane.bus.nc.connected_url
    assert url is not None
    return f"nats://{url.hostname}:{url.port}"


@contextlib.asynccontextmanager
async def running_workers(
    plane: RunPlane, count: int = 1, *, pool: str = "pool", **options: Any
) -> AsyncIterator[list[Worker]]:
    """``count`` workers of ``pool`` executing runs in processes, stopped on exit."""
    workers = [
        Worker(plane, pool, launcher=ProcessLauncher(), nats_url=nats_url(plane), **options)
        for _ in range(count)
    ]
    for worker in workers:
        assert isinstance(worker.launcher, ProcessLauncher)
        await worker.launcher.warm_up()
        await worker.start()
    try:
        yield workers
    finally:
        for worker in workers:
            try:
                await asyncio.wait_for(worker.stop(cancel_after_s=5), 30)
            except TimeoutError:
                for task in asyncio.all_tasks():
                    task.print_stack()
                raise


async def process_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until process ``pid`` has exited (through a pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, exited)
    try:
        await asyncio.wait_for(gone, timeout_s)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


@pytest.fixture
async def runtime(plane: RunPlane, tmp_path: Path) -> AsyncIterator[Runtime]:
    """Deployments and pools on a SQLite store, over this test's run plane."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    yield await Runtime.open(plane.bus, store, plane.options)
    await store.close()


def spec(name: str = "nightly", flow: str = "record", **fields: Any) -> DeploymentSpec:
    """A deployment of ``flows_for_tests.py:<flow>`` on the pool ``pool``."""
    values: dict[str, Any] = {
        "name": name,
        "flow_name": flow.replace("_", "-"),
        "entrypoint": f"{FLOWS}:{flow}",
        "work_pool": "pool",
        "job_variables": {"working_dir": FLOWS_DIR},
        **fields,
    }
    return DeploymentSpec.model_validate(values)


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The API app over this test's NATS namespace and store (no auth), in process."""
    from tests.api.conftest import MemoryTokens

    bus = runtime.plane.bus
    services = ApiServices(
        settings=ProctorSettings(api_auth="none"),
        bus=bus,
        store=runtime.deployments.store,
        tokens=MemoryTokens(),
    )
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as client:
        yield client


@pytest.fixture
async def api_url(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A real API server over this test's namespace; the environment points clients at it."""
    from tests.api.conftest import MemoryTokens

    services = ApiServices(
        settings=ProctorSettings(api_auth="none"),
        bus=runtime.plane.bus,
        store=runtime.deployments.store,
        tokens=MemoryTokens(),
    )
    server = ApiServer(create_app(services), "127.0.0.1", 0)
    await server.start()
    monkeypatch.setenv("PROCTOR_API_URL", server.url)
    monkeypatch.setenv("PROCTOR_NATS_URL", nats_url(runtime.plane))
    monkeypatch.setenv("PROCTOR_NAMESPACE", runtime.plane.naming.namespace)
    yield server.url
    await server.stop()
