"""A camt line is also known by its entry's reference: ``statement_lines.entry_key``.

An entry with one transaction may carry two bank references, the entry's
``AcctSvcrRef`` (E) and the transaction's (T); a camt.054 often gives only E and the
day's camt.053 both. The line's identity stays ``line_key`` (T, else E); ``entry_key``
keeps E beside it, so that the later file's line is found by either (see
``Reconciler._earlier``). Lines remembered before this revision have no ``entry_key``:
one known by its T is found by E only once a file gave it both again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("statement_lines") as batch:
        batch.add_column(sa.Column("entry_key", sa.String(64), nullable=True))
    op.create_index(
        "ix_statement_lines_tenant_entry_key", "statement_lines", ["account_id", "environment", "entry_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_statement_lines_tenant_entry_key", table_name="statement_lines")
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_column("entry_key")
