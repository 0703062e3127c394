"""Pools and queues: priorities, paused queues, runs due later, the in-process launcher."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from proctor.events.bus import EventBus, JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.model import utcnow
from proctor.runtime.engine import Flow
from proctor.runtime.orchestration import (
    PoolConfig,
    QueueConfig,
    RunPlane,
    cancel_run,
    submit_run,
)
from proctor.runtime.worker import InProcessLauncher, Worker
from tests.runtime import flows_for_tests
from tests.runtime.conftest import StateFeed, deployment_run, nats_url, request, running_workers

pytestmark = pytest.mark.nats


async def test_higher_priority_queues_are_served_first(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    await plane.save_pool_config(
        PoolConfig(
            name="pool",
            queues=(QueueConfig(name="low", priority=2), QueueConfig(name="high", priority=1)),
        )
    )
    ledger = tmp_path / "ledger"
    for queue in ("low", "low", "high", "low", "high"):
        await request(plane, "record", {"path": str(ledger), "label": queue}, queue=queue)
    async with running_workers(plane, limit=1):
        await feed.finals(5)
    assert ledger.read_text().split() == ["high", "high", "low", "low", "low"]


async def test_a_paused_queue_keeps_its_runs_until_it_is_resumed(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    paused = PoolConfig(name="pool", queues=(QueueConfig(name="default", paused=True),))
    await plane.save_pool_config(paused)
    ledger = tmp_path / "ledger"
    held_back = await request(plane, "record", {"path": str(ledger), "label": "a"})
    async with running_workers(plane) as (worker,):
        assert [q.name for q in worker.queues()] == ["default"]
        await plane.save_pool_config(PoolConfig(name="pool"))  # resumed: the worker is woken
        await feed.until(held_back.id, "Completed")
    assert ledger.read_text().split() == ["a"]


async def test_a_run_due_later_starts_once_it_is_due(plane: RunPlane, feed: StateFeed) -> None:
    run, job = deployment_run("record", {"path": "/dev/null"})
    due = utcnow() + timedelta(seconds=0.5)
    entry, _ = await submit_run(plane, run, job, scheduled_time=due)
    async with running_workers(plane):
        running = await feed.until(entry.id, "Running")
        await feed.until(entry.id, "Completed")
    assert running.state.timestamp >= due
    scheduled = await feed.until(entry.id, "Scheduled")
    assert scheduled.state.scheduled_time == due


async def test_submitting_the_same_run_id_twice_creates_one_run(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    run, job = deployment_run("record", {"path": str(ledger), "label": "once"})
    first, created = await submit_run(plane, run, job)
    again, created_again = await submit_run(plane, run, job)
    assert (created, created_again) == (True, False)
    assert again.event_id == first.event_id
    async with running_workers(plane):
        await feed.until(run.id, "Completed")
    assert ledger.read_text().split() == ["once"]


async def test_the_in_process_launcher_runs_and_cancels_served_flows(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    quick = await request(plane, "record", {"path": str(ledger), "label": "served"})
    slow = await request(plane, "long_running_async", {})
    assert quick.run.deployment_id is not None
    assert slow.run.deployment_id is not None
    flows: dict[UUID, Flow[Any, Any]] = {
        quick.run.deployment_id: flows_for_tests.record,
        slow.run.deployment_id: flows_for_tests.long_running_async,
    }
    url, naming = nats_url(plane), plane.naming

    async def connect() -> EventBus:
        return await JetStreamEventBus.connect(url, naming=naming, declare=False)

    bus = BusThread(connect)
    worker = Worker(plane, "pool", launcher=InProcessLauncher(flows, bus), nats_url=url)
    await worker.start()
    try:
        await feed.until(quick.id, "Completed")
        await feed.until(slow.id, "Running")
        await cancel_run(plane, slow.id)
        await feed.until(slow.id, "Cancelled")
    finally:
        await worker.stop(cancel_after_s=5)
        bus.close()
    assert ledger.read_text().split() == ["served"]
    assert feed.names(slow.id)[-2:] == ["Cancelling", "Cancelled"]
