"""What the server's run monitor reads of a run before marking it Crashed: the run as the recorder
stored it (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from proctor.runtime.deployments.runtime import recorded_run
from proctor.runtime.run_events import FlowRunSnapshot
from proctor.runtime.store import Projection, Store
from tests.store.factory import T0, lifecycle_events


async def test_the_monitor_reads_a_run_as_last_recorded(store: Store) -> None:
    run = FlowRunSnapshot(id=uuid.uuid4(), name="run", flow_name="etl")
    pending, running, _ = lifecycle_events(run, T0)
    projection = Projection(consumer="test", now=T0)
    for sequence, event in enumerate((pending, running), start=1):
        projection.add(sequence, event.event, event.to_wire())
    await store.record(projection)
    latest = recorded_run(store)

    recorded = await latest(run.id)

    assert recorded is not None
    state = recorded.state
    assert (str(state.id), state.name) == (running.payload["state"]["id"], "Running")
    assert state.timestamp == running.occurred
    # what the Running's event said of the run: its first run, started as it entered Running
    assert (recorded.run_count, recorded.start_time) == (1, running.occurred)
    assert recorded.end_time is None
    assert await latest(uuid.uuid4()) is None
