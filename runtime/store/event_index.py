"""Querying the events index: by name filter, resource, related resource and time, paged."""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, and_, exists, or_, select

from proctor.core.errors import QueryError
from proctor.events.model import Event
from proctor.events.names import NameFilter
from proctor.runtime.store.columns import table_of
from proctor.runtime.store.filters import EventFilter
from proctor.runtime.store.querying import Repository, check_limit, time_range
from proctor.runtime.store.records import Page, decode_page_token, encode_page_token
from proctor.runtime.store.tables import EventResourceRow, EventRow

__all__ = ("EventRepository", "name_condition")

EVENT = table_of(EventRow)
RESOURCE = table_of(EventResourceRow)
_TOKEN = "[A-Za-z0-9_-]"
_KEYSET = frozenset({"occurred", "id", "order"})


def _token_pattern(token: str) -> str:
    if token == "*":
        return f"{_TOKEN}+"
    if token.endswith("*"):
        return re.escape(token[:-1]) + f"{_TOKEN}*"
    return re.escape(token)


def name_condition(column: object, name_filter: NameFilter) -> ColumnElement[bool]:
    """SQL for ``name_filter.matches(column)``: a LIKE on the literal prefix (uses the index),
    then a regular expression with the filter's exact token semantics."""
    assert isinstance(column, ColumnElement)
    if name_filter.is_exact:
        return column == name_filter.pattern
    tokens = name_filter.pattern.split(".")
    tail = tokens[-1] == ">"
    if tail:
        tokens = tokens[:-1]
    literal: list[str] = []
    for token in tokens:
        if token.endswith("*"):
            break
        literal.append(token)
    parts = [_token_pattern(t) for t in tokens]
    pattern = "^" + r"\.".join(parts) + (r"(\.[A-Za-z0-9_-]+)+" if tail else "") + "$"
    condition: ColumnElement[bool] = column.regexp_match(pattern)
    if literal:
        prefix = ".".join(literal) + "."
        condition = and_(column.startswith(prefix, autoescape=True), condition)
    return condition


def _id_condition(column: object, patterns: list[str]) -> ColumnElement[bool]:
    assert isinstance(column, ColumnElement)
    return or_(
        *(
            column.startswith(p[:-1], autoescape=True) if p.endswith("*") else column == p
            for p in patterns
        )
    )


def _conditions(where: EventFilter) -> list[ColumnElement[bool]]:
    c = EVENT.c
    conditions: list[ColumnElement[bool]] = []
    if where.names is not None:
        conditions.append(or_(*(name_condition(c.event, f) for f in where.name_filters())))
    if where.resource_ids is not None:
        conditions.append(_id_condition(c.resource_id, where.resource_ids))
    if where.related_resource_ids is not None:
        related = RESOURCE.c
        conditions.append(
            exists(
                select(related.event_id).where(
                    related.event_id == c.id,
                    _id_condition(related.resource_id, where.related_resource_ids),
                )
            )
        )
    conditions += time_range(c.occurred, where.occurred_after, where.occurred_before, "occurred")
    return conditions


class EventRepository(Repository):
    """The events index the recorder keeps: every event of the stream, queryable."""

    async def get(self, event_id: UUID) -> Event | None:
        """One event by id, or ``None``."""
        async with self.reading() as connection:
            data = (
                await connection.execute(select(EVENT.c.data).where(EVENT.c.id == event_id))
            ).scalar_one_or_none()
        return Event.model_validate_json(data) if data is not None else None

    async def query(
        self, where: EventFilter | None = None, *, limit: int = 100, page_token: str | None = None
    ) -> Page[Event]:
        """Events matching ``where``, newest first unless ``where.order`` is ``asc``.

        Pages are keyset pages: events recorded meanwhile never shift or repeat a page.
        """
        where = where or EventFilter()
        limit = check_limit(limit)
        c = EVENT.c
        conditions = _conditions(where)
        descending = where.order == "desc"
        if page_token is not None:
            occurred, event_id = self._position(page_token, where.order)
            if descending:
                after = or_(c.occurred < occurred, and_(c.occurred == occurred, c.id < event_id))
            else:
                after = or_(c.occurred > occurred, and_(c.occurred == occurred, c.id > event_id))
            conditions.append(after)
        order = [c.occurred.desc(), c.id.desc()] if descending else [c.occurred, c.id]
        statement = select(c.occurred, c.id, c.data).where(*conditions).order_by(*order)
        async with self.reading() as connection:
            rows = list((await connection.execute(statement.limit(limit + 1))).all())
        events = [Event.model_validate_json(row.data) for row in rows[:limit]]
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = encode_page_token(
                {"occurred": last.occurred.isoformat(), "id": str(last.id), "order": where.order}
            )
        return Page[Event](items=events, next_page=token)

    @staticmethod
    def _position(page_token: str, order: str) -> tuple[datetime, UUID]:
        position = decode_page_token(page_token, keys=_KEYSET)
        if position["order"] != order:
            raise QueryError(
                "page_token belongs to a listing in the other order: keep the same filter",
                field="page_token",
            )
        try:
            return datetime.fromisoformat(position["occurred"]), UUID(position["id"])
        except (TypeError, ValueError):
            raise QueryError(
                "page_token is damaged: pass next_page back unchanged", field="page_token"
            ) from None
