"""examples/map_tasks.py: the mapped runs, the graph edges its futures make, and the order
``wait_for`` imposes, as stored on the test nats-server."""

from __future__ import annotations

import asyncio

import pytest
from examples.map_tasks import PAGES, mirror

from proctor.events.bus import JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.run_events import TaskRunSnapshot
from tests.flows.conftest import changes
from tests.flows.test_jetstream_runs import stored_events

pytestmark = pytest.mark.nats


async def test_mapped_downloads_wait_for_the_cache_and_feed_the_sum(
    jetstream_publisher: BusThread, nats_server: EmbeddedNats, naming: Naming
) -> None:
    assert await asyncio.to_thread(mirror, "example.org", PAGES) == 2144
    bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, declare=False)
    try:
        events = await stored_events(bus)
    finally:
        await bus.close()
    task_changes = [c for c in changes(events) if isinstance(c.run, TaskRunSnapshot)]
    finals: dict[str, TaskRunSnapshot] = {
        c.run.name: c.run
        for c in task_changes
        if isinstance(c.run, TaskRunSnapshot) and c.state.name == "Completed"
    }
    downloads = [run for name, run in finals.items() if name.startswith("download-")]
    cleared, added = finals["clear_cache-0"], finals["add_up-0"]
    assert sorted(run.dynamic_key for run in downloads) == ["0", "1", "2", "3"]  # one per page
    assert all(run.wait_for == [cleared.id] for run in downloads)
    assert sorted(added.task_inputs["sizes"]) == sorted(run.id for run in downloads)

    def entered(run_id: object, state: str) -> float:
        change = next(c for c in task_changes if c.run.id == run_id and c.state.name == state)
        return change.state.timestamp.timestamp()

    cache_done = entered(cleared.id, "Completed")
    assert all(entered(run.id, "Running") >= cache_done for run in downloads)
