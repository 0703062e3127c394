"""The store contract: the same tests on SQLite and PostgreSQL (see conftest.DATABASES)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError

from proctor.core.errors import ConflictError, QueryError
from proctor.events.model import Event
from proctor.runtime.run_events import FlowRunSnapshot, StateType, state_change_event
from proctor.runtime.store import (
    EventFilter,
    FlowRunFilter,
    Projection,
    RunLogRecord,
    RunSort,
    Store,
    TaskRunFilter,
)
from proctor.runtime.store.columns import metadata
from proctor.runtime.store.control import WorkPoolRow
from proctor.runtime.store.engine import open_database
from proctor.runtime.store.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    migrate,
)
from tests.store.factory import T0, FlowWithTasks, lifecycle_events, state

NOW = datetime(2026, 11, 2, tzinfo=UTC)


async def record(store: Store, events: list[Event], *, consumer: str = "test") -> list[uuid.UUID]:
    projection = Projection(consumer=consumer, now=NOW)
    for sequence, event in enumerate(events, start=1):
        projection.add(sequence, event.event, event.to_wire())
    return await store.record(projection)


def flow_run(name: str = "run", **fields: object) -> FlowRunSnapshot:
    return FlowRunSnapshot(id=uuid.uuid4(), name=name, flow_name="etl", **fields)


# --- schema -----------------------------------------------------------------------------


async def test_a_new_database_is_migrated_to_head(store: Store) -> None:
    assert await current_revision(store.db) == head_revision()


async def test_migrating_again_changes_nothing(store: Store) -> None:
    await migrate(store.db)
    assert await current_revision(store.db) == head_revision()


async def test_migrations_build_exactly_the_tables_the_models_describe(store: Store) -> None:
    async with store.db.reader.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert differences == []


def test_the_head_revision_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def _schema(connection: Connection) -> dict[str, object]:
    """Every table's columns (type, nullability, server default), keys and indexes."""
    found = inspect(connection)

    def table(name: str) -> dict[str, object]:
        return {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(name)
            ],
            "primary key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (f["constrained_columns"], f["referred_table"], f["referred_columns"])
                for f in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"] or "", i["column_names"], i["unique"]) for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", u["column_names"]) for u in found.get_unique_constraints(name)
            ),
        }

    return {name: table(name) for name in sorted(found.get_table_names())}


async def test_an_old_database_is_migrated_by_the_scripts_to_what_a_new_one_is_made(
    store_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = store_url
    new = await Store.open(url, schema=schema)  # empty: made from the models, then stamped
    old_url = url if schema is not None else f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    old = open_database(old_url, schema=None if schema is None else f"{schema}_old")
    try:
        async with old.writer.begin() as connection:
            if old.schema is not None:
                await connection.exec_driver_sql(f'CREATE SCHEMA "{old.schema}"')
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0001"))
        assert await current_revision(old) == "0001"
        await migrate(old)
        assert await current_revision(old) == head_revision()
        async with old.reader.connect() as connection:
            migrated = await connection.run_sync(_schema)
        async with new.db.reader.connect() as connection:
            made = await connection.run_sync(_schema)
        assert "collision_strategy" in str(made["deployment"])
        assert made == migrated
    finally:
        if old.schema is not None:
            async with old.writer.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{old.schema}" CASCADE')
        await old.dispose()
        await new.close()


async def test_concurrent_start_ups_migrate_once(store_url: tuple[str, str | None]) -> None:
    url, schema = store_url
    stores = await asyncio.gather(*(Store.open(url, schema=schema) for _ in range(3)))
    assert {await current_revision(s.db) for s in stores} == {head_revision()}
    for opened in stores:
        await opened.close()


# --- runs -------------------------------------------------------------------------------


async def test_a_flow_with_tasks_is_readable_with_its_graph(store: Store) -> None:
    flow = FlowWithTasks(tasks=5)
    await record(store, flow.events())
    run = await store.runs.flow_run(flow.flow_run.id)
    assert run is not None
    assert (run.state.type, run.state.name, run.flow_name) == (
        StateType.COMPLETED,
        "Completed",
        "etl",
    )
    tasks = await store.runs.task_runs(TaskRunFilter(flow_run_ids=[flow.flow_run.id]))
    assert [t.name for t in tasks.items] == [f"double-{i}" for i in range(5)]
    assert {t.state.type for t in tasks.items} == {StateType.COMPLETED}
    graph = await store.runs.task_graph(flow.flow_run.id)
    assert len(graph.nodes) == 5
    assert len(graph.edges) == flow.edges
    second, third = flow.task_runs[1], flow.task_runs[2]
    assert {
        (e.upstream_id, e.kind, e.parameter) for e in graph.edges if e.downstream_id == third.id
    } == {
        (second.id, "input", "x"),
        (flow.task_runs[0].id, "wait_for", None),
    }
    assert [f.name for f in (await store.runs.flows()).items] == ["etl"]


async def test_state_history_is_kept_once_per_state_in_time_order(store: Store) -> None:
    run = flow_run()
    events = lifecycle_events(run, T0)
    await record(store, events)
    await record(store, events[::-1])
    history = await store.runs.states(run.id)
    assert [s.name for s in history] == ["Pending", "Running", "Completed"]
    assert history[0].timestamp == T0


async def test_the_latest_state_wins_when_states_arrive_out_of_order(store: Store) -> None:
    run = flow_run()
    pending, running, completed = lifecycle_events(run, T0)
    await record(store, [completed])
    await record(store, [running])
    await record(store, [pending, running])
    current = await store.runs.flow_run(run.id)
    assert current is not None
    assert current.state.name == "Completed"
    assert current.end_time == T0 + timedelta(seconds=2)  # the snapshot of the latest state
    assert len(await store.runs.states(run.id)) == 3


async def test_out_of_order_within_one_batch_keeps_the_latest_state(store: Store) -> None:
    run = flow_run()
    pending, running, completed = lifecycle_events(run, T0)
    await record(store, [completed, pending, running])
    current = await store.runs.flow_run(run.id)
    assert current is not None
    assert current.state.name == "Completed"


async def test_equal_state_timestamps_are_ordered_by_state_id(store: Store) -> None:
    run = flow_run()
    low, high = sorted([uuid.uuid4(), uuid.uuid4()])
    first = state_change_event(run, state(StateType.RUNNING, "Running", T0, low), None)
    second = state_change_event(run, state(StateType.FAILED, "Failed", T0, high), None)
    await record(store, [second])
    await record(store, [first])
    current = await store.runs.flow_run(run.id)
    assert current is not None
    assert current.state.name == "Failed"


async def test_recording_the_same_events_again_changes_no_row(store: Store) -> None:
    flow = FlowWithTasks(tasks=20, tags=("prod",))
    events = flow.events()
    await record(store, events)
    before = await _snapshot(store, flow)
    await record(store, events)
    await record(store, events[::-1])
    assert await _snapshot(store, flow) == before


async def test_a_batch_of_more_rows_than_one_statement_takes_is_written_whole(
    store: Store,
) -> None:
    """SQLite writes a batch as statements of several hundred rows each: no row is lost or
    written twice where one statement ends and the next begins."""
    flow = FlowWithTasks(tasks=700)
    events = flow.events()
    await record(store, events)
    assert await store.runs.count_task_runs() == 700
    graph = await store.runs.task_graph(flow.flow_run.id)
    assert len(graph.nodes) == 700
    assert len(graph.edges) == 699 + 698  # each task's input, and all but two wait on task 0
    ids: list[uuid.UUID] = []
    page = await store.events.query(EventFilter(order="asc"), limit=1000)
    ids += [e.id for e in page.items]
    while page.next_page is not None:
        page = await store.events.query(EventFilter(order="asc"), page_token=page.next_page)
        ids += [e.id for e in page.items]
    assert sorted(ids) == sorted(e.id for e in events)


async def _snapshot(store: Store, flow: FlowWithTasks) -> object:
    tasks = await store.runs.task_runs(TaskRunFilter(flow_run_ids=[flow.flow_run.id]), limit=1000)
    return (
        await store.runs.flow_run(flow.flow_run.id),
        tasks.items,
        await store.runs.task_graph(flow.flow_run.id),
        [await store.runs.states(t.id) for t in flow.task_runs],
        (await store.events.query(limit=1000)).items,
        (await store.runs.flows()).items,
    )


async def test_flow_runs_filter_by_state_flow_deployment_tag_and_time(store: Store) -> None:
    deployment = uuid.uuid4()
    runs = {
        "a": flow_run("a", tags=("prod", "eu"), deployment_id=deployment, expected_start_time=T0),
        "b": flow_run("b", tags=("prod",), expected_start_time=T0 + timedelta(hours=1)),
        "c": flow_run("c", tags=("dev",), expected_start_time=T0 + timedelta(hours=2)),
    }
    events = lifecycle_events(runs["a"], T0) + lifecycle_events(runs["b"], T0)[:2]
    events += [state_change_event(runs["c"], state(StateType.FAILED, "Failed", T0), None)]
    other = FlowRunSnapshot(id=uuid.uuid4(), name="d", flow_name="reports", expected_start_time=T0)
    events += lifecycle_events(other, T0)[:1]
    await record(store, events)

    async def names(where: FlowRunFilter, **kwargs: object) -> list[str]:
        page = await store.runs.flow_runs(where, **kwargs)  # type: ignore[arg-type]
        return [r.name for r in page.items]

    assert await names(FlowRunFilter(), sort=RunSort.NAME_ASC) == ["a", "b", "c", "d"]
    assert await names(FlowRunFilter(state_types=[StateType.COMPLETED])) == ["a"]
    assert await names(FlowRunFilter(state_names=["Running", "Failed"]), sort=RunSort.NAME_ASC) == [
        "b",
        "c",
    ]
    assert await names(FlowRunFilter(flow_names=["reports"])) == ["d"]
    assert await names(FlowRunFilter(deployment_ids=[deployment])) == ["a"]
    assert await names(FlowRunFilter(tags=["prod"]), sort=RunSort.NAME_ASC) == ["a", "b"]
    assert await names(FlowRunFilter(tags=["prod", "eu"])) == ["a"]
    assert await names(FlowRunFilter(name_contains="C")) == ["c"]
    window = FlowRunFilter(
        flow_names=["etl"],
        expected_start_after=T0 + timedelta(minutes=30),
        expected_start_before=T0 + timedelta(hours=2),
    )
    assert await names(window) == ["b"]
    assert await names(
        FlowRunFilter(flow_names=["etl"]), sort=RunSort.EXPECTED_START_TIME_DESC
    ) == ["c", "b", "a"]
    assert await store.runs.count_flow_runs(FlowRunFilter(tags=["prod"])) == 2


async def test_listings_page_through_every_row_once(store: Store) -> None:
    flow = FlowWithTasks(tasks=25)
    await record(store, flow.events())
    seen: list[str] = []
    token: str | None = None
    while True:
        page = await store.runs.task_runs(TaskRunFilter(), limit=10, page_token=token)
        seen += [t.name for t in page.items]
        token = page.next_page
        if token is None:
            break
    assert seen == [f"double-{i}" for i in range(25)]
    assert await store.runs.count_task_runs(TaskRunFilter(flow_run_ids=[flow.flow_run.id])) == 25


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.runs.flow_runs(limit=0), "limit"),
        (lambda s: s.runs.flow_runs(page_token="nonsense"), "page_token"),
        (
            lambda s: s.runs.flow_runs(FlowRunFilter(start_after=datetime(2026, 1, 1))),
            "start_after",
        ),
        (lambda s: s.events.query(page_token="bm9wZQ=="), "page_token"),
    ],
)
async def test_invalid_queries_name_the_field(store: Store, call: object, field: str) -> None:
    with pytest.raises(QueryError) as raised:
        await call(store)  # type: ignore[operator]
    assert raised.value.field == field


# --- events index -----------------------------------------------------------------------


def _event(name: str, at: datetime, resource: str = "r.1", related: tuple[str, ...] = ()) -> Event:
    return Event.build(
        name,
        {"proctor.resource.id": resource},
        related=[{"proctor.resource.id": r, "proctor.resource.role": "thing"} for r in related],
        occurred=at,
    )


async def test_events_index_filters_by_name_resource_related_and_time(store: Store) -> None:
    events = [
        _event("proctor.flow-run.Completed", T0, "proctor.flow-run.1", ("proctor.flow.etl",)),
        _event("proctor.flow-run.Failed", T0 + timedelta(minutes=1), "proctor.flow-run.2"),
        _event(
            "proctor.task-run.Completed",
            T0 + timedelta(minutes=2),
            "proctor.task-run.3",
            ("proctor.flow-run.1", "proctor.flow.etl"),
        ),
        _event("shop.order.created", T0 + timedelta(minutes=3), "shop.order.9"),
        _event("shop_x.order", T0 + timedelta(minutes=4), "shop_x"),
    ]
    await record(store, events)

    async def names(**where: object) -> list[str]:
        page = await store.events.query(EventFilter(order="asc", **where))
        return [e.event for e in page.items]

    everything = [e.event for e in events]
    assert await names() == everything
    assert await names(names=["proctor.flow-run.Completed"]) == ["proctor.flow-run.Completed"]
    assert await names(names=["proctor.*.Completed"]) == [
        "proctor.flow-run.Completed",
        "proctor.task-run.Completed",
    ]
    assert await names(names=["proctor.>"]) == everything[:3]
    assert await names(names=["proctor.flow-run.Fail*"]) == ["proctor.flow-run.Failed"]
    assert await names(names=["shop.>", "proctor.flow-run.*"]) == everything[:2] + everything[3:4]
    assert await names(names=["shop.*"]) == []  # '*' is exactly one token
    assert await names(names=["shop_*.order"]) == ["shop_x.order"]
    assert await names(resource_ids=["proctor.flow-run.*"]) == everything[:2]
    assert await names(related_resource_ids=["proctor.flow.etl"]) == [everything[0], everything[2]]
    assert await names(related_resource_ids=["proctor.flow-run.1"]) == [everything[2]]
    assert (
        await names(
            occurred_after=T0 + timedelta(minutes=1), occurred_before=T0 + timedelta(minutes=3)
        )
        == everything[1:3]
    )
    newest = await store.events.query(limit=1)
    assert newest.items[0].id == events[-1].id
    assert await store.events.get(events[0].id) == events[0]


async def test_event_pages_are_stable_while_new_events_arrive(store: Store) -> None:
    events = [_event("a.b", T0 + timedelta(seconds=i)) for i in range(7)]
    await record(store, events)
    first = await store.events.query(EventFilter(order="asc"), limit=3)
    await record(store, [_event("a.b", T0 - timedelta(days=1))])  # lands before the first page
    rest: list[Event] = []
    token = first.next_page
    while token is not None:
        page = await store.events.query(EventFilter(order="asc"), limit=3, page_token=token)
        rest += page.items
        token = page.next_page
    assert first.items + rest == events
    with pytest.raises(QueryError):
        await store.events.query(EventFilter(order="desc"), page_token=first.next_page)


# --- logs, dead letters, control plane -------------------------------------------------


async def test_logs_of_a_run_are_written_once_and_read_in_order(store: Store) -> None:
    run_id, task_id = uuid.uuid4(), uuid.uuid4()
    lines = [
        RunLogRecord(
            id=uuid.uuid4(),
            flow_run_id=run_id,
            task_run_id=task_id if i % 2 else None,
            timestamp=T0 + timedelta(seconds=i),
            level=20 if i < 4 else 40,
            logger="proctor.flow",
            message=f"line {i}",
        )
        for i in range(6)
    ]
    await store.logs.write(lines[3:])
    await store.logs.write(lines)
    first = await store.logs.query(run_id, limit=4)
    second = await store.logs.query(run_id, limit=4, page_token=first.next_page)
    assert first.items + second.items == lines
    assert second.next_page is None
    assert [line.message for line in (await store.logs.query(run_id, min_level=40)).items] == [
        "line 4",
        "line 5",
    ]
    assert len((await store.logs.query(run_id, task_run_id=task_id)).items) == 3


async def test_poison_messages_become_dead_letters_once(store: Store) -> None:
    run = flow_run()
    good = lifecycle_events(run, T0)[0]
    malformed = Event.build(
        "proctor.flow-run.Running", {"proctor.resource.id": "x"}, payload={"run": {}}
    )
    projection = Projection(consumer="recorder", now=NOW)
    projection.add(1, "bad", b"\xff not json")
    projection.add(2, malformed.event, malformed.to_wire())
    projection.add(3, good.event, good.to_wire())
    new = await store.record(projection)
    assert len(new) == 2
    assert await store.record(projection) == []  # replayed: already there
    letters = (await store.dead_letters.list()).items
    assert {(d.reason, d.stream_sequence) for d in letters} == {
        ("undecodable", 1),
        ("malformed-state", 2),
    }
    assert {d.data for d in letters} == {b"\xff not json", malformed.to_wire()}
    assert await store.runs.flow_run(run.id) is not None
    assert await store.events.get(malformed.id) == malformed  # a valid event is indexed anyway
    one = await store.dead_letters.get(letters[0].id)
    assert one == letters[0]


async def test_indexed_events_keep_their_payload_and_a_state_is_projected_whatever_its_subject(
    store: Store,
) -> None:
    """The recorder reads a payload only for a run's state, chosen by the subject's name: an
    event on a subject that names something else is still projected by its own name."""
    run = flow_run()
    started = lifecycle_events(run, T0)[0]
    order = Event.build(
        "shop.order", {"proctor.resource.id": "order.1"}, payload={"lines": [{"sku": "a"}]}
    )
    projection = Projection(consumer="recorder", now=NOW)
    projection.add(1, order.event, order.to_wire())
    projection.add(2, "shop.mislabelled", started.to_wire())
    await store.record(projection)
    assert await store.events.get(order.id) == order
    assert await store.events.get(started.id) == started
    assert await store.runs.flow_run(run.id) is not None


async def test_a_row_the_database_cannot_take_is_refused_as_a_statement_error(
    store: Store,
) -> None:
    """The recorder's signal to write the batch in parts and dead-letter the message alone."""
    projection = Projection(consumer="test", now=NOW)
    projection.flows["naive"] = {
        "id": uuid.uuid4(),
        "name": "naive",
        "first_seen": datetime(2026, 1, 1),
    }
    with pytest.raises(StatementError, match="naive datetime"):
        await store.record(projection)
    assert (await store.runs.flows()).items == []


async def test_control_plane_rows_are_created_read_updated_and_deleted(store: Store) -> None:
    pool = await store.work_pools.create(WorkPoolRow(name="default", concurrency_limit=4))
    assert pool.created is not None
    with pytest.raises(ConflictError) as raised:
        await store.work_pools.create(WorkPoolRow(name="default"))
    assert raised.value.field == "name"
    found = await store.work_pools.find(name="default")
    assert found is not None
    assert found.id == pool.id
    assert found.concurrency_limit == 4
    updated = await store.work_pools.update(pool.id, paused=True, base_job_template={"image": "x"})
    assert updated is not None
    assert updated.paused
    assert updated.updated >= pool.created
    again = await store.work_pools.get(pool.id)
    assert again is not None
    assert again.base_job_template == {"image": "x"}
    assert [p.name for p in (await store.work_pools.list()).items] == ["default"]
    with pytest.raises(QueryError):
        await store.work_pools.list(colour="red")
    assert await store.work_pools.delete(pool.id)
    assert not await store.work_pools.delete(pool.id)
    assert await store.work_pools.get(pool.id) is None


async def test_concurrent_writers_do_not_fail_with_database_is_locked(
    store_url: tuple[str, str | None],
) -> None:
    url, schema = store_url
    writers = [await Store.open(url, schema=schema) for _ in range(3)]
    flows = [FlowWithTasks(tasks=30) for _ in range(6)]
    await asyncio.gather(
        *(record(writers[i % 3], flow.events()) for i, flow in enumerate(flows)),
        *(writers[i % 3].work_pools.create(WorkPoolRow(name=f"pool-{i}")) for i in range(6)),
    )
    assert await writers[0].runs.count_task_runs() == 180
    for writer in writers:
        await writer.close()
