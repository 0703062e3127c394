"""Run logs and dead letters: append-mostly listings read a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, or_, select

from proctor.core.errors import QueryError
from proctor.runtime.store.columns import table_of
from proctor.runtime.store.querying import Repository, check_limit, offset_page, read_offset
from proctor.runtime.store.records import (
    DeadLetterRecord,
    Page,
    RunLogRecord,
    decode_page_token,
    encode_page_token,
)
from proctor.runtime.store.tables import DeadLetterRow, RunLogRow
from proctor.runtime.store.writer import insert_ignoring_duplicates

__all__ = ("DeadLetterRepository", "LogRepository")

LOG = table_of(RunLogRow)
DEAD_LETTER = table_of(DeadLetterRow)
_KEYSET = frozenset({"timestamp", "id"})


class LogRepository(Repository):
    """Log lines of runs, written in batches (idempotently, by their ids)."""

    async def write(self, lines: Sequence[RunLogRecord]) -> None:
        """Store ``lines``; a line already stored (same id) is left as it is."""
        rows = {line.id: line.model_dump() for line in lines}
        async with self.writing() as connection:
            await insert_ignoring_duplicates(connection, LOG, rows)

    async def query(
        self,
        flow_run_id: UUID,
        *,
        task_run_id: UUID | None = None,
        min_level: int = 0,
        limit: int = 200,
        page_token: str | None = None,
    ) -> Page[RunLogRecord]:
        """The log lines of a flow run (or of one of its task runs), oldest first."""
        limit = check_limit(limit)
        c = LOG.c
        conditions = [c.flow_run_id == flow_run_id, c.level >= min_level]
        if task_run_id is not None:
            conditions.append(c.task_run_id == task_run_id)
        if page_token is not None:
            position = decode_page_token(page_token, keys=_KEYSET)
            try:
                timestamp = datetime.fromisoformat(position["timestamp"])
                line_id = UUID(position["id"])
            except (TypeError, ValueError):
                raise QueryError("page_token is damaged", field="page_token") from None
            conditions.append(
                or_(c.timestamp > timestamp, and_(c.timestamp == timestamp, c.id > line_id))
            )
        statement = select(LOG).where(*conditions).order_by(c.timestamp, c.id).limit(limit + 1)
        async with self.reading() as connection:
            rows = list((await connection.execute(statement)).mappings())
        lines = [RunLogRecord(**row) for row in rows[:limit]]
        token = None
        if len(rows) > limit:
            last = lines[-1]
            token = encode_page_token({"timestamp": last.timestamp.isoformat(), "id": str(last.id)})
        return Page[RunLogRecord](items=lines, next_page=token)


class DeadLetterRepository(Repository):
    """What the recorder dead-lettered, newest first."""

    async def get(self, dead_letter_id: UUID) -> DeadLetterRecord | None:
        """One dead letter, or ``None``."""
        statement = select(DEAD_LETTER).where(DEAD_LETTER.c.id == dead_letter_id)
        async with self.reading() as connection:
            row = (await connection.execute(statement)).mappings().one_or_none()
        return DeadLetterRecord(**row) if row is not None else None

    async def list(
        self, *, limit: int = 100, page_token: str | None = None
    ) -> Page[DeadLetterRecord]:
        """Dead letters, newest first."""
        limit, offset = check_limit(limit), read_offset(page_token)
        c = DEAD_LETTER.c
        statement = (
            select(DEAD_LETTER)
            .order_by(c.dead_lettered_at.desc(), c.stream_sequence.desc())
            .offset(offset)
            .limit(limit + 1)
        )
        async with self.reading() as connection:
            rows = list((await connection.execute(statement)).mappings())
        return offset_page([DeadLetterRecord(**row) for row in rows], offset=offset, limit=limit)
