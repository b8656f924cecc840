"""When a statement import last made progress, so that one whose process stopped
(killed, crashed) is recorded as interrupted instead of reading ``running`` for ever.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import Timestamp

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("statement_imports") as batch:
        batch.add_column(sa.Column("progress_at", Timestamp, nullable=True))
    # an import running now counts from when it began; a finished one needs none
    op.execute("UPDATE statement_imports SET progress_at = created_at WHERE status = 'running'")
    op.create_index(
        "ix_statement_imports_running", "statement_imports", ["status", "progress_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_statement_imports_running", table_name="statement_imports")
    with op.batch_alter_table("statement_imports") as batch:
        batch.drop_column("progress_at")
