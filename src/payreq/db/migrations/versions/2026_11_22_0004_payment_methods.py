"""Payment methods: bank-transfer references and statement imports (issue 6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import UUID, Timestamp

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _environment(table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        "environment IN ('sandbox', 'production')", name=op.f(f"ck_{table}_environment")
    )


def upgrade() -> None:
    op.create_table(
        "transfer_references",
        sa.Column("payment_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _environment("transfer_references"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_transfer_references_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_transfer_references_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_transfer_references")),
        sa.UniqueConstraint("reference", name=op.f("uq_transfer_references_reference")),
    )
    op.create_table(
        "statement_imports",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("line_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        _environment("statement_imports"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_statement_imports_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_imports")),
    )
    op.create_index(
        "ix_statement_imports_tenant_created",
        "statement_imports",
        ["account_id", "environment", "created_at"],
        unique=False,
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", UUID, nullable=False),
        sa.Column("import_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("line_key", sa.String(length=64), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("reference", sa.String(length=35), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("booking_date", sa.String(length=10), nullable=True),
        sa.Column("bank_reference", sa.String(length=255), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        _environment("statement_lines"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_statement_lines_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["statement_imports.id"],
            name=op.f("fk_statement_lines_import_id_statement_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_statement_lines_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint(
            "account_id",
            "environment",
            "line_key",
            name=op.f("uq_statement_lines_account_id_environment_line_key"),
        ),
    )
    op.create_index(op.f("ix_statement_lines_import_id"), "statement_lines", ["import_id"], unique=False)
    op.create_index(op.f("ix_statement_lines_payment_id"), "statement_lines", ["payment_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_statement_lines_payment_id"), table_name="statement_lines")
    op.drop_index(op.f("ix_statement_lines_import_id"), table_name="statement_lines")
    op.drop_table("statement_lines")
    op.drop_index("ix_statement_imports_tenant_created", table_name="statement_imports")
    op.drop_table("statement_imports")
    op.drop_table("transfer_references")
