"""Sign-up confirms the address first (audit finding F4): ``pending_signups`` holds a
sign-up until the link mailed to its address is followed (the digest of the link's
token, the business name, the password's argon2id hash, 24 hours, single use). Only the
digest is unique: a pending sign-up reserves no address, so it never blocks an
invitation or another sign-up.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import Timestamp

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_signups",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("account_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_pending_signups")),
    )
    op.create_index("ix_pending_signups_email", "pending_signups", ["email"])
    op.create_index("ix_pending_signups_expires_at", "pending_signups", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_signups_expires_at", table_name="pending_signups")
    op.drop_index("ix_pending_signups_email", table_name="pending_signups")
    op.drop_table("pending_signups")
