"""An account its owner closed is told apart from one the operator disabled:
``accounts.closed_at``. Closing sets it beside ``disabled_at`` (every credential check
reads ``disabled_at``), and ``payreq admin enable-account`` refuses an account with it,
so that undoing an operator's disable never reopens what its owner closed.

Accounts closed before this revision are found in their audit log: an
``account.closed`` entry that no ``account.enabled`` followed (an operator's enable
used to reopen a closed account).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import Timestamp

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("closed_at", Timestamp, nullable=True))
    op.execute(
        """
        UPDATE accounts SET closed_at = disabled_at
        WHERE disabled_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM audit_entries c
            WHERE c.account_id = accounts.id AND c.action = 'account.closed'
              AND NOT EXISTS (
                  SELECT 1 FROM audit_entries e
                  WHERE e.account_id = c.account_id AND e.action = 'account.enabled' AND e.seq > c.seq
              )
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("closed_at")
