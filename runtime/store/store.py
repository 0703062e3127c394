"""The store: the query side's database, its migrations, and its repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from sqlalchemy import text

from proctor.core.settings import ProctorSettings, mask_url
from proctor.events.model import utcnow
from proctor.runtime.store.control import (
    ApiTokenRow,
    AutomationRow,
    DeploymentRow,
    WebhookRow,
    WorkPoolRow,
)
from proctor.runtime.store.definitions import DefinitionRepository
from proctor.runtime.store.engine import Database, database_url, open_database
from proctor.runtime.store.event_index import EventRepository
from proctor.runtime.store.logs import DeadLetterRepository, LogRepository
from proctor.runtime.store.migrate import migrate
from proctor.runtime.store.projection import Projection
from proctor.runtime.store.querying import Repository, unavailable_as_store_error
from proctor.runtime.store.runs import RunRepository
from proctor.runtime.store.writer import write_projection

__all__ = ("Store",)


class Store(Repository):
    """Runs, states, logs, the events index and the control plane, on SQLite or PostgreSQL.

    ``await Store.open(url)`` (or ``Store.from_settings``) migrates the schema to the latest
    revision, then serves queries through its repositories: ``runs``, ``events``, ``logs``,
    ``dead_letters``, ``deployments``, ``work_pools``, ``automations``, ``webhooks``,
    ``api_tokens``. The recorder writes through ``record``.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(db)
        self.url = mask_url(db.reader.url.render_as_string(hide_password=False))
        self.runs = RunRepository(db)
        self.events = EventRepository(db)
        self.logs = LogRepository(db)
        self.dead_letters = DeadLetterRepository(db)
        self.deployments = DefinitionRepository(db, DeploymentRow, clock)
        self.work_pools = DefinitionRepository(db, WorkPoolRow, clock)
        self.automations = DefinitionRepository(db, AutomationRow, clock)
        self.webhooks = DefinitionRepository(db, WebhookRow, clock)
        self.api_tokens = DefinitionRepository(db, ApiTokenRow, clock)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        migrate_schema: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> Store:
        """Open the database at ``url`` and (by default) migrate it to the latest schema.

        ``StoreUnavailableError`` when the database cannot be reached.
        """
        store = cls(open_database(url, schema=schema), clock=clock)
        try:
            if migrate_schema:
                with unavailable_as_store_error():
                    await migrate(store.db)
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def from_settings(cls, settings: ProctorSettings | None = None) -> Store:
        """The store ``PROCTOR_DATABASE_URL`` names, or SQLite under ``PROCTOR_HOME``."""
        return await cls.open(database_url(settings or ProctorSettings()))

    async def record(self, projection: Projection) -> list[UUID]:
        """Write one recorder batch in one transaction; the ids of new dead letters."""
        async with self.writing() as connection:
            return await write_projection(connection, projection)

    async def ping(self) -> None:
        """Check that the database answers (``StoreUnavailableError`` if not)."""
        async with self.reading() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Close the connection pool."""
        await self.db.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
