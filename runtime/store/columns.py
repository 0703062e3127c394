"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import DateTime, Dialect, MetaData, Table, inspect
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

__all__ = ("StoreModel", "UTCDateTime", "metadata", "table_of")

_SQLITE_DATETIME_CHARS: Final = len("2026-11-01 12:00:00.000000")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""The store's own metadata (named constraints, so SQLite batch migrations can find them)."""


class StoreModel(SQLModel):
    """Base of every store table: registers in the store's ``metadata`` only."""

    metadata: ClassVar[MetaData] = metadata


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite would drop the timezone).

    Naive datetimes are refused: a time without a zone is a bug at the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """``process_bind_param`` and, on SQLite, the text SQLAlchemy stores a ``DATETIME``
        as (``YYYY-MM-DD HH:MM:SS.ffffff``), in one call: the recorder binds several
        datetimes per event, and the chain of three calls cost more than the insert."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            return _utc(value).isoformat(" ", "microseconds")[:_SQLITE_DATETIME_CHARS]

        return to_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store: add tzinfo")
    return value.astimezone(UTC)


def table_of(model: type[StoreModel]) -> Table:
    """The table of a store model."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table
