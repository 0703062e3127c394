"""``flow.serve()``: register a deployment and run its runs in this process until stopped.

The deployment has no work pool: its runs are requested on a queue of their own (in the
reserved pool ``_serve``) that this process's in-process worker claims. Everything else is a
worker like any other: heartbeats (a dead serving process's runs are marked Crashed),
cancellation, concurrency limits. Tracing is set up from the environment, as in a worker's
run process (unless the program set a tracer provider itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings
from proctor.core.tracing_setup import configure_tracing
from proctor.events.bus.base import EventBus
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.naming import Naming
from proctor.runtime.deployments.models import SERVE_POOL, Deployment
from proctor.runtime.deployments.python_api import DeployOptions, deployment_spec
from proctor.runtime.orchestration import RunPlane, RuntimeOptions
from proctor.runtime.worker.child import TRACING_SERVICE
from proctor.runtime.worker.connect import resolve_nats
from proctor.runtime.worker.inprocess import InProcessLauncher
from proctor.runtime.worker.worker import Worker

if TYPE_CHECKING:
    from proctor.runtime.engine.flows import Flow

__all__ = ("aserve", "serve")

log = logging.getLogger(__name__)


async def aserve(
    flow: Flow[Any, Any],
    name: str,
    options: DeployOptions,
    *,
    limit: int | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Deployment, Worker], None] | None = None,
    settings: ProctorSettings | None = None,
    runtime: RuntimeOptions | None = None,
) -> None:
    """Register ``flow`` as the served deployment ``name``, then execute its runs here until
    ``stop`` is set (SIGINT/SIGTERM when ``stop`` is not given)."""
    from proctor.runtime.client import get_client

    settings = settings or ProctorSettings()
    configure_tracing(TRACING_SERVICE)
    spec = deployment_spec(flow, name, {**options, "work_pool": None, "work_queue": None})
    async with get_client(settings) as client:
        deployment = await client.deployments.apply(spec)
    url, namespace = resolve_nats(settings)
    naming = Naming(namespace)
    bus = await JetStreamEventBus.connect(url, naming=naming, declare=False)

    async def connect() -> EventBus:
        return await JetStreamEventBus.connect(url, naming=naming, declare=False)

    publisher = BusThread(connect, name="proctor-serve-bus")
    try:
        worker = Worker(
            await RunPlane.open(bus, runtime),
            SERVE_POOL,
            launcher=InProcessLauncher({deployment.id: flow}, publisher),
            nats_url=url,
            queues=(deployment.id.hex,),
            limit=limit,
            name=f"serve {deployment.full_name}",
        )
        await worker.start()
        log.info("serving %s", deployment.full_name)
        if on_ready is not None:
            on_ready(deployment, worker)
        await _wait(stop)
        await worker.stop(cancel_after_s=None if stop is None else 10.0)
    finally:
        await asyncio.to_thread(publisher.close)
        await bus.close()


async def _wait(stop: asyncio.Event | None) -> None:
    if stop is not None:
        await stop.wait()
        return
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def serve(flow: Flow[Any, Any], name: str, options: DeployOptions, *, limit: int | None) -> None:
    """``aserve`` from sync code: blocks until Ctrl-C (then lets the runs in hand finish)."""
    if _in_event_loop():
        raise ConfigurationError(
            "flow.serve() blocks and cannot run inside an event loop: "
            "use `await flow.aserve(...)` there",
            setting="serve",
        )

    def ready(deployment: Deployment, worker: Worker) -> None:
        print(  # the user started this in a terminal: say how to use it
            f"Serving {deployment.full_name}. Start a run with "
            f"`proctor deployment run {deployment.full_name}`; stop with Ctrl-C.",
            flush=True,
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(aserve(flow, name, options, limit=limit, on_ready=ready))
