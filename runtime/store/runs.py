"""Reading runs: flow runs, task runs, their state history and the task graph of a run."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.engine import RowMapping

from proctor.runtime.store.columns import table_of
from proctor.runtime.store.filters import FlowRunFilter, RunSort, TaskRunFilter
from proctor.runtime.store.querying import (
    Repository,
    check_limit,
    has_all_tags,
    offset_page,
    read_offset,
    time_range,
)
from proctor.runtime.store.records import (
    FlowRecord,
    FlowRunRecord,
    Page,
    StateRecord,
    TaskGraph,
    TaskGraphEdge,
    TaskRunRecord,
)
from proctor.runtime.store.tables import FlowRow, FlowRunRow, StateRow, TaskRunEdgeRow, TaskRunRow

__all__ = ("RunRepository",)

FLOW_RUN = table_of(FlowRunRow)
TASK_RUN = table_of(TaskRunRow)
STATE = table_of(StateRow)
EDGE = table_of(TaskRunEdgeRow)
FLOW = table_of(FlowRow)
_STATE_COLUMNS = {
    "state_id": "id",
    "state_type": "type",
    "state_name": "name",
    "state_timestamp": "timestamp",
    "state_message": "message",
    "state_scheduled_time": "scheduled_time",
}


def _current_state(row: RowMapping) -> tuple[StateRecord, dict[str, Any]]:
    state = StateRecord(**{field: row[column] for column, field in _STATE_COLUMNS.items()})
    rest = {key: value for key, value in row.items() if key not in _STATE_COLUMNS}
    return state, rest


def _flow_run(row: RowMapping) -> FlowRunRecord:
    state, rest = _current_state(row)
    return FlowRunRecord(state=state, **rest)


def _task_run(row: RowMapping) -> TaskRunRecord:
    state, rest = _current_state(row)
    return TaskRunRecord(state=state, **rest)


def _order(table: Table, sort: RunSort) -> list[Any]:
    c = table.c
    orders = {
        RunSort.EXPECTED_START_TIME_DESC: [c.expected_start_time.desc().nulls_last()],
        RunSort.EXPECTED_START_TIME_ASC: [c.expected_start_time.asc().nulls_last()],
        RunSort.START_TIME_DESC: [c.start_time.desc().nulls_last()],
        RunSort.START_TIME_ASC: [c.start_time.asc().nulls_last()],
        RunSort.UPDATED_DESC: [c.state_timestamp.desc()],
        RunSort.NAME_ASC: [c.name.asc()],
    }
    return [*orders[sort], c.id.desc() if sort.value.endswith("desc") else c.id.asc()]


def _common(
    dialect: str, table: Table, f: FlowRunFilter | TaskRunFilter
) -> list[ColumnElement[bool]]:
    c = table.c
    conditions: list[ColumnElement[bool]] = []
    if f.ids is not None:
        conditions.append(c.id.in_(f.ids))
    if f.name_contains:
        conditions.append(func.lower(c.name).contains(f.name_contains.lower(), autoescape=True))
    if f.state_types is not None:
        conditions.append(c.state_type.in_([t.value for t in f.state_types]))
    if f.state_names is not None:
        conditions.append(c.state_name.in_(f.state_names))
    conditions += has_all_tags(dialect, c.tags, f.tags or ())
    conditions += time_range(c.start_time, f.start_after, f.start_before, "start")
    conditions += time_range(
        c.expected_start_time, f.expected_start_after, f.expected_start_before, "expected_start"
    )
    conditions += time_range(c.state_timestamp, f.updated_after, f.updated_before, "updated")
    return conditions


def _flow_run_conditions(dialect: str, f: FlowRunFilter) -> list[ColumnElement[bool]]:
    c = FLOW_RUN.c
    conditions = _common(dialect, FLOW_RUN, f)
    if f.flow_names is not None:
        conditions.append(c.flow_name.in_(f.flow_names))
    if f.deployment_ids is not None:
        conditions.append(c.deployment_id.in_(f.deployment_ids))
    if f.work_pools is not None:
        conditions.append(c.work_pool.in_(f.work_pools))
    if f.parent_flow_run_ids is not None:
        conditions.append(c.parent_flow_run_id.in_(f.parent_flow_run_ids))
    return conditions


def _task_run_conditions(dialect: str, f: TaskRunFilter) -> list[ColumnElement[bool]]:
    c = TASK_RUN.c
    conditions = _common(dialect, TASK_RUN, f)
    if f.flow_run_ids is not None:
        conditions.append(c.flow_run_id.in_(f.flow_run_ids))
    if f.task_keys is not None:
        conditions.append(c.task_key.in_(f.task_keys))
    return conditions


class RunRepository(Repository):
    """Flow runs, task runs, states and task graphs, as the recorder projected them."""

    async def _all(self, statement: Select[Any]) -> list[RowMapping]:
        async with self.reading() as connection:
            return list((await connection.execute(statement)).mappings())

    async def flow_run(self, flow_run_id: UUID) -> FlowRunRecord | None:
        """One flow run, or ``None``."""
        rows = await self._all(select(FLOW_RUN).where(FLOW_RUN.c.id == flow_run_id))
        return _flow_run(rows[0]) if rows else None

    async def flow_runs(
        self,
        where: FlowRunFilter | None = None,
        *,
        sort: RunSort = RunSort.EXPECTED_START_TIME_DESC,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[FlowRunRecord]:
        """Flow runs matching ``where``, a page at a time."""
        limit, offset = check_limit(limit), read_offset(page_token)
        conditions = _flow_run_conditions(self.db.dialect, where or FlowRunFilter())
        statement = (
            (select(FLOW_RUN).where(*conditions).order_by(*_order(FLOW_RUN, sort)))
            .offset(offset)
            .limit(limit + 1)
        )
        items = [_flow_run(row) for row in await self._all(statement)]
        return offset_page(items, offset=offset, limit=limit)

    async def count_flow_runs(self, where: FlowRunFilter | None = None) -> int:
        """How many flow runs match ``where``."""
        conditions = _flow_run_conditions(self.db.dialect, where or FlowRunFilter())
        statement = select(func.count()).select_from(FLOW_RUN).where(*conditions)
        return int(await self._scalar(statement))

    async def count_flow_runs_by_state(self) -> dict[str, int]:
        """How many flow runs are in each state, by state name (``Late``, ``Retrying``...)."""
        name = FLOW_RUN.c.state_name
        statement = select(name, func.count().label("runs")).group_by(name)
        return {row["state_name"]: int(row["runs"]) for row in await self._all(statement)}

    async def _scalar(self, statement: Select[Any]) -> Any:
        async with self.reading() as connection:
            return (await connection.execute(statement)).scalar_one()

    async def task_run(self, task_run_id: UUID) -> TaskRunRecord | None:
        """One task run, or ``None``."""
        rows = await self._all(select(TASK_RUN).where(TASK_RUN.c.id == task_run_id))
        return _task_run(rows[0]) if rows else None

    async def task_runs(
        self,
        where: TaskRunFilter | None = None,
        *,
        sort: RunSort = RunSort.EXPECTED_START_TIME_ASC,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[TaskRunRecord]:
        """Task runs matching ``where`` (e.g. ``TaskRunFilter(flow_run_ids=[id])``), paged."""
        limit, offset = check_limit(limit), read_offset(page_token)
        conditions = _task_run_conditions(self.db.dialect, where or TaskRunFilter())
        statement = (
            (select(TASK_RUN).where(*conditions).order_by(*_order(TASK_RUN, sort)))
            .offset(offset)
            .limit(limit + 1)
        )
        items = [_task_run(row) for row in await self._all(statement)]
        return offset_page(items, offset=offset, limit=limit)

    async def count_task_runs(self, where: TaskRunFilter | None = None) -> int:
        """How many task runs match ``where``."""
        conditions = _task_run_conditions(self.db.dialect, where or TaskRunFilter())
        return int(
            await self._scalar(select(func.count()).select_from(TASK_RUN).where(*conditions))
        )

    async def states(self, run_id: UUID) -> list[StateRecord]:
        """Every state a flow or task run entered, oldest first."""
        c = STATE.c
        statement = (
            select(c.id, c.type, c.name, c.timestamp, c.message, c.scheduled_time)
            .where(c.run_id == run_id)
            .order_by(c.timestamp, c.id)
        )
        return [StateRecord(**row) for row in await self._all(statement)]

    async def task_graph(self, flow_run_id: UUID) -> TaskGraph:
        """The task runs of a flow run (by expected start) and the edges between them."""
        nodes = select(TASK_RUN).where(TASK_RUN.c.flow_run_id == flow_run_id)
        nodes = nodes.order_by(*_order(TASK_RUN, RunSort.EXPECTED_START_TIME_ASC))
        edges = select(EDGE).where(EDGE.c.flow_run_id == flow_run_id)
        edges = edges.order_by(EDGE.c.downstream_id, EDGE.c.upstream_id, EDGE.c.parameter)
        async with self.reading() as connection:
            node_rows = list((await connection.execute(nodes)).mappings())
            edge_rows = list((await connection.execute(edges)).mappings())
        return TaskGraph(
            flow_run_id=flow_run_id,
            nodes=[_task_run(row) for row in node_rows],
            edges=[
                TaskGraphEdge(
                    upstream_id=row["upstream_id"],
                    downstream_id=row["downstream_id"],
                    kind="input" if row["parameter"] else "wait_for",
                    parameter=row["parameter"] or None,
                )
                for row in edge_rows
            ],
        )

    async def flows(self, *, limit: int = 100, page_token: str | None = None) -> Page[FlowRecord]:
        """The flows seen so far, by name."""
        limit, offset = check_limit(limit), read_offset(page_token)
        statement = select(FLOW).order_by(FLOW.c.name).offset(offset).limit(limit + 1)
        items = [FlowRecord(**row) for row in await self._all(statement)]
        return offset_page(items, offset=offset, limit=limit)
