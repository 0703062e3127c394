"""Runtime: deployment concurrency, catch-up and job variables; work queues of a pool.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel column types)
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("catch_up", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("concurrency_limit", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("collision_strategy", sa.String(), nullable=False, server_default="enqueue")
        )
        batch_op.add_column(
            sa.Column("job_variables", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("work_pool", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queues", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("work_pool", schema=None) as batch_op:
        batch_op.drop_column("queues")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("job_variables")
        batch_op.drop_column("collision_strategy")
        batch_op.drop_column("concurrency_limit")
        batch_op.drop_column("catch_up")
