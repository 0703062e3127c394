"""Shared helpers of the store's repositories: connections, limits, pages, filters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, func, literal_column, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import cast

from proctor.core.errors import QueryError, StoreUnavailableError
from proctor.runtime.store.engine import Database
from proctor.runtime.store.records import Page, decode_page_token, encode_page_token

__all__ = (
    "MAX_PAGE_SIZE",
    "Repository",
    "check_limit",
    "has_all_tags",
    "offset_page",
    "read_offset",
    "time_range",
    "unavailable_as_store_error",
)

MAX_PAGE_SIZE = 1000
T = TypeVar("T")
_OFFSET = frozenset({"offset"})


class Repository:
    """Base of a repository: reads through ``db.reader``, writes through ``db.writer``, each
    operation within ``db.timeout_s``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction."""
        with unavailable_as_store_error():
            async with self.db.bounded(), self.db.reader.connect() as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on
        success."""
        with unavailable_as_store_error():
            async with self.db.bounded(), self.db.writer.begin() as connection:
                yield connection


@contextlib.contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """Turn "cannot use the database right now" (unreachable, locked, out of disk: what
    SQLAlchemy calls operational errors; a connection lost in the middle of a statement)
    into ``StoreUnavailableError``.

    A lost connection matters most: PostgreSQL killing a backend (a restart, a failover,
    ``pg_terminate_backend``) reaches asyncpg's driver as a plain ``DBAPIError``, or as an
    ``InternalError`` on its next use, neither an operational error. SQLAlchemy marks both
    ``connection_invalidated`` (and drops the connection from its pool): the same statement
    on a new connection may succeed, so they are unavailability, not a refusal of the data.
    """
    try:
        yield
    except DBAPIError as error:
        lost = error.connection_invalidated
        if not (lost or isinstance(error, OperationalError | InterfaceError)):
            raise
        raise _unavailable(error.orig if error.orig is not None else error) from None
    except (SQLAlchemyTimeoutError, OSError) as error:  # no pooled connection free; no answer
        raise _unavailable(error) from None


def _unavailable(reason: BaseException) -> StoreUnavailableError:
    detail = str(reason) or (
        "no answer in time" if isinstance(reason, TimeoutError) else type(reason).__name__
    )
    return StoreUnavailableError(f"the store's database is unavailable: {detail}")


def check_limit(limit: int) -> int:
    """``limit`` if it is 1 to ``MAX_PAGE_SIZE``, else ``QueryError`` on ``limit``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise QueryError(f"limit must be 1 to {MAX_PAGE_SIZE}, not {limit}", field="limit")
    return limit


def read_offset(page_token: str | None) -> int:
    """The offset a page token of an offset listing holds (0 without one)."""
    if page_token is None:
        return 0
    offset = decode_page_token(page_token, keys=_OFFSET)["offset"]
    if not isinstance(offset, int) or offset < 0:
        raise QueryError("page_token is damaged: pass next_page back unchanged", field="page_token")
    return offset


def offset_page(items: Sequence[T], *, offset: int, limit: int) -> Page[T]:
    """A page from ``limit + 1`` fetched items (the extra one says there is a next page)."""
    more = len(items) > limit
    token = encode_page_token({"offset": offset + limit}) if more else None
    return Page[T](items=list(items[:limit]), next_page=token)


def time_range(
    column: Any, after: datetime | None, before: datetime | None, field: str
) -> list[ColumnElement[bool]]:
    """Conditions for ``after <= column < before``; ``QueryError`` for naive times."""
    conditions: list[ColumnElement[bool]] = []
    for bound, suffix in ((after, "after"), (before, "before")):
        if bound is None:
            continue
        if bound.tzinfo is None or bound.utcoffset() is None:
            raise QueryError(
                f"{field}_{suffix} is a naive datetime: give a timezone (e.g. '...Z')",
                field=f"{field}_{suffix}",
            )
        conditions.append(column >= bound if suffix == "after" else column < bound)
    return conditions


def has_all_tags(dialect: str, column: Any, tags: Sequence[str]) -> list[ColumnElement[bool]]:
    """Conditions that the JSON list ``column`` holds every one of ``tags``."""
    if not tags:
        return []
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB  # loaded only where it is used

        return [cast(column, JSONB).contains(list(tags))]
    conditions: list[ColumnElement[bool]] = []
    for tag in tags:
        each = func.json_each(column).table_valued("value")
        conditions.append(
            exists(select(literal_column("1")).select_from(each).where(each.c.value == tag))
        )
    return conditions
