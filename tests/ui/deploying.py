"""A work pool, a deployment of ``tests/ui/flows.py:slow`` and a real worker process serving
them, on a test's server: for the pages and commands that show or drive deployed runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sysconfig
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from proctor.runtime.server import LocalServer

PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")
FLOWS = Path(__file__).resolve().parent / "flows.py"
POOL = "local"
FINAL_STATES = ("Completed", "Failed", "Crashed")


async def deploy(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """The pool (three queues) and the `slow/slowly` deployment on it."""
    pool = {
        "name": POOL,
        "description": "Runs on this machine",
        "queues": [
            {"name": "default"},
            {"name": "urgent", "priority": 1, "concurrency_limit": 2},
            {"name": "bulk", "priority": 5},
        ],
    }
    created = await http.post("/api/work-pools", json=pool)
    assert created.status_code == 200, created.text
    spec = {
        "name": "slowly",
        "flow_name": "slow",
        "entrypoint": f"{FLOWS}:slow",
        "work_pool": POOL,
        "tags": ["nightly"],
        **fields,
    }
    deployed = await http.post("/api/deployments", json=spec)
    assert deployed.status_code == 201, deployed.text
    answer: dict[str, Any] = deployed.json()
    return answer


@contextlib.asynccontextmanager
async def worker(server: LocalServer) -> AsyncIterator[asyncio.subprocess.Process]:
    """`proctor worker start` for the pool, as a user runs it; returns once it has started."""
    assert server.bus is not None
    started = await server.bus.subscribe("proctor.worker.started")
    try:
        process = await asyncio.create_subprocess_exec(
            PROCTOR, "worker", "start", "--pool", POOL, "--name", "laptop", "--heartbeat", "1",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ},
        )  # fmt: skip
        await started.next(60)
    finally:
        await started.close()
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # finish or hand back what it holds, then stop
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def request_run(server: LocalServer, http: httpx.AsyncClient) -> str:
    """Request a run of `slow/slowly`; its name once it is Running and recorded."""
    from tests.server.conftest import caught_up

    assert server.bus is not None
    running = await server.bus.subscribe("proctor.flow-run.Running")
    try:
        answer = await http.post("/api/deployments/name/slow/slowly/runs", json={})
        assert answer.status_code == 201, answer.text
        await running.next(60)
    finally:
        await running.close()
    await caught_up(server)
    name: str = answer.json()["name"]
    return name


async def run_to_end(
    server: LocalServer, http: httpx.AsyncClient, deployment: str, **body: Any
) -> dict[str, Any]:
    """Request a run of ``deployment`` (flow/name) and wait until it has ended (Completed,
    Failed or Crashed) and is recorded; the run as the request answered it."""
    from tests.server.conftest import caught_up

    assert server.bus is not None
    ended = await server.bus.subscribe(*(f"proctor.flow-run.{s}" for s in FINAL_STATES))
    try:
        answer = await http.post(f"/api/deployments/name/{deployment}/runs", json=body)
        assert answer.status_code == 201, answer.text
        run: dict[str, Any] = answer.json()
        resource = f"proctor.flow-run.{run['flow_run_id']}"
        while (await ended.next(120)).resource.id != resource:
            pass
    finally:
        await ended.close()
    await caught_up(server)
    return run
