"""What a flow leaves in JetStream: every transition stored in order, and its log lines."""

from __future__ import annotations

import itertools

import pytest

from proctor import FakeClock, flow, get_run_logger, task, use_clock
from proctor.events.bus import JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.engine.logs import RunLog
from proctor.runtime.run_events import FlowRunSnapshot, TaskRunSnapshot
from tests.flows.conftest import changes, names_of

pytestmark = pytest.mark.nats


async def stored_events(bus: JetStreamEventBus) -> list[Event]:
    """Every event in the stream, in stored order."""
    count = (await bus.stats()).messages
    events: list[Event] = []
    async with await bus.subscribe(">", start="all") as feed:
        while len(events) < count:
            events.append(await feed.next(timeout_s=5))
    return events


async def stored_logs(bus: JetStreamEventBus) -> list[RunLog]:
    info = await bus.js.stream_info(bus.naming.logs_stream)
    return [
        RunLog.model_validate_json((await bus.js.get_msg(bus.naming.logs_stream, seq)).data or b"")
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def test_retries_as_stored_in_jetstream(
    jetstream_publisher: BusThread, nats_server: EmbeddedNats, naming: Naming
) -> None:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=[2, 5])
    def flaky() -> str:
        attempts.append(1)
        get_run_logger().info("attempt %d", len(attempts))
        if len(attempts) < 3:
            raise ConnectionError("not yet")
        return "done"

    @flow(log_prints=True)
    def pipeline() -> str:
        print("starting")
        return flaky()

    with use_clock(FakeClock()) as clock:
        assert pipeline() == "done"  # returns once its events are stored
    assert clock.sleeps == [2, 5]

    bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, declare=False)
    try:
        events = await stored_events(bus)
        logs = await stored_logs(bus)
    finally:
        await bus.close()

    task_run = next(c.run for c in changes(events) if isinstance(c.run, TaskRunSnapshot))
    flow_run = next(c.run for c in changes(events) if isinstance(c.run, FlowRunSnapshot))
    assert names_of(events, task_run.id) == [
        "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying",
        "Completed",
    ]  # fmt: skip
    assert names_of(events, flow_run.id) == ["Pending", "Running", "Completed"]
    final = [c for c in changes(events) if c.run.id == task_run.id][-1]
    assert final.run.run_count == 3
    assert isinstance(final.run, TaskRunSnapshot)
    assert final.run.flow_run_id == flow_run.id
    task_events = [e for e in events if e.resource.id == f"proctor.task-run.{task_run.id}"]
    for before, after in itertools.pairwise(task_events):
        assert after.follows == before.id  # each event names the one it follows
    # One event per transition, none lost to deduplication: each has the id of its state.
    assert len({e.id for e in events}) == len(events) == 3 + 7
    assert all(e.id == c.state.id for e, c in zip(events, changes(events), strict=True))

    lines = {(log.message, log.task_run_id) for log in logs}
    assert {("attempt 1", task_run.id), ("attempt 3", task_run.id)} <= lines
    assert ("starting", None) in lines  # print() in a log_prints flow
    assert {log.flow_run_id for log in logs} == {flow_run.id}
