"""Writing a projection in one transaction, idempotently, on SQLite or PostgreSQL.

Every insert is ``ON CONFLICT DO NOTHING`` on a client-made key, except a run's row: it is
replaced only by a state later than the one it holds (by state timestamp, then state id), so
states arriving out of order, or a whole replay, leave the current state right.

Each batch insert is compiled once per database and its rows are turned into driver values by
the columns' own bind processors: SQLAlchemy's per-row parameter handling cost more than
SQLite's insert itself (a value a processor refuses is a ``StatementError``, as it would be
from ``execute``). PostgreSQL takes them as one ``executemany``. SQLite takes them as
statements of up to ``_SQLITE_ROWS`` rows each (``VALUES (...), (...), ...``): its driver lets
go of the interpreter lock for every statement it steps, and the API's event loop then paid a
lock hand-over per row written (under webhook load, twice the system time on its thread).
"""

from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Dialect, Table, and_, or_
from sqlalchemy.exc import StatementError
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

_SQLITE_ROWS = 500
"""Most rows per SQLite insert statement (fewer when its parameters would pass the limit)."""
_SQLITE_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
"""SQLite's default limit on a statement's parameters (``SQLITE_MAX_VARIABLE_NUMBER``)."""


def _insert(dialect: Dialect, table: Table) -> Any:
    # Imported here: a dialect's module is loaded by the engine that uses it, and a server on
    # SQLite need not load PostgreSQL's (~30 ms of its start-up).
    if dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _ordered(connection: AsyncConnection, rows: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """On PostgreSQL, rows in key order: concurrent recorders then lock rows in one order and
    cannot deadlock. SQLite has one writer at a time: no need to pay for the sort there."""
    if connection.dialect.name == "postgresql":
        return [rows[key] for key in sorted(rows)]
    return list(rows.values())


def _ignoring_duplicates(dialect: Dialect, table: Table) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing()


def _replacing_older_states(dialect: Dialect, table: Table) -> Any:
    """Insert a run's row, or replace the one held if the new state is later."""
    statement = _insert(dialect, table)
    new, held = statement.excluded, table.c
    later = or_(
        new.state_timestamp > held.state_timestamp,
        and_(new.state_timestamp == held.state_timestamp, new.state_id > held.state_id),
    )
    return statement.on_conflict_do_update(
        index_elements=[held.id],
        set_={column.name: new[column.name] for column in table.columns if column.name != "id"},
        where=later,
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch insert compiled for one database: its SQL, how to take a row's values in the
    order of its positional parameters, the conversions to driver values by position (most
    columns need none), and how many rows one statement inserts (1: ``executemany``)."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...]
    rows_per_statement: int = 1
    row_placeholders: str = ""

    def parameters(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """``rows`` as driver values; ``StatementError`` if a column refuses a value."""
        values, conversions = self.values, self.conversions
        parameters: list[tuple[Any, ...]] = []
        for row in rows:
            converted = list(values(row))
            try:
                for position, convert in conversions:
                    converted[position] = convert(converted[position])
            except Exception as error:  # what SQLAlchemy's own execute raises, too
                message = f"({type(error).__name__}) {error}"
                raise StatementError(message, self.sql, None, error) from error
            parameters.append(tuple(converted))
        return parameters

    def inserting(self, rows: int) -> str:
        """The statement that inserts ``rows`` rows at once (``rows_per_statement`` at most)."""
        placeholders = ", ".join(itertools.repeat(self.row_placeholders, rows))
        return self.sql.replace(self.row_placeholders, placeholders, 1)


@functools.lru_cache(maxsize=64)
def _prepare(dialect: Dialect, table: Table, build: Callable[[Dialect, Table], Any]) -> _Prepared:
    compiled = build(dialect, table).compile(dialect=dialect)
    keys = tuple(compiled.positiontup or ())
    if not compiled.positional or not keys or set(keys) - set(table.c.keys()):
        raise AssertionError(f"{dialect.name}: a batch insert takes positional column values")
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
    conversions = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    if dialect.name != "sqlite":
        return _Prepared(compiled.string, _taking(keys), conversions)
    row = "(" + ", ".join(itertools.repeat("?", len(keys))) + ")"
    if compiled.string.count(row) != 1 or compiled.string.count("?") != len(keys):
        raise AssertionError(f"sqlite: expected one row of parameters in {compiled.string}")
    rows = max(1, min(_SQLITE_ROWS, _SQLITE_MAX_PARAMETERS // len(keys)))
    return _Prepared(compiled.string, _taking(keys), conversions, rows, row)


def _taking(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function taking ``keys`` from a row, in order (a missing key is a ``KeyError``)."""
    if len(keys) == 1:
        (key,) = keys
        return lambda row: (row[key],)
    return operator.itemgetter(*keys)


async def _execute_many(
    connection: AsyncConnection,
    table: Table,
    build: Callable[[Dialect, Table], Any],
    rows: dict[Any, dict[str, Any]],
) -> None:
    if not rows:
        return
    prepared = _prepare(connection.dialect, table, build)
    parameters = prepared.parameters(_ordered(connection, rows))
    if prepared.rows_per_statement == 1:
        await connection.exec_driver_sql(prepared.sql, parameters)
        return
    step = prepared.rows_per_statement
    for start in range(0, len(parameters), step):
        chunk = parameters[start : start + step]
        flat = tuple(itertools.chain.from_iterable(chunk))
        await connection.exec_driver_sql(prepared.inserting(len(chunk)), flat)


async def insert_ignoring_duplicates(
    connection: AsyncConnection, table: Table, rows: dict[Any, dict[str, Any]]
) -> None:
    """Insert ``rows`` (keyed by primary key); rows whose key exists are skipped."""
    await _execute_many(connection, table, _ignoring_duplicates, rows)


async def _insert_new(
    connection: AsyncConnection, model: Any, rows: dict[Any, dict[str, Any]]
) -> None:
    await insert_ignoring_duplicates(connection, table_of(model), rows)


async def _upsert_runs(
    connection: AsyncConnection, model: Any, rows: dict[UUID, dict[str, Any]]
) -> None:
    await _execute_many(connection, table_of(model), _replacing_older_states, rows)


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
        statement = _ignoring_duplicates(connection.dialect, table).returning(table.c.id)
        inserted = (await connection.execute(statement, row)).scalar_one_or_none()
        if inserted is not None:
            new.append(inserted)
    return new
