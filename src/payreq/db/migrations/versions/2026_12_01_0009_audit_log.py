"""The audit log (issue 13): hash-chained entries, their per-account heads, triggers
that refuse UPDATE and DELETE on entries; the request headers of webhook attempts;
the indexes of the dashboard's overview and webhook health.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import UUID, Timestamp

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_payments_tenant_paid", "payments", ["account_id", "environment", "paid_at", "currency", "amount"]),
    (
        "ix_payments_tenant_outcomes",
        "payments",
        ["account_id", "environment", "created_at", "status", "expires_at", "paid_at"],
    ),
    ("ix_webhook_deliveries_application", "webhook_deliveries", ["application_id", "created_at"]),
    ("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempted_at"]),
    ("ix_statement_lines_tenant_outcome", "statement_lines", ["account_id", "environment", "outcome"]),
)
"""The dashboard's reads: the overview's figures, an endpoint's health."""

_PG_FUNCTION = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_audit_entries_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_audit_entries_account_id_seq")),
    )
    op.create_index("ix_audit_entries_account_at", "audit_entries", ["account_id", "at"], unique=False)
    op.create_index("ix_audit_entries_target", "audit_entries", ["account_id", "target_id"], unique=False)
    op.create_table(
        "audit_heads",
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_audit_heads_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_audit_heads")),
    )
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.add_column(sa.Column("request_headers", sa.Text(), nullable=True))
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_entries_no_{verb.lower()} BEFORE {verb} ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_entries_no_{verb}")
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.drop_column("request_headers")
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    op.drop_index("ix_audit_entries_account_at", table_name="audit_entries")
    op.drop_table("audit_entries")
