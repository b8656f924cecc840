"""This feature's tables, on the shared metadata (``payreq.db.tables`` imports this
module so that Alembic and the tests see them).

- ``transfer_references``: the ISO 11649 creditor reference a payer quotes on a bank
  transfer, one per payment, unique across the installation.
- ``statement_imports``: one row per imported bank statement: its status (running,
  finished, failed), how far it got and the count of each outcome.
- ``statement_report_lines``: what an import did with each line of its file, one row
  per line, written in the same transaction as the line's effect (so a report is
  paged when read back, and an import that stopped half-way shows what it applied).
- ``statement_lines``: every booked line ever imported, by a stable identity (the
  bank's own reference, or a digest of the line), so that a second import of the same
  line is recognised and never applied twice (a camt line also by its entry's
  reference, ``entry_key``). A late, partial or overpaid line is
  resolved here (accepted or refund due), once, by whom and when.
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import metadata
from payreq.db.types import UUID, Timestamp

__all__ = [
    "metadata",
    "statement_imports",
    "statement_lines",
    "statement_report_lines",
    "transfer_references",
]


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
    sa.Column("lines_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False, server_default="finished"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    # when a running import last committed a batch (its start, at first): one that
    # stops making progress was interrupted (repository.interrupt_stale_imports)
    sa.Column("progress_at", Timestamp, nullable=True),
    sa.Index("ix_statement_imports_tenant_created", "account_id", "environment", "created_at"),
    sa.Index("ix_statement_imports_running", "status", "progress_at"),
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
    # a camt entry's reference (E) beside the line's own (a transaction's T), or alone
    # (= line_key): a later line with only E, or with E and no T, is this line
    sa.Column("entry_key", sa.String(64), nullable=True),
    sa.Column("line_number", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=True, index=True),
    sa.Column("reference", sa.String(35), nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("booking_date", sa.String(10), nullable=True),
    sa.Column("bank_reference", sa.String(255), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("resolution", sa.String(16), nullable=True),
    sa.Column("resolved_by", sa.String(80), nullable=True),
    sa.Column("resolved_at", Timestamp, nullable=True),
    sa.UniqueConstraint("account_id", "environment", "line_key"),
    sa.Index("ix_statement_lines_tenant_entry_key", "account_id", "environment", "entry_key"),
    # the overview: lines waiting to be resolved
    sa.Index("ix_statement_lines_tenant_outcome", "account_id", "environment", "outcome"),
    sa.Index("ix_statement_lines_created_at", "created_at"),  # retention
    _env_check(),
)

statement_report_lines = sa.Table(
    "statement_report_lines",
    metadata,
    sa.Column("import_id", UUID, sa.ForeignKey("statement_imports.id"), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("statement_line_id", UUID, sa.ForeignKey("statement_lines.id"), nullable=True, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("direction", sa.String(8), nullable=True),
    sa.Column("booking_date", sa.String(10), nullable=True),
    sa.Column("bank_reference", sa.String(255), nullable=True),
    sa.Column("payer", sa.String(140), nullable=True),
    sa.Column("transfer_reference", sa.String(35), nullable=True),
    sa.Column("payment_id", UUID, nullable=True),
    sa.Column("payment_status", sa.String(16), nullable=True),
)
