"""All SQL of the payment methods: transfer references, the sandbox's early expiry,
statement imports and their remembered lines. Every read is scoped to a tenant
(account and environment)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row
from payreq.db.base import placeholders

_TENANT = "account_id = :account_id AND environment = :environment"


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


# -- transfer references ----------------------------------------------------------


async def transfer_reference(conn: Connection, payment_id: UUID) -> str | None:
    row = await conn.fetch_one(
        "SELECT reference FROM transfer_references WHERE payment_id = :payment_id", {"payment_id": payment_id}
    )
    return None if row is None else str(row["reference"])


async def insert_transfer_reference(
    conn: Connection, *, payment_id: UUID, tenant: Tenant, reference: str, at: datetime
) -> bool:
    """False if the payment already has one, or the reference is taken (both unique)."""
    changed = await conn.execute(
        """
        INSERT INTO transfer_references (payment_id, account_id, environment, reference, created_at)
        VALUES (:payment_id, :account_id, :environment, :reference, :created_at)
        ON CONFLICT DO NOTHING
        """,
        {"payment_id": payment_id, **_tenant(tenant), "reference": reference, "created_at": at},
    )
    return changed == 1


async def payments_by_reference(conn: Connection, tenant: Tenant, references: Sequence[str]) -> list[Row]:
    """``(payment_id, reference)`` for those of ``references`` issued in this tenant."""
    if not references:
        return []
    marks, params = placeholders(list(references), "ref")
    rows = await conn.fetch_all(
        f"""
        SELECT payment_id, reference FROM transfer_references
        WHERE reference IN ({marks}) AND account_id = :account_id AND environment = :environment
        """,
        {**params, **_tenant(tenant)},
    )
    return list(rows)


# -- sandbox ----------------------------------------------------------------------


async def bring_deadline_forward(
    conn: Connection, tenant: Tenant, payment_id: UUID, *, now: datetime
) -> bool:
    """Sandbox only: a pending payment's deadline becomes ``now``, so that the
    lifecycle's own expiry takes it. Production payments are never touched."""
    changed = await conn.execute(
        """
        UPDATE payments SET expires_at = :now
        WHERE id = :id AND account_id = :account_id AND environment = :environment
          AND environment = 'sandbox' AND status = 'pending' AND expires_at > :now
        """,
        {"id": payment_id, "now": now, **_tenant(tenant)},
    )
    return changed == 1


# -- statements -------------------------------------------------------------------


async def insert_import(
    conn: Connection,
    *,
    id: UUID,
    tenant: Tenant,
    format: str,
    source: str,
    filename: str | None,
    line_count: int,
    at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO statement_imports
            (id, account_id, environment, format, source, filename, line_count, created_at)
        VALUES (:id, :account_id, :environment, :format, :source, :filename, :line_count, :created_at)
        """,
        {
            "id": id,
            **_tenant(tenant),
            "format": format,
            "source": source,
            "filename": filename,
            "line_count": line_count,
            "created_at": at,
        },
    )


async def finish_import(conn: Connection, id: UUID, *, summary: str, report: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE statement_imports SET summary = :summary, report = :report, finished_at = :at WHERE id = :id",
        {"id": id, "summary": summary, "report": report, "at": at},
    )


async def import_by_id(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT id, format, source, filename, line_count, summary, report, created_at, finished_at
        FROM statement_imports WHERE id = :id AND {_TENANT}
        """,
        {"id": id, **_tenant(tenant)},
    )


async def claim_line(
    conn: Connection,
    *,
    id: UUID,
    import_id: UUID,
    tenant: Tenant,
    line_key: str,
    line_number: int,
    outcome: str,
    amount: int | None,
    currency: str | None,
    booking_date: str | None,
    bank_reference: str | None,
    at: datetime,
) -> bool:
    """Remember a line by its identity; False if it was imported before (nothing is
    written then). On PostgreSQL a concurrent import of the same line waits here for
    the first to commit and then sees it."""
    changed = await conn.execute(
        """
        INSERT INTO statement_lines
            (id, import_id, account_id, environment, line_key, line_number, outcome, amount, currency,
             booking_date, bank_reference, created_at)
        VALUES (:id, :import_id, :account_id, :environment, :line_key, :line_number, :outcome, :amount,
                :currency, :booking_date, :bank_reference, :created_at)
        ON CONFLICT (account_id, environment, line_key) DO NOTHING
        """,
        {
            "id": id,
            "import_id": import_id,
            **_tenant(tenant),
            "line_key": line_key,
            "line_number": line_number,
            "outcome": outcome,
            "amount": amount,
            "currency": currency,
            "booking_date": booking_date,
            "bank_reference": bank_reference,
            "created_at": at,
        },
    )
    return changed == 1


async def record_outcome(
    conn: Connection, id: UUID, *, outcome: str, payment_id: UUID | None, reference: str | None
) -> None:
    await conn.execute(
        """
        UPDATE statement_lines SET outcome = :outcome, payment_id = :payment_id, reference = :reference
        WHERE id = :id
        """,
        {"id": id, "outcome": outcome, "payment_id": payment_id, "reference": reference},
    )


async def remembered_line(conn: Connection, tenant: Tenant, line_key: str) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT outcome, payment_id, reference, import_id, created_at
        FROM statement_lines WHERE line_key = :line_key AND {_TENANT}
        """,
        {"line_key": line_key, **_tenant(tenant)},
    )


# -- the operator's CLI ---------------------------------------------------------------


async def account_ids(conn: Connection, account_id: UUID | None, *, limit: int = 2) -> list[UUID]:
    """``account_id`` if it exists, or (None) up to ``limit`` accounts: the CLI imports
    into the only account when there is just one."""
    if account_id is not None:
        rows = await conn.fetch_all("SELECT id FROM accounts WHERE id = :id", {"id": account_id})
    else:
        rows = await conn.fetch_all(
            "SELECT id FROM accounts ORDER BY created_at, id LIMIT :limit", {"limit": limit}
        )
    return [row["id"] for row in rows]


async def delete_statement_lines_before(conn: Connection, *, before: datetime, limit: int) -> int:
    """Retention: delete up to ``limit`` statement lines recorded before ``before``, then
    the imports left without lines. The number of lines deleted."""
    deleted = await conn.execute(
        """
        DELETE FROM statement_lines WHERE id IN (
            SELECT id FROM statement_lines WHERE created_at < :before LIMIT :limit)
        """,
        {"before": before, "limit": limit},
    )
    await conn.execute(
        """
        DELETE FROM statement_imports WHERE id IN (
            SELECT i.id FROM statement_imports i
            WHERE i.created_at < :before
              AND NOT EXISTS (SELECT 1 FROM statement_lines l WHERE l.import_id = i.id)
            LIMIT :limit)
        """,
        {"before": before, "limit": limit},
    )
    return deleted
