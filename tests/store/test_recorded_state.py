"""What the server's run monitor reads of a run before marking it Crashed: its latest state as
the recorder stored it (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from proctor.runtime.deployments.runtime import recorded_state
from proctor.runtime.run_events import FlowRunSnapshot
from proctor.runtime.store import Projection, Store
from tests.store.factory import T0, lifecycle_events


async def test_the_monitor_reads_a_run_s_latest_recorded_state(store: Store) -> None:
    run = FlowRunSnapshot(id=uuid.uuid4(), name="run", flow_name="etl")
    pending, running, _ = lifecycle_events(run, T0)
    projection = Projection(consumer="test", now=T0)
    for sequence, event in enumerate((pending, running), start=1):
        projection.add(sequence, event.event, event.to_wire())
    await store.record(projection)
    latest = recorded_state(store)

    recorded = await latest(run.id)

    assert recorded is not None
    assert (str(recorded.id), recorded.name) == (running.payload["state"]["id"], "Running")
    assert recorded.timestamp == running.occurred
    assert await latest(uuid.uuid4()) is None
