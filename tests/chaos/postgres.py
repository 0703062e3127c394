"""A PostgreSQL database of a chaos test's own, and the faults done to it.

``async with chaos_database() as db:`` creates ``chaos_<random>`` on the server
``PROCTOR_TEST_DATABASE_URL`` names (through its ``postgres`` database), and drops it
afterwards, whoever is still connected. ``db.url(port=proxy.port)`` is its URL through a
``FaultProxy``; ``await db.terminate()`` kills every connection to it (what a failover, a
restart or an administrator does to a client). Nothing touches any other database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ("POSTGRES_URL", "SKIP_POSTGRES", "ChaosDatabase", "chaos_database", "needs_postgres")

POSTGRES_URL = os.environ.get("PROCTOR_TEST_DATABASE_URL")
SKIP_POSTGRES = (
    "PostgreSQL chaos tests skipped: PROCTOR_TEST_DATABASE_URL is not set "
    "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"
)
needs_postgres = pytest.mark.skipif(POSTGRES_URL is None, reason=SKIP_POSTGRES)


@dataclass
class ChaosDatabase:
    name: str
    server: URL
    """The server's URL, on its ``postgres`` database."""
    admin: AsyncEngine
    """Connected to ``postgres``, never to this database (its own connections stay alive)."""
    store: AsyncEngine
    """This database, for reading back what was stored (a connection per use: one open
    while ``terminate`` runs is killed too)."""

    def url(self, *, port: int | None = None) -> str:
        """This database's URL, at ``port`` (a proxy's) instead of the server's own."""
        url = self.server.set(database=self.name, drivername="postgresql+asyncpg")
        if port is not None:
            url = url.set(host="127.0.0.1", port=port)
        return url.render_as_string(hide_password=False)

    @property
    def port(self) -> int:
        return self.server.port or 5432

    async def terminate(self) -> int:
        """``pg_terminate_backend`` every connection to this database; how many were killed."""
        async with self.admin.connect() as admin:
            killed = await admin.execute(
                text(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()) AS killed"
                ),
                {"name": self.name},
            )
            return int(killed.scalar_one())

    async def rows(self, sql: str, **params: Any) -> Sequence[Any]:
        async with self.store.connect() as connection:
            return (await connection.execute(text(sql), params)).all()


@contextlib.asynccontextmanager
async def chaos_database() -> AsyncIterator[ChaosDatabase]:
    assert POSTGRES_URL is not None, SKIP_POSTGRES
    server = make_url(POSTGRES_URL).set(database="postgres", drivername="postgresql+asyncpg")
    name = f"chaos_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        store = create_async_engine(server.set(database=name), poolclass=NullPool)
        try:
            yield ChaosDatabase(name, server, admin, store)
        finally:
            await store.dispose()
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
