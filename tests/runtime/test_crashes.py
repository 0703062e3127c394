"""Crash detection: a run whose worker died is marked Crashed within the configured bound."""

from __future__ import annotations

import asyncio
import os
import signal
import sysconfig
import time
from pathlib import Path
from uuid import UUID

import pytest

from proctor.runtime.orchestration import RunMonitor, RunPlane
from tests.runtime.conftest import StateFeed, nats_url, process_gone, request

pytestmark = pytest.mark.nats
PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")


async def recorded_by_worker(plane: RunPlane, run_id: UUID, name: str) -> None:
    """Wait until the worker has written state ``name`` into the run's entry: the run's own
    process publishes its state events, and its worker records them a moment later."""
    async with asyncio.timeout(10):
        while True:
            found = await plane.board.get(run_id)
            if found is not None and found[0].state.name == name:
                return
            await asyncio.sleep(0.02)  # allow-sleep: polling another process's KV write


async def test_kill_9_of_a_worker_marks_its_running_run_crashed_within_the_bound(
    plane: RunPlane, feed: StateFeed, monitor: RunMonitor
) -> None:
    env = {
        **os.environ,
        "PROCTOR_NATS_URL": nats_url(plane),
        "PROCTOR_NAMESPACE": plane.naming.namespace,
    }
    worker = await asyncio.create_subprocess_exec(
        *[PROCTOR, "worker", "start", "--pool", "pool", "--heartbeat", "0.1"],
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert worker.stdout is not None
        assert "started" in (await asyncio.wait_for(worker.stdout.readline(), 60)).decode()
        entry = await request(plane, "long_running", {})
        run_pid = await feed.started_pid()
        await feed.until(entry.id, "Running")
        await recorded_by_worker(plane, entry.id, "Running")

        worker.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        crashed = await feed.until(entry.id, "Crashed", timeout_s=10)
        elapsed = time.monotonic() - killed
    finally:
        if worker.returncode is None:
            worker.kill()
        await worker.wait()

    options = plane.options
    bound = options.crash_after_s + options.check_interval_s
    assert elapsed < bound + 1.0, f"Crashed after {elapsed:.2f} s; the bound is {bound:.2f} s"
    assert crashed.state.message is not None
    assert "heartbeats" in crashed.state.message
    assert crashed.previous_state is not None
    assert crashed.previous_state.name == "Running"
    assert feed.names(entry.id) == ["Scheduled", "Pending", "Running", "Crashed"]
    await process_gone(run_pid)  # the run's process noticed its worker was gone, and ended
