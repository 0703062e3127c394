"""Writing a projection in one transaction, idempotently, on SQLite or PostgreSQL.

Every insert is ``ON CONFLICT DO NOTHING`` on a client-made key, except a run's row: it is
replaced only by a state later than the one it holds (by state timestamp, then state id), so
states arriving out of order, or a whole replay, leave the current state right.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Table, and_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor.runtime.store.columns import table_of
from proctor.runtime.store.projection import Projection
from proctor.runtime.store.tables import (
    DeadLetterRow,
    EventResourceRow,
    EventRow,
    FlowRow,
    FlowRunRow,
    RunLogRow,
    StateRow,
    TaskRunEdgeRow,
    TaskRunRow,
)

__all__ = ("insert_ignoring_duplicates", "write_projection")


def _insert(connection: AsyncConnection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _ordered(connection: AsyncConnection, rows: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """On PostgreSQL, rows in key order: concurrent recorders then lock rows in one order and
    cannot deadlock. SQLite has one writer at a time: no need to pay for the sort there."""
    if connection.dialect.name == "postgresql":
        return [rows[key] for key in sorted(rows)]
    return list(rows.values())


async def insert_ignoring_duplicates(
    connection: AsyncConnection, table: Table, rows: dict[Any, dict[str, Any]]
) -> None:
    """Insert ``rows`` (keyed by primary key); rows whose key exists are skipped."""
    if rows:
        statement = _insert(connection, table).on_conflict_do_nothing()
        await connection.execute(statement, _ordered(connection, rows))


async def _insert_new(
    connection: AsyncConnection, model: Any, rows: dict[Any, dict[str, Any]]
) -> None:
    await insert_ignoring_duplicates(connection, table_of(model), rows)


async def _upsert_runs(
    connection: AsyncConnection, model: Any, rows: dict[UUID, dict[str, Any]]
) -> None:
    if not rows:
        return
    table = table_of(model)
    statement = _insert(connection, table)
    new, held = statement.excluded, table.c
    later = or_(
        new.state_timestamp > held.state_timestamp,
        and_(new.state_timestamp == held.state_timestamp, new.state_id > held.state_id),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[held.id],
        set_={column.name: new[column.name] for column in table.columns if column.name != "id"},
        where=later,
    )
    await connection.execute(statement, _ordered(connection, rows))


async def write_projection(connection: AsyncConnection, projection: Projection) -> list[UUID]:
    """Write ``projection`` on ``connection`` (inside the caller's transaction).

    Returns the ids of the dead letters that are new (a replay finds them written already).
    """
    await _insert_new(connection, FlowRow, projection.flows)
    await _upsert_runs(connection, FlowRunRow, projection.flow_runs)
    await _upsert_runs(connection, TaskRunRow, projection.task_runs)
    await _insert_new(connection, StateRow, projection.states)
    await _insert_new(connection, TaskRunEdgeRow, projection.edges)
    await _insert_new(connection, EventRow, projection.events)
    await _insert_new(connection, EventResourceRow, projection.event_resources)
    await _insert_new(connection, RunLogRow, projection.logs)
    return await _insert_dead_letters(connection, projection.dead_letters.values())


async def _insert_dead_letters(
    connection: AsyncConnection, rows: Iterable[dict[str, Any]]
) -> list[UUID]:
    table = table_of(DeadLetterRow)
    new: list[UUID] = []
    for row in rows:  # rare: one statement each, to learn which ones are new
        statement = _insert(connection, table).on_conflict_do_nothing().returning(table.c.id)
        inserted = (await connection.execute(statement, row)).scalar_one_or_none()
        if inserted is not None:
            new.append(inserted)
    return new
