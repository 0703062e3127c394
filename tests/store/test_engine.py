"""Opening the store: where it lives, which URLs it takes, and what it says when it can't."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import DateTime, text

from proctor.core.errors import ConfigurationError, StoreUnavailableError
from proctor.core.settings import ProctorSettings
from proctor.runtime.store import Store
from proctor.runtime.store.columns import table_of
from proctor.runtime.store.engine import SQLITE_FILE_NAME, open_database
from proctor.runtime.store.tables import FlowRow
from proctor.runtime.store.writer import insert_ignoring_duplicates


async def test_the_default_store_is_sqlite_in_wal_mode_under_proctor_home(
    isolated_environment: Path,
) -> None:
    store = await Store.from_settings(ProctorSettings())
    try:
        assert (isolated_environment / SQLITE_FILE_NAME).exists()
        async with store.db.reader.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert mode == "wal"
        await store.ping()
    finally:
        await store.close()


async def test_processes_creating_one_sqlite_database_at_once_all_open_it(tmp_path: Path) -> None:
    """Servers and workers starting together on a new home each open the new file; SQLite
    refuses all but one switch to WAL at once, without waiting, and the others must wait."""

    async def open_at_once(path: Path) -> list[str]:
        stores = await asyncio.gather(*(Store.open(f"sqlite:///{path}") for _ in range(4)))
        modes = []
        for store in stores:
            async with store.db.reader.connect() as connection:
                modes.append((await connection.execute(text("PRAGMA journal_mode"))).scalar_one())
            await store.close()
        return modes

    for attempt in range(25):  # each lost the race about one time in ten before the fix
        assert await open_at_once(tmp_path / f"new-{attempt}.db") == ["wal"] * 4


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_the_async_driver(url: str, driver: str, tmp_path: Path) -> None:
    if url.startswith("sqlite"):
        url = url.replace("x.db", str(tmp_path / "x.db"))
    assert open_database(url).reader.url.drivername == driver


@pytest.mark.parametrize(
    ("url", "schema", "setting"),
    [
        ("mysql://u@h/db", None, "PROCTOR_DATABASE_URL"),
        ("not a url", None, "PROCTOR_DATABASE_URL"),
        ("postgresql://u@h/db", "Robert'); DROP", "schema"),
        ("sqlite:///x.db", "s", "schema"),
    ],
)
def test_bad_urls_and_schemas_name_the_setting(url: str, schema: str | None, setting: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        open_database(url, schema=schema)
    assert raised.value.setting == setting


async def test_an_unreachable_database_is_reported_without_its_password() -> None:
    with pytest.raises(StoreUnavailableError) as raised:
        await Store.open("postgresql://postgres:s3cret-pw@127.0.0.1:1/test")
    assert "s3cret-pw" not in str(raised.value)


async def test_sqlite_keeps_storing_times_as_sqlalchemy_datetime_text(tmp_path: Path) -> None:
    """Times written now compare and sort with those a store wrote before (same text)."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        dialect = store.db.writer.dialect
        standard = DateTime().dialect_impl(dialect).bind_processor(dialect)
        assert standard is not None
        paris = timezone(timedelta(hours=1))
        times = [datetime(2026, 11, 1, 13, 0, tzinfo=paris), datetime(7, 1, 2, 3, 4, 5, 6, UTC)]
        async with store.writing() as connection:
            for i, at in enumerate(times):
                row = {"id": uuid.uuid4(), "name": f"flow-{i}", "first_seen": at}
                await insert_ignoring_duplicates(connection, table_of(FlowRow), {row["id"]: row})
        async with store.reading() as connection:
            stored = (await connection.execute(text("SELECT first_seen FROM flow"))).scalars()
            assert sorted(stored) == sorted(standard(t.astimezone(UTC)) for t in times)
        assert [f.first_seen for f in (await store.runs.flows()).items] == [
            t.astimezone(UTC) for t in times
        ]
    finally:
        await store.close()
