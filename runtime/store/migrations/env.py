"""Alembic environment: runs on the connection ``proctor.runtime.store.migrate`` hands it."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

import proctor.runtime.store.control
import proctor.runtime.store.tables  # noqa: F401  (registers the tables in the metadata)
from proctor.runtime.store.columns import UTCDateTime, metadata


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our column types as the plain SQLAlchemy types they store as, so migration
    scripts stay independent of the application code."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, AutoString):
        return "sa.String()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run the store's migrations with proctor.runtime.store.migrate (it opens the "
        "connection), not with the alembic command"
    )
_run(connection)
