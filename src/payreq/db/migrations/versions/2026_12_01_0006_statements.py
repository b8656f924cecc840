"""Bank transfers (issue 10): the account's time zone, statement reports as rows
(paged, written line by line), import status, and resolutions of statement lines.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import UUID, Timestamp

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPORT_COLUMNS = {
    "line": "line",
    "outcome": "outcome",
    "message": "message",
    "amount": "amount",
    "currencyCode": "currency",
    "direction": "direction",
    "bookingDate": "booking_date",
    "bankReference": "bank_reference",
    "payer": "payer",
    "transferReference": "transfer_reference",
    "paymentId": "payment_id",
    "paymentStatus": "payment_status",
}


def _report_lines() -> sa.TableClause:
    return sa.table(
        "statement_report_lines",
        sa.column("import_id", UUID),
        *(sa.column(name) for name in _REPORT_COLUMNS.values()),
    )


def upgrade() -> None:
    # plain ADD/DROP COLUMN (SQLite 3.35+ has both): a batch would copy the tables and
    # lose SQLite's declared column types
    op.add_column("accounts", sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    op.add_column("statement_lines", sa.Column("resolution", sa.String(16), nullable=True))
    op.add_column("statement_lines", sa.Column("resolved_by", sa.String(80), nullable=True))
    op.add_column("statement_lines", sa.Column("resolved_at", Timestamp, nullable=True))
    op.create_table(
        "statement_report_lines",
        sa.Column("import_id", UUID, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("statement_line_id", UUID, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("booking_date", sa.String(10), nullable=True),
        sa.Column("bank_reference", sa.String(255), nullable=True),
        sa.Column("payer", sa.String(140), nullable=True),
        sa.Column("transfer_reference", sa.String(35), nullable=True),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("payment_status", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["statement_imports.id"],
            name=op.f("fk_statement_report_lines_import_id_statement_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_statement_report_lines_statement_line_id_statement_lines"),
        ),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_statement_report_lines")),
    )
    op.create_index(
        op.f("ix_statement_report_lines_statement_line_id"),
        "statement_report_lines",
        ["statement_line_id"],
        unique=False,
    )
    # earlier imports kept their report as one JSON text: move it into rows
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, report FROM statement_imports WHERE report IS NOT NULL")).all()
    table = _report_lines()
    native_uuid = conn.dialect.name == "postgresql"
    for import_id, report in rows:
        lines = []
        for line in json.loads(report):
            values = {column: line.get(key) for key, column in _REPORT_COLUMNS.items()}
            if native_uuid and values["payment_id"]:
                values["payment_id"] = uuid.UUID(values["payment_id"])
            lines.append({"import_id": import_id, **values})
        if lines:
            conn.execute(table.insert(), lines)
    op.add_column(
        "statement_imports", sa.Column("lines_done", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "statement_imports", sa.Column("status", sa.String(16), nullable=False, server_default="finished")
    )
    op.add_column("statement_imports", sa.Column("error", sa.Text(), nullable=True))
    op.drop_column("statement_imports", "report")
    conn.execute(sa.text("UPDATE statement_imports SET lines_done = line_count"))


def downgrade() -> None:
    with op.batch_alter_table("statement_imports") as batch:
        batch.add_column(sa.Column("report", sa.Text(), nullable=True))
    conn = op.get_bind()
    table = _report_lines()
    reports: dict[object, list[dict[str, object]]] = {}
    for row in conn.execute(sa.select(table).order_by(table.c.import_id, table.c.line)).mappings():
        reports.setdefault(row["import_id"], []).append(
            {key: row[column] for key, column in _REPORT_COLUMNS.items() if row[column] is not None}
        )
    for import_id, lines in reports.items():
        conn.execute(
            sa.text("UPDATE statement_imports SET report = :report WHERE id = :id"),
            {"report": json.dumps(lines, default=str), "id": import_id},
        )
    with op.batch_alter_table("statement_imports") as batch:
        batch.drop_column("error")
        batch.drop_column("status")
        batch.drop_column("lines_done")
    op.drop_index(op.f("ix_statement_report_lines_statement_line_id"), table_name="statement_report_lines")
    op.drop_table("statement_report_lines")
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("resolved_by")
        batch.drop_column("resolution")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("timezone")
