"""The overview's per-day rollups of payments (issue 13), backfilled from every
existing payment: by creation day, currency and status; paid by payment day and
currency; the seconds to pay by creation day, coarse bucket and exact second. The two
payment indexes 0009 made for the overview's scans give way to one for the pending
payments past their deadline, the one figure still read from payments.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from payreq.db.types import UUID

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_INDEXES = (
    ("ix_payments_tenant_paid", ["account_id", "environment", "paid_at", "currency", "amount"]),
    (
        "ix_payments_tenant_outcomes",
        ["account_id", "environment", "created_at", "status", "expires_at", "paid_at"],
    ),
)
_NEW_INDEX = (
    "ix_payments_tenant_status",
    ["account_id", "environment", "status", "expires_at", "created_at"],
)
_CURRENCY = sa.String(length=3)
_TABLES = ("payment_pay_seconds", "payment_pay_times", "payment_paid_daily", "payment_daily")


def _create(table: str, key: list[tuple[str, sa.types.TypeEngine[Any]]], *extra: sa.CheckConstraint) -> None:
    """A rollup table: the tenant, ``key`` and the slot (the last hex digit of the
    payment id) as its primary key, then its payments (and for a table with a currency,
    their amount)."""
    amount = [sa.Column("amount", sa.BigInteger(), nullable=False)] if ("currency", _CURRENCY) in key else []
    op.create_table(
        table,
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        *(sa.Column(name, type_, nullable=False) for name, type_ in key),
        sa.Column("slot", sa.String(length=1), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        *amount,
        *extra,
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "environment", *(n for n, _ in key), "slot", name=op.f(f"pk_{table}")
        ),
    )


def _backfill(dialect: str) -> list[str]:
    """The payment rows counted as payment/rollup_repository.py counts each change
    (frozen here as of this revision). The SQL is built from the constants above only."""
    if dialect == "postgresql":
        created, paid = (f"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD')" for c in ("created_at", "paid_at"))
        seconds = "CAST(EXTRACT(EPOCH FROM paid_at - created_at) AS BIGINT)"
        slot = "right(id::text, 1)"
    else:
        created, paid = "substr(created_at, 1, 10)", "substr(paid_at, 1, 10)"
        seconds = "CAST(ROUND((julianday(paid_at) - julianday(created_at)) * 86400) AS INTEGER)"
        slot = "substr(id, 36, 1)"
    widths = ((60, 1), (600, 10), (3600, 60), (86_400, 600), (30 * 86_400, 3600))
    bucket = (
        "CASE WHEN s < 0 THEN -1 "
        + " ".join(f"WHEN s < {below} THEN s - s % {width}" for below, width in widths)
        + " ELSE s - s % 86400 END"
    )
    return [
        f"""INSERT INTO payment_daily (account_id, environment, day, currency, status, slot, payments, amount)
        SELECT account_id, environment, {created}, currency, status, {slot}, COUNT(*), SUM(amount)
        FROM payments GROUP BY 1, 2, 3, 4, 5, 6""",  # noqa: S608 (constants only)
        f"""INSERT INTO payment_paid_daily (account_id, environment, day, currency, slot, payments, amount)
        SELECT account_id, environment, {paid}, currency, {slot}, COUNT(*), SUM(amount)
        FROM payments WHERE paid_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",  # noqa: S608 (constants only)
        f"""INSERT INTO payment_pay_seconds (account_id, environment, bucket, day, seconds, slot, payments)
        SELECT account_id, environment, {bucket}, day, s, slot, COUNT(*)
        FROM (SELECT account_id, environment, {created} AS day, {seconds} AS s, {slot} AS slot
              FROM payments WHERE paid_at IS NOT NULL) AS paid GROUP BY 1, 2, 3, 4, 5, 6""",  # noqa: S608 (constants only)
        """INSERT INTO payment_pay_times (account_id, environment, day, bucket, slot, payments)
        SELECT account_id, environment, day, bucket, slot, SUM(payments) FROM payment_pay_seconds
        GROUP BY 1, 2, 3, 4, 5""",
    ]


def upgrade() -> None:
    day, bucket = ("day", sa.String(length=10)), ("bucket", sa.BigInteger())
    _create(
        "payment_daily",
        [day, ("currency", _CURRENCY), ("status", sa.String(length=16))],
        sa.CheckConstraint("payments >= 0 AND amount >= 0", name=op.f("ck_payment_daily_counts")),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'expired', 'cancelled')", name=op.f("ck_payment_daily_status")
        ),
    )
    _create("payment_paid_daily", [day, ("currency", _CURRENCY)])
    _create("payment_pay_times", [day, bucket])
    _create("payment_pay_seconds", [bucket, day, ("seconds", sa.BigInteger())])
    for sql in _backfill(op.get_bind().dialect.name):
        op.execute(sql)
    op.create_index(_NEW_INDEX[0], "payments", _NEW_INDEX[1])
    for name, _ in _OLD_INDEXES:
        op.drop_index(name, table_name="payments")


def downgrade() -> None:
    for name, columns in _OLD_INDEXES:
        op.create_index(name, "payments", columns)
    op.drop_index(_NEW_INDEX[0], table_name="payments")
    for table in _TABLES:
        op.drop_table(table)
