"""Hardening for open sign-up (issue 11): an account's own rate limit, the event log's
commit order, and the indexes the retention sweeps read by.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETENTION_INDEXES = (
    ("events", "created_at"),
    ("webhook_attempts", "attempted_at"),
    ("statement_lines", "created_at"),
    ("statement_imports", "created_at"),
)


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild on SQLite, which would lose the declared column
    # types that the stdlib driver converts by); every insert sets log_position
    op.add_column("accounts", sa.Column("rate_limit", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("log_position", sa.BigInteger(), nullable=True))
    # events written before: negative positions in their old order, below every new
    # one (SQLite counts up from the highest; PostgreSQL uses transaction ids)
    op.execute(
        """
        UPDATE events SET log_position = -(
            SELECT ranked.pos FROM (
                SELECT id, ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS pos FROM events
            ) ranked WHERE ranked.id = events.id
        )
        """
    )
    op.create_index("ix_events_tenant_log", "events", ["account_id", "environment", "log_position", "id"])
    op.create_index("ix_events_log_position", "events", ["log_position"])
    for table, column in RETENTION_INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in RETENTION_INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_index("ix_events_log_position", table_name="events")
    op.drop_index("ix_events_tenant_log", table_name="events")
    with op.batch_alter_table("events", recreate="never") as batch:
        batch.drop_column("log_position")
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.drop_column("rate_limit")
