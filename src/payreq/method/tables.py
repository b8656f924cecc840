"""This feature's tables, on the shared metadata (``payreq.db.tables`` imports this
module so that Alembic and the tests see them).

- ``transfer_references``: the ISO 11649 creditor reference a payer quotes on a bank
  transfer, one per payment, unique across the installation.
- ``statement_imports``: one row per imported bank statement, with its per-line report.
- ``statement_lines``: every booked line ever imported, by a stable identity (the
  bank's own reference, or a digest of the line), so that a second import of the same
  line is recognised and never applied twice.
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import metadata
from payreq.db.types import UUID, Timestamp

__all__ = ["metadata", "statement_imports", "statement_lines", "transfer_references"]


def _env_check() -> sa.CheckConstraint:
    return sa.CheckConstraint("environment IN ('sandbox', 'production')", name="environment")


transfer_references = sa.Table(
    "transfer_references",
    metadata,
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("reference", sa.String(35), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    _env_check(),
)

statement_imports = sa.Table(
    "statement_imports",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("filename", sa.String(255), nullable=True),
    sa.Column("line_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Index("ix_statement_imports_tenant_created", "account_id", "environment", "created_at"),
    sa.Index("ix_statement_imports_created_at", "created_at"),  # retention
    _env_check(),
)

statement_lines = sa.Table(
    "statement_lines",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("import_id", UUID, sa.ForeignKey("statement_imports.id"), nullable=False, index=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("line_key", sa.String(64), nullable=False),
    sa.Column("line_number", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=True, index=True),
    sa.Column("reference", sa.String(35), nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("booking_date", sa.String(10), nullable=True),
    sa.Column("bank_reference", sa.String(255), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("account_id", "environment", "line_key"),
    sa.Index("ix_statement_lines_created_at", "created_at"),  # retention
    _env_check(),
)
