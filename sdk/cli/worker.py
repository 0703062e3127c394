"""``proctor worker start``: claim and execute the runs of a work pool."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from proctor.cli._common import fail, out, run_async
from proctor.core.settings import ProctorSettings, mask_url
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.naming import Naming
from proctor.runtime.orchestration import RunPlane, RuntimeOptions
from proctor.runtime.orchestration.model import check_pool_name
from proctor.runtime.orchestration.options import DEFAULT_HEARTBEAT_S

if TYPE_CHECKING:
    from proctor.runtime.worker import Worker

app = typer.Typer(help="Run workers that execute deployment runs.", no_args_is_help=True)


@app.command()
@run_async
async def start(
    pool: Annotated[str, typer.Option("--pool", help="The work pool whose runs to execute.")],
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Most runs executing at once.")
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Only these queues of the pool (repeat; default: all)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name shown in the UI.")] = None,
    heartbeat: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help=f"Seconds between heartbeats (default {DEFAULT_HEARTBEAT_S:g}, or "
            "PROCTOR_RUNTIME_HEARTBEAT_S).",
        ),
    ] = None,
) -> None:
    """Claim runs of a pool and execute each in its own process. Ctrl-C: finish the runs in
    hand and stop; a second Ctrl-C cancels them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        check_pool_name(pool)
        for one in queue or []:
            check_pool_name(one, "work queue")
    except ValueError as error:
        fail(f"--pool/--queue: {error}")
    # (imported here: every other command, `server start` first, would load the worker)
    from proctor.runtime.worker import ProcessLauncher, Worker
    from proctor.runtime.worker.connect import resolve_nats

    settings = ProctorSettings()
    url, namespace = resolve_nats(settings)
    bus = await JetStreamEventBus.connect(url, naming=Naming(namespace), declare=False)
    launcher = ProcessLauncher()
    worker: Worker | None = None
    try:
        options = RuntimeOptions.from_environ(os.environ)
        if heartbeat is not None:
            options = dataclasses.replace(options, heartbeat_s=heartbeat)
        plane = await RunPlane.open(bus, options)
        await launcher.warm_up()
        worker = Worker(
            plane,
            pool,
            launcher=launcher,
            nats_url=url,
            queues=tuple(queue) if queue else None,
            limit=limit,
            name=name,
        )
        await worker.start()
        queues = ", ".join(q.name for q in worker.queues())
        out.print(
            f"Worker {worker.name} ({worker.id}) started: pool {pool!r}, queues {queues}, "
            f"limit {limit or 'none'}, NATS {mask_url(url)}",
            highlight=False,
        )
        await _until_stopped(worker)
        out.print(f"Worker {worker.name} stopped", highlight=False)
    finally:
        await bus.close()


async def _until_stopped(worker: Worker) -> None:
    """First SIGINT/SIGTERM: finish the runs in hand, then stop. Second: cancel them."""
    loop = asyncio.get_running_loop()
    signals = asyncio.Queue[int]()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signals.put_nowait, signum)
    try:
        await signals.get()
        if worker.held:
            out.print(
                f"Finishing {len(worker.held)} run(s) in hand (Ctrl-C again to cancel them)",
                highlight=False,
            )
        stopping = asyncio.create_task(worker.stop())
        escalate = asyncio.create_task(signals.get())
        await asyncio.wait({stopping, escalate}, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.done():
            await worker.cancel_held()
            await stopping
        escalate.cancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
