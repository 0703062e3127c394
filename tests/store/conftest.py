"""Store fixtures: every store test runs on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from proctor.runtime.store import Store
from proctor.runtime.store.columns import metadata

POSTGRES_URL = os.environ.get("PROCTOR_TEST_DATABASE_URL")
SKIP_POSTGRES = (
    "PostgreSQL half of the store contract skipped: PROCTOR_TEST_DATABASE_URL is not set "
    "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"
)
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(POSTGRES_URL is None, reason=SKIP_POSTGRES),
    ),
]


async def _drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=DATABASES)
async def store_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str | None]]:
    """(URL, schema) of an empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", None
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield POSTGRES_URL, schema
    await _drop_schema(POSTGRES_URL, schema)


def _run_apart(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` on an event loop of its own (fixtures may be set up inside a test's loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """One migrated PostgreSQL schema for this test session (emptied after each test)."""
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        store = await Store.open(POSTGRES_URL, schema=schema)
        await store.close()

    _run_apart(create())
    yield schema
    _run_apart(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture(params=DATABASES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated, empty store on each database."""
    if request.param == "sqlite":
        opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        yield opened
        await opened.close()
        return
    assert POSTGRES_URL is not None
    opened = await Store.open(POSTGRES_URL, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    async with opened.db.writer.begin() as connection:
        for table in metadata.sorted_tables:  # DELETE: far quicker than TRUNCATE on tiny tables
            await connection.execute(table.delete())
    await opened.close()
