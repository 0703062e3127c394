"""Runs that cannot start, and workers that are told to stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sysconfig
from pathlib import Path

import pytest

from proctor.runtime.orchestration import EntryStatus, RunPlane
from proctor.runtime.worker import ProcessLauncher, Worker
from tests.runtime.conftest import StateFeed, nats_url, process_gone, request, running_workers

pytestmark = pytest.mark.nats
PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")


async def test_a_flow_that_cannot_be_loaded_ends_crashed_saying_why(
    plane: RunPlane, feed: StateFeed
) -> None:
    entry = await request(plane, "record", {"path": "/dev/null"})
    broken = await request(plane, "no_such_flow", {})
    unfit = await request(plane, "record", {"nope": 1})
    async with running_workers(plane):
        crashed = await feed.until(broken.id, "Crashed")
        failed = await feed.until(unfit.id, "Failed")
        await feed.until(entry.id, "Completed")
    assert crashed.state.message is not None
    assert "has no attribute 'no_such_flow'" in crashed.state.message
    assert failed.state.message is not None
    assert "parameters do not fit the flow" in failed.state.message


async def test_a_run_whose_hook_hangs_after_it_ended_is_killed_and_stays_completed(
    plane: RunPlane, feed: StateFeed
) -> None:
    entry = await request(plane, "completes_then_hangs", {})
    worker = Worker(plane, "pool", launcher=ProcessLauncher(), nats_url=nats_url(plane))
    await worker.start()
    try:
        await feed.until(entry.id, "Completed", timeout_s=30)
        pid = await feed.started_pid()  # the hook is running, and will never return
        await process_gone(pid, timeout_s=plane.options.exit_grace_s + 10)
    finally:
        await asyncio.wait_for(worker.stop(), 30)  # waits for held runs: none is left
    found = await plane.board.get(entry.id)
    assert found is not None
    assert (found[0].status, found[0].state.name) == (EntryStatus.FINAL, "Completed")


async def test_a_worker_told_to_stop_finishes_and_a_second_signal_cancels(
    plane: RunPlane, feed: StateFeed
) -> None:
    env = {
        **os.environ,
        "PROCTOR_NATS_URL": nats_url(plane),
        "PROCTOR_NAMESPACE": plane.naming.namespace,
    }
    worker = await asyncio.create_subprocess_exec(
        PROCTOR, "worker", "start", "--pool", "pool", "--heartbeat", "0.1",
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        assert "started" in (await asyncio.wait_for(worker.stdout.readline(), 60)).decode()
        entry = await request(plane, "long_running", {})
        await feed.started_pid()
        await feed.until(entry.id, "Running")
        worker.send_signal(signal.SIGTERM)  # finish what is in hand...
        finishing = (await asyncio.wait_for(worker.stdout.readline(), 30)).decode()
        assert "Finishing 1 run(s) in hand" in finishing
        worker.send_signal(signal.SIGTERM)  # ...no: cancel it
        cancelled = await feed.until(entry.id, "Cancelled", timeout_s=30)
        assert await asyncio.wait_for(worker.wait(), 30) == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert cancelled.state.message == "cancelled: its worker shut down"
    assert await plane.worker_beats() == []  # the worker signed off
