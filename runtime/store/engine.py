"""Opening the database: SQLite under ``PROCTOR_HOME`` by default, PostgreSQL by URL.

SQLite runs in WAL mode (readers never wait for the writer) and every write transaction
begins ``IMMEDIATE``: it takes the write lock up front and waits for it (busy timeout), where
a deferred transaction that reads then writes fails at once with "database is locked".

PostgreSQL connections, statements and whole operations are bounded in time (below): a
server that stops answering makes the store raise ``StoreUnavailableError`` (the API's 503),
never wait for ever. ``tests/chaos/test_postgres_faults.py`` checks it through a blackhole.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings, mask_url

__all__ = ("SQLITE_FILE_NAME", "Database", "database_url", "open_database")

SQLITE_FILE_NAME = "proctor.db"
_BUSY_TIMEOUT_S = 30.0
_WRITE = "proctor_write"
CONNECT_TIMEOUT_S = 5.0
"""PostgreSQL: a connection not made within this fails (``StoreUnavailableError``)."""
STATEMENT_TIMEOUT_S = 10.0
"""PostgreSQL: a statement not answered within this fails (an unreachable server would
otherwise leave it waiting for ever)."""
POOL_TIMEOUT_S = 10.0
"""PostgreSQL: how long an operation waits for a free pooled connection."""
OPERATION_TIMEOUT_S = 20.0
"""PostgreSQL: the most one store operation (a read, or a write transaction: connection,
statements, commit or rollback) takes before ``StoreUnavailableError``. The driver's own
timeouts add up when a server stops answering mid-operation (a statement, then the rollback
after it); this bounds the whole, so the API answers 503 rather than hanging."""
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: ``reader`` for queries, ``writer`` for write transactions."""

    reader: AsyncEngine
    writer: AsyncEngine
    schema: str | None = None
    timeout_s: float | None = None
    """The most one operation may take (``None``: no bound; SQLite waits on its lock)."""

    def bounded(self) -> asyncio.Timeout:
        """The bound of one operation, as a context manager (``TimeoutError`` past it)."""
        return asyncio.timeout(self.timeout_s)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.reader.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.reader.dispose()


def database_url(settings: ProctorSettings) -> str:
    """``PROCTOR_DATABASE_URL``, or the SQLite file under ``PROCTOR_HOME``."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return f"sqlite+aiosqlite:///{Path(settings.home) / SQLITE_FILE_NAME}"


def _async_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"database URL {mask_url(url)!r} is not a URL: give sqlite:///path/to/file.db or "
            "postgresql://user@host:5432/db",
            setting="PROCTOR_DATABASE_URL",
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigurationError(
            f"database URL {mask_url(url)!r}: the store runs on SQLite or PostgreSQL, not "
            f"{backend!r}",
            setting="PROCTOR_DATABASE_URL",
        )
    return parsed.set(drivername=_DRIVERS[backend])


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        _enter_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enter_wal(cursor: Any) -> None:
    """Switch to WAL, waiting as the busy timeout would.

    WAL is kept in the file, so this changes something only for a new database. Several
    processes creating one at once race for the switch, and SQLite answers the losers
    "database is locked" at once, without calling its busy handler: they wait and try
    again here (the backoff of SQLite's own busy handler), up to the busy timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    for delay in itertools.chain((0.001, 0.002, 0.005, 0.01, 0.025), itertools.repeat(0.05)):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # in the driver's thread, as SQLite's busy handler does


def open_database(url: str, *, schema: str | None = None, echo: bool = False) -> Database:
    """Engines for ``url`` (``sqlite://``/``postgresql://`` get their async driver).

    ``schema`` (PostgreSQL only) puts every table in that schema, created by ``migrate``.
    """
    parsed = _async_url(url)
    options: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ConfigurationError("a schema is for PostgreSQL only", setting="schema")
        database = parsed.database or ""
        if database in ("", ":memory:"):
            options["poolclass"] = StaticPool  # one connection, or each sees its own database
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": _BUSY_TIMEOUT_S}
        engine = create_async_engine(parsed, **options)
        _tune_sqlite(engine)
    else:
        if schema is not None and not _SCHEMA.match(schema):
            raise ConfigurationError(
                f"schema {schema!r} must be lowercase letters, digits and '_'", setting="schema"
            )
        options["pool_pre_ping"] = True
        options["pool_timeout"] = POOL_TIMEOUT_S
        connect_args: dict[str, Any] = {
            "timeout": CONNECT_TIMEOUT_S,
            "command_timeout": STATEMENT_TIMEOUT_S,
        }
        if schema is not None:
            connect_args["server_settings"] = {"search_path": schema}
        options["connect_args"] = connect_args
        engine = create_async_engine(parsed, **options)
    return Database(
        reader=engine,
        writer=engine.execution_options(**{_WRITE: True}),
        schema=schema,
        timeout_s=None if parsed.get_backend_name() == "sqlite" else OPERATION_TIMEOUT_S,
    )
