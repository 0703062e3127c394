"""The recorder on a real JetStream stream, into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from proctor.core.errors import StoreUnavailableError
from proctor.events.bus import EventBus, InMemoryEventBus, JetStreamEventBus
from proctor.events.bus.consumer import ConsumerOptions, Delivery
from proctor.events.bus.jetstream import ensure_logs_stream
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.engine.log_shipping import JetStreamLogSink
from proctor.runtime.engine.logs import RunLog
from proctor.runtime.recorder import DEAD_LETTERED, SLICE_S, Recorder, RecorderOptions
from proctor.runtime.run_events import FlowRunSnapshot, StateType
from proctor.runtime.store import EventFilter, Projection, Store, TaskRunFilter
from proctor.runtime.store.columns import metadata
from tests.conftest import TEST_STREAM
from tests.store.factory import T0, FlowWithTasks, lifecycle_events

QUICK = RecorderOptions(
    fetch_timeout_s=0.5,
    retry_delay_s=0.05,
    consumer=ConsumerOptions(ack_wait=timedelta(seconds=5), max_deliver=3),
)


@pytest.fixture
async def recorder(jetstream_bus: JetStreamEventBus, store: Store) -> AsyncIterator[Recorder]:
    started = await Recorder.open(jetstream_bus, store, options=QUICK)
    await started.start()
    yield started
    await started.stop()


async def publish(bus: EventBus, events: list[Event]) -> int:
    """Publish ``events``; the stream sequence of the last one."""
    return max(r.sequence for r in await bus.publish_many(events))


async def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: to compare a store before and after a replay."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with store.db.reader.connect() as connection:
        for table in metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


async def test_a_flow_of_1000_tasks_is_queryable_once_the_recorder_caught_up(
    jetstream_bus: JetStreamEventBus, recorder: Recorder, store: Store
) -> None:
    flow = FlowWithTasks(tasks=1000)
    events = flow.events()
    published = time.perf_counter()
    last = await publish(jetstream_bus, events)
    await recorder.wait_recorded(last, timeout_s=60)
    lag_s = time.perf_counter() - published
    where = TaskRunFilter(flow_run_ids=[flow.flow_run.id], state_types=[StateType.COMPLETED])
    assert await store.runs.count_task_runs(where) == 1000
    graph = await store.runs.task_graph(flow.flow_run.id)
    assert len(graph.nodes) == 1000
    assert len(graph.edges) == flow.edges
    run = await store.runs.flow_run(flow.flow_run.id)
    assert run is not None
    assert run.state.type == StateType.COMPLETED
    assert recorder.stats.dead_letters == 0
    assert lag_s < 20, f"recording {len(events)} events took {lag_s:.1f} s"  # target: 1 s


async def test_replaying_the_whole_stream_changes_no_row(
    jetstream_bus: JetStreamEventBus, recorder: Recorder, store: Store
) -> None:
    flows = [FlowWithTasks(tasks=50, tags=("prod",)) for _ in range(3)]
    poison = await jetstream_bus.js.publish(jetstream_bus.naming.event_subject("x.y"), b"{")
    last = await publish(jetstream_bus, [e for f in flows for e in f.events()])
    async with await jetstream_bus.subscribe(DEAD_LETTERED, start="all") as reports:
        await reports.next(30)  # the poison's report is in the stream too: at rest, once
    await recorder.wait_recorded((await jetstream_bus.stats()).last_sequence, timeout_s=30)
    before = await dump(store)
    assert len(before["task_run"]) == 150
    assert len(before["dead_letter"]) == 1
    replay = await Recorder.open(jetstream_bus, store, purpose="replay", options=QUICK)
    await replay.start()
    await replay.wait_recorded(last, timeout_s=30)
    await replay.stop()
    assert poison.seq < last
    assert replay.stats.messages >= last - 1
    assert await dump(store) == before


async def test_states_out_of_order_leave_the_latest_current(
    jetstream_bus: JetStreamEventBus, recorder: Recorder, store: Store
) -> None:
    run = FlowRunSnapshot(id=uuid.uuid4(), name="late", flow_name="etl")
    pending, running, completed = lifecycle_events(run, T0)
    for event in (completed, pending, running):  # one at a time: separate batches
        await recorder.wait_recorded((await jetstream_bus.publish(event)).sequence)
    current = await store.runs.flow_run(run.id)
    assert current is not None
    assert current.state.name == "Completed"
    assert [s.name for s in await store.runs.states(run.id)] == ["Pending", "Running", "Completed"]


async def test_poison_is_dead_lettered_reported_and_the_next_events_recorded(
    jetstream_bus: JetStreamEventBus, recorder: Recorder, store: Store
) -> None:
    subject = jetstream_bus.naming.event_subject("proctor.flow-run.Running")
    undecodable = await jetstream_bus.js.publish(subject, b"\x00\xff not an event")
    malformed = Event.build(
        "proctor.flow-run.Running", {"proctor.resource.id": "proctor.flow-run.x"}, payload={}
    )
    run = FlowRunSnapshot(id=uuid.uuid4(), name="after", flow_name="etl")
    last = await publish(jetstream_bus, [malformed, *lifecycle_events(run, T0)])
    await recorder.wait_recorded(last, timeout_s=30)
    letters = (await store.dead_letters.list()).items
    assert {(d.reason, d.stream_sequence) for d in letters} == {
        ("undecodable", undecodable.seq),
        ("malformed-state", last - 3),
    }
    current = await store.runs.flow_run(run.id)
    assert current is not None
    assert current.state.name == "Completed"
    reports = await jetstream_bus.stats()
    await recorder.wait_recorded(reports.last_sequence, timeout_s=30)
    reported = await store.events.query(EventFilter(names=[DEAD_LETTERED]))
    assert {e.payload["stream_sequence"] for e in reported.items} == {undecodable.seq, last - 3}


class RefusingStore(Store):
    """A store whose database refuses any batch holding one event, and is away twice."""

    refused: uuid.UUID | None = None
    outages = 0

    async def record(self, projection: Projection) -> list[uuid.UUID]:
        if self.outages > 0:
            self.outages -= 1
            raise StoreUnavailableError("the store's database is unavailable: test outage")
        if self.refused in projection.events:
            raise IntegrityError("INSERT ...", {}, Exception("refused by the test"))
        return await super().record(projection)


async def test_a_message_the_database_refuses_is_isolated_and_dead_lettered(
    jetstream_bus: JetStreamEventBus, store: Store
) -> None:
    refusing = RefusingStore(store.db)
    flow = FlowWithTasks(tasks=10)
    events = flow.events()
    refusing.refused = events[7].id
    refusing.outages = 2
    recorder = await Recorder.open(jetstream_bus, refusing, options=QUICK)
    await recorder.start()
    last = await publish(jetstream_bus, events)
    await recorder.wait_recorded(last, timeout_s=30)
    await recorder.stop()
    [letter] = (await store.dead_letters.list()).items
    assert letter.reason == "unprojectable"
    assert letter.data == events[7].to_wire()
    assert await store.events.get(events[7].id) is None
    # (the recorder's own dead-lettered report may or may not be recorded yet: ignore it)
    stored = {event.id for event in (await store.events.query(limit=1000)).items}
    assert stored & {e.id for e in events} == {e.id for e in events} - {events[7].id}


def _naive_state_time(wire: dict[str, Any]) -> None:
    wire["payload"]["state"]["timestamp"] = "2026-11-01T12:00:01"  # no timezone


def _occurred_before_year_1_in_utc(wire: dict[str, Any]) -> None:
    wire["occurred"] = "0001-01-01T00:30:00+01:00"


@pytest.mark.parametrize(
    ("spoil", "reason", "error"),
    [
        pytest.param(
            _naive_state_time,
            "malformed-state",
            "state.timestamp 2026-11-01T12:00:01 has no timezone",
            id="naive-state-time",
        ),
        pytest.param(
            _occurred_before_year_1_in_utc,
            "undecodable",
            "occurred: 0001-01-01T00:30:00+01:00 is out of range once in UTC",
            id="occurred-overflows",
        ),
    ],
)
async def test_a_spoilt_event_between_good_ones_is_dead_lettered_and_the_rest_recorded(
    jetstream_bus: JetStreamEventBus,
    recorder: Recorder,
    store: Store,
    spoil: Callable[[dict[str, Any]], None],
    reason: str,
    error: str,
) -> None:
    run = FlowRunSnapshot(id=uuid.uuid4(), name="spoilt", flow_name="etl")
    pending, running, completed = lifecycle_events(run, T0)
    wire = json.loads(running.to_wire())
    spoil(wire)
    await publish(jetstream_bus, [pending])
    subject = jetstream_bus.naming.event_subject(running.event)
    spoilt = await jetstream_bus.js.publish(subject, json.dumps(wire).encode())
    await recorder.wait_recorded(await publish(jetstream_bus, [completed]), timeout_s=30)
    [letter] = (await store.dead_letters.list()).items
    assert (letter.reason, letter.stream_sequence) == (reason, spoilt.seq)
    assert error in letter.error
    assert [s.name for s in await store.runs.states(run.id)] == ["Pending", "Completed"]


async def test_a_message_whose_projection_fails_is_dead_lettered_not_retried_forever(
    jetstream_bus: JetStreamEventBus, store: Store
) -> None:
    flow = FlowWithTasks(tasks=3)
    events = flow.events()
    broken = events[4]

    def project(projection: Projection, sequence: int, subject: str, data: bytes) -> None:
        if data == broken.to_wire():
            raise RuntimeError("a bug in projecting")
        projection.add(sequence, subject, data)

    consumer = await jetstream_bus.durable_consumer("recorder", options=QUICK.consumer)
    recorder = Recorder(store, consumer, options=QUICK, project=project)
    await recorder.start()
    await recorder.wait_recorded(await publish(jetstream_bus, events), timeout_s=30)
    await recorder.stop()
    [letter] = (await store.dead_letters.list()).items
    assert (letter.reason, letter.event_name) == ("unprojectable", broken.event)
    assert "RuntimeError: a bug in projecting" in letter.error
    assert await store.runs.count_task_runs() == 3
    assert recorder.stats.messages == len(events)


class AwayStore(Store):
    """A store whose database is away until ``back`` is set; ``refusals`` counts its refusals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.back = asyncio.Event()
        self.refusals = 0
        self.refused = asyncio.Condition()

    async def record(self, projection: Projection) -> list[uuid.UUID]:
        if not self.back.is_set():
            async with self.refused:
                self.refusals += 1
                self.refused.notify_all()
            raise StoreUnavailableError("the store's database is unavailable: test outage")
        return await super().record(projection)


async def test_a_batch_held_while_the_database_is_away_is_not_delivered_again(
    jetstream_bus: JetStreamEventBus, store: Store
) -> None:
    """The recorder's ``ack_wait`` is short; a living recorder keeps its batch all the same."""
    away = AwayStore(store.db)
    one_second = RecorderOptions(
        fetch_timeout_s=0.5,
        retry_delay_s=0.05,
        consumer=ConsumerOptions(ack_wait=timedelta(seconds=1), max_deliver=3),
    )
    attempts: list[int] = []
    consumer = await jetstream_bus.durable_consumer("recorder", options=one_second.consumer)
    recorder = Recorder(
        away, consumer, options=one_second, count=lambda ds: attempts.extend(d.attempt for d in ds)
    )
    await recorder.start()
    flow = FlowWithTasks(tasks=10)
    last = await publish(jetstream_bus, flow.events())
    async with away.refused:  # retried after 0.05, 0.1, ... 1.6 s: over 3 s, three ack_waits
        await asyncio.wait_for(away.refused.wait_for(lambda: away.refusals >= 7), 30)
    away.back.set()
    await recorder.wait_recorded(last, timeout_s=30)
    await recorder.stop()
    assert attempts == [1] * len(flow.events())  # never delivered again, nor dead-lettered
    assert await store.runs.count_task_runs() == 10


async def test_a_restarted_recorder_resumes_where_it_stopped(
    jetstream_bus: JetStreamEventBus, store: Store
) -> None:
    first, second = FlowWithTasks(tasks=20), FlowWithTasks(tasks=20)
    recorder = await Recorder.open(jetstream_bus, store, options=QUICK)
    await recorder.start()
    await recorder.wait_recorded(await publish(jetstream_bus, first.events()), timeout_s=30)
    await recorder.stop()
    last = await publish(jetstream_bus, second.events())
    restarted = await Recorder.open(jetstream_bus, store, options=QUICK)
    await restarted.start()
    await restarted.wait_recorded(last, timeout_s=30)
    await restarted.stop()
    assert restarted.stats.messages == len(second.events())
    assert await store.runs.count_task_runs() == 40


async def test_the_recorder_works_on_the_in_memory_bus_too(bus: EventBus, store: Store) -> None:
    recorder = await Recorder.open(bus, store, options=QUICK)
    await recorder.start()
    flow = FlowWithTasks(tasks=10)
    await recorder.wait_recorded(await publish(bus, flow.events()), timeout_s=30)
    await recorder.stop()
    assert len((await store.runs.task_graph(flow.flow_run.id)).edges) == flow.edges


async def test_a_large_batch_leaves_the_event_loop_to_others_while_it_is_projected(
    naming: Naming, store: Store
) -> None:
    """The server's API and webhooks share the recorder's event loop: a batch of a thousand
    events must not hold their requests until it is all decoded."""
    bus = InMemoryEventBus(naming)
    flow = FlowWithTasks(tasks=10)
    events = flow.events()
    projected = 0

    def slow_project(projection: Projection, sequence: int, subject: str, data: bytes) -> None:
        nonlocal projected
        started = time.perf_counter()
        projection.add(sequence, subject, data)
        projected += 1
        while time.perf_counter() - started < SLICE_S:  # each event takes a whole slice
            pass

    seen_midway: list[int] = []

    async def another_request() -> None:
        while projected < len(events):
            if projected:
                seen_midway.append(projected)
            await asyncio.sleep(0)  # allow-sleep: one loop turn per look at the recorder

    last = await publish(bus, events)
    consumer = await bus.durable_consumer("recorder", options=QUICK.consumer)
    recorder = Recorder(store, consumer, options=QUICK, project=slow_project)
    other = asyncio.create_task(another_request())
    await recorder.start()
    await recorder.wait_recorded(last, timeout_s=30)
    await recorder.stop()
    await other
    assert recorder.stats.batches == 1  # still one batch, written in one transaction
    assert any(n < len(events) for n in seen_midway)
    assert await store.runs.count_task_runs() == 10


@pytest.mark.parametrize(("linger_s", "batches"), [(0.05, 1), (0.0, 2)])
async def test_a_partial_batch_waits_a_moment_for_more_events_before_it_is_recorded(
    naming: Naming, store: Store, linger_s: float, batches: int
) -> None:
    """Each batch is a transaction and a round of acks: a trickle of events is recorded in
    fewer, fuller batches."""
    bus = InMemoryEventBus(naming)
    flow = FlowWithTasks(tasks=5)
    events = flow.events()
    consumer = await bus.durable_consumer("recorder", options=QUICK.consumer)
    fetch = consumer.fetch

    async def fetch_then_more_come(
        max_messages: int = 500, *, timeout_s: float = 1.0
    ) -> list[Delivery]:
        deliveries = await fetch(max_messages, timeout_s=timeout_s)
        if deliveries and len(deliveries) < len(events):
            await bus.publish_many(events[len(deliveries) :])  # while the first part lingers
        return deliveries

    consumer.fetch = fetch_then_more_come  # type: ignore[method-assign]
    options = RecorderOptions(batch_linger_s=linger_s, consumer=QUICK.consumer)
    recorder = Recorder(store, consumer, options=options)
    first = await publish(bus, events[:3])
    await recorder.start()
    await recorder.wait_recorded(first + len(events) - 3, timeout_s=30)
    await recorder.stop()
    assert recorder.stats.batches == batches
    assert await store.runs.count_task_runs() == 5


@pytest.fixture
async def logs_stream(jetstream_bus: JetStreamEventBus) -> AsyncIterator[str]:
    """The run logs stream of this test's namespace."""
    await ensure_logs_stream(jetstream_bus.js, jetstream_bus.naming, TEST_STREAM)
    yield jetstream_bus.naming.logs_stream
    await jetstream_bus.js.delete_stream(jetstream_bus.naming.logs_stream)


async def test_run_logs_are_recorded_from_their_stream(
    jetstream_bus: JetStreamEventBus, logs_stream: str, store: Store
) -> None:
    run_id, task_id = uuid.uuid4(), uuid.uuid4()
    lines = [
        RunLog(
            flow_run_id=run_id,
            task_run_id=task_id if i == 2 else None,
            name="proctor.flow_runs",
            level=20,
            message=f"line {i}",
            timestamp=T0 + timedelta(seconds=i),
        )
        for i in range(3)
    ]
    await JetStreamLogSink(jetstream_bus).publish(lines[:2])
    subject = f"{jetstream_bus.naming.logs_prefix}.{run_id}"
    poison = await jetstream_bus.js.publish(subject, b"not a log line", stream=logs_stream)
    await JetStreamLogSink(jetstream_bus).publish(lines[2:])
    recorder = await Recorder.open_logs(jetstream_bus, store, options=QUICK)
    await recorder.start()
    await recorder.wait_recorded(poison.seq + 1, timeout_s=30)
    await recorder.stop()
    stored = (await store.logs.query(run_id)).items
    assert [(line.message, line.logger, line.task_run_id) for line in stored] == [
        ("line 0", "proctor.flow_runs", None),
        ("line 1", "proctor.flow_runs", None),
        ("line 2", "proctor.flow_runs", task_id),
    ]
    [letter] = (await store.dead_letters.list()).items
    assert (letter.reason, letter.stream_sequence) == ("undecodable", poison.seq)
