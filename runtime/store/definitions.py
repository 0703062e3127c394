"""Reading and writing the control plane: deployments, work pools, automations, webhooks and
API tokens. One generic repository; the rows are storage models the API maps to its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from proctor.core.errors import ConflictError, QueryError
from proctor.runtime.store.columns import StoreModel, table_of
from proctor.runtime.store.engine import Database
from proctor.runtime.store.querying import (
    Repository,
    check_limit,
    offset_page,
    read_offset,
    unavailable_as_store_error,
)
from proctor.runtime.store.records import Page

__all__ = ("DefinitionRepository",)

RowT = TypeVar("RowT", bound=StoreModel)


class DefinitionRepository(Repository, Generic[RowT]):
    """Create, read, update and delete rows of one control-plane table.

    ``created``/``updated`` columns, where the table has them, are stamped from ``clock``.
    A clash with a unique column raises ``ConflictError`` naming the column.
    """

    def __init__(self, db: Database, model: type[RowT], clock: Callable[[], datetime]) -> None:
        super().__init__(db)
        self.model = model
        self.table = table_of(model)
        self._clock = clock
        self._unique = [
            column.name
            for constraint in self.table.constraints
            if constraint.__class__.__name__ == "UniqueConstraint"
            for column in constraint.columns  # type: ignore[attr-defined]
        ]

    def _session(self, *, write: bool) -> AsyncSession:
        engine = self.db.writer if write else self.db.reader
        return AsyncSession(engine, expire_on_commit=False)

    def _check_fields(self, fields: dict[str, Any]) -> None:
        for name in fields:
            if name not in self.table.c:
                raise QueryError(f"{self.table.name} has no field {name!r}", field=name)

    async def get(self, row_id: UUID) -> RowT | None:
        """The row with ``row_id``, or ``None``."""
        with unavailable_as_store_error():
            async with self._session(write=False) as session:
                return await session.get(self.model, row_id)

    async def find(self, **equal: Any) -> RowT | None:
        """The first row whose fields equal ``equal`` (``find(name="prod")``), or ``None``."""
        page = await self.list(limit=1, **equal)
        return page.items[0] if page.items else None

    async def list(
        self, *, limit: int = 100, page_token: str | None = None, **equal: Any
    ) -> Page[RowT]:
        """Rows whose fields equal ``equal``, by name (then id), a page at a time."""
        self._check_fields(equal)
        limit, offset = check_limit(limit), read_offset(page_token)
        c = self.table.c
        order = [c.name, c.id] if "name" in c else [c.id]
        statement = (
            select(self.model)
            .where(*(c[name] == value for name, value in equal.items()))
            .order_by(*order)
            .offset(offset)
            .limit(limit + 1)
        )
        with unavailable_as_store_error():
            async with self._session(write=False) as session:
                rows = list((await session.exec(statement)).all())
        return offset_page(rows, offset=offset, limit=limit)

    async def create(self, row: RowT) -> RowT:
        """Store a new row (``ConflictError`` if a unique field's value is taken)."""
        now = self._clock()
        for stamp in ("created", "updated"):
            if stamp in self.table.c:
                setattr(row, stamp, now)
        await self._commit(row)
        return row

    async def update(self, row_id: UUID, **changes: Any) -> RowT | None:
        """Change fields of a row; ``None`` if there is no such row."""
        self._check_fields(changes)
        if "id" in changes:
            raise QueryError("a row's id cannot change", field="id")
        row = await self.get(row_id)
        if row is None:
            return None
        for name, value in changes.items():
            setattr(row, name, value)
        if "updated" in self.table.c:
            setattr(row, "updated", self._clock())  # noqa: B010  (not every row has it)
        await self._commit(row)
        return row

    async def _commit(self, row: RowT) -> None:
        try:
            with unavailable_as_store_error():
                async with self._session(write=True) as session, session.begin():
                    session.add(row)
        except IntegrityError as error:
            raise self._conflict(row, error) from None

    def _conflict(self, row: RowT, error: IntegrityError) -> ConflictError:
        message = str(error.orig).lower()
        clashing = [name for name in self._unique if name in message] or self._unique or ["id"]
        values = ", ".join(f"{name}={getattr(row, name)!r}" for name in clashing)
        return ConflictError(
            f"a {self.table.name.replace('_', ' ')} with {values} exists already",
            field=clashing[-1],
        )

    async def delete(self, row_id: UUID) -> bool:
        """Delete a row; ``False`` if there was none."""
        with unavailable_as_store_error():
            async with self._session(write=True) as session, session.begin():
                row = await session.get(self.model, row_id)
                if row is None:
                    return False
                await session.delete(row)
                return True
