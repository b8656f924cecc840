"""All SQL of the payment methods: transfer references, the sandbox's early expiry,
statement imports and their remembered lines. Every read is scoped to a tenant
(account and environment)."""

from __future__ import annotations

import hashlib
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


IMPORT_TURN_LOCKS = 0x7374_6D74
"""The first key of the advisory locks of ``take_import_turn`` ("stmt"); two-key
advisory locks never meet the one-key ones (the idempotency keys')."""


async def take_import_turn(conn: Connection, tenant: Tenant) -> None:
    """Wait until no other statement import's batch of ``tenant`` is open, and keep
    the others waiting until this unit ends (PostgreSQL; on SQLite every write unit
    has the database to itself). Two imports of one tenant may name the same
    payments in different orders (a camt.054 and the day's camt.053), so their batches
    take turns instead of each holding rows the other waits for."""
    if conn.dialect != "postgresql":
        return
    await conn.execute(
        "SELECT pg_advisory_xact_lock(:kind, :tenant)",
        {"kind": IMPORT_TURN_LOCKS, "tenant": import_turn(tenant)},
    )


def import_turn(tenant: Tenant) -> int:
    """The second key of ``tenant``'s import turn: 32 bits of a digest of the tenant."""
    digest = hashlib.sha256(f"{tenant.account_id}|{tenant.environment}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


async def insert_import(
    conn: Connection,
    *,
    id: UUID,
    tenant: Tenant,
    format: str,
    source: str,
    filename: str | None,
    line_count: int,
    summary: str,
    at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO statement_imports
            (id, account_id, environment, format, source, filename, line_count, lines_done, status,
             summary, created_at, progress_at)
        VALUES (:id, :account_id, :environment, :format, :source, :filename, :line_count, 0, 'running',
                :summary, :created_at, :created_at)
        """,
        {
            "id": id,
            **_tenant(tenant),
            "format": format,
            "source": source,
            "filename": filename,
            "line_count": line_count,
            "summary": summary,
            "created_at": at,
        },
    )


async def record_progress(
    conn: Connection,
    id: UUID,
    *,
    lines_done: int,
    summary: str,
    now: datetime,
    status: str = "running",
    error: str | None = None,
    at: datetime | None = None,
) -> bool:
    """How far an import got (in the same transaction as the lines it counts), and at
    the end its status: finished, or failed with the reason. False if the import is
    no longer running (recorded interrupted, ``interrupt_stale_imports``): nothing is
    changed then."""
    updated = await conn.execute(
        """
        UPDATE statement_imports
        SET lines_done = :lines_done, summary = :summary, status = :status, error = :error,
            finished_at = :at, progress_at = :now
        WHERE id = :id AND status = 'running'
        """,
        {
            "id": id,
            "lines_done": lines_done,
            "summary": summary,
            "status": status,
            "error": error,
            "at": at,
            "now": now,
        },
    )
    return updated == 1


INTERRUPTED = "The import was interrupted: the process applying it stopped"

_INTERRUPT = """
    UPDATE statement_imports
    SET status = 'failed', finished_at = :now,
        error = :head || CAST(lines_done AS TEXT) || ' lines. Importing the same file again applies the rest.'
    WHERE status = 'running' AND {which}
"""


async def interrupt_stale_imports(conn: Connection, *, before: datetime, now: datetime) -> int:
    """Record as failed the imports still ``running`` that made no progress since
    ``before``: the process applying them stopped (killed, crashed, its machine gone),
    and nothing else will finish them. Their applied lines stay applied and reported;
    how many imports this marked."""
    return await conn.execute(
        _INTERRUPT.format(which="progress_at < :before"),
        {"before": before, "now": now, "head": f"{INTERRUPTED} after "},
    )


async def interrupt_import(conn: Connection, id: UUID, *, now: datetime) -> int:
    """Record one running import as interrupted by the server's shutdown, with the
    count of lines its committed batches recorded (whatever the task last knew)."""
    return await conn.execute(
        _INTERRUPT.format(which="id = :id"),
        {"id": id, "now": now, "head": f"{INTERRUPTED} (the server shut down) after "},
    )


_IMPORT_COLUMNS = (
    "id, format, source, filename, line_count, lines_done, status, error, summary, created_at, finished_at"
)


async def import_by_id(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"SELECT {_IMPORT_COLUMNS} FROM statement_imports WHERE id = :id AND {_TENANT}",
        {"id": id, **_tenant(tenant)},
    )


async def imports_page(
    conn: Connection,
    tenant: Tenant,
    *,
    limit: int,
    older_than: tuple[datetime, UUID] | None = None,
    newer_than: tuple[datetime, UUID] | None = None,
) -> Sequence[Row]:
    """A tenant's imports: the first ``limit`` older than ``older_than`` (or from the
    newest), newest first; or the ``limit`` just newer than ``newer_than``, oldest first."""
    params: dict[str, Any] = {**_tenant(tenant), "limit": limit}
    where, order = _TENANT, "DESC"
    if newer_than is not None:
        # a row value, so that both engines seek the (tenant, created_at) index to the cursor
        where += " AND (created_at, id) > (:at, :id)"
        params["at"], params["id"] = newer_than
        order = "ASC"
    elif older_than is not None:
        where += " AND (created_at, id) < (:at, :id)"
        params["at"], params["id"] = older_than
    return await conn.fetch_all(
        f"SELECT {_IMPORT_COLUMNS} FROM statement_imports WHERE {where} "
        f"ORDER BY created_at {order}, id {order} LIMIT :limit",
        params,
    )


REPORT_COLUMNS = (
    "line",
    "statement_line_id",
    "outcome",
    "message",
    "amount",
    "currency",
    "direction",
    "booking_date",
    "bank_reference",
    "payer",
    "transfer_reference",
    "payment_id",
    "payment_status",
)


async def insert_report_lines(conn: Connection, import_id: UUID, rows: Sequence[dict[str, Any]]) -> None:
    """Lines of an import's report (``REPORT_COLUMNS`` each), a few dozen per statement."""
    names = ", ".join(REPORT_COLUMNS)
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        params: dict[str, Any] = {"import_id": import_id}
        values = []
        for i, row in enumerate(chunk):
            values.append("(:import_id, " + ", ".join(f":{name}_{i}" for name in REPORT_COLUMNS) + ")")
            params.update({f"{name}_{i}": row[name] for name in REPORT_COLUMNS})
        await conn.execute(
            f"INSERT INTO statement_report_lines (import_id, {names}) VALUES {', '.join(values)}", params
        )


_REPORT_SELECT = """
SELECT r.line, r.statement_line_id, r.outcome, r.message, r.amount, r.currency, r.direction,
       r.booking_date, r.bank_reference, r.payer, r.transfer_reference, r.payment_id, r.payment_status,
       s.outcome AS first_outcome, s.resolution, s.resolved_by, s.resolved_at
FROM statement_report_lines r
JOIN statement_imports i ON i.id = r.import_id
LEFT JOIN statement_lines s ON s.id = r.statement_line_id
"""


async def report_lines(
    conn: Connection, tenant: Tenant, import_id: UUID, *, after: int, limit: int
) -> Sequence[Row]:
    """A page of an import's report, by line number; each with its resolution."""
    return await conn.fetch_all(
        f"""{_REPORT_SELECT}
        WHERE r.import_id = :import_id AND r.line > :after
          AND i.account_id = :account_id AND i.environment = :environment
        ORDER BY r.line LIMIT :limit
        """,
        {"import_id": import_id, "after": after, "limit": limit, **_tenant(tenant)},
    )


async def report_line(conn: Connection, tenant: Tenant, import_id: UUID, line: int) -> Row | None:
    return await conn.fetch_one(
        f"""{_REPORT_SELECT}
        WHERE r.import_id = :import_id AND r.line = :line
          AND i.account_id = :account_id AND i.environment = :environment
        """,
        {"import_id": import_id, "line": line, **_tenant(tenant)},
    )


async def claim_line(
    conn: Connection,
    *,
    id: UUID,
    import_id: UUID,
    tenant: Tenant,
    line_key: str,
    entry_key: str | None = None,
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
            (id, import_id, account_id, environment, line_key, entry_key, line_number, outcome, amount,
             currency, booking_date, bank_reference, created_at)
        VALUES (:id, :import_id, :account_id, :environment, :line_key, :entry_key, :line_number, :outcome,
                :amount, :currency, :booking_date, :bank_reference, :created_at)
        ON CONFLICT (account_id, environment, line_key) DO NOTHING
        """,
        {
            "id": id,
            "import_id": import_id,
            **_tenant(tenant),
            "line_key": line_key,
            "entry_key": entry_key,
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
        SELECT id, outcome, payment_id, reference, import_id, created_at
        FROM statement_lines WHERE line_key = :line_key AND {_TENANT}
        """,
        {"line_key": line_key, **_tenant(tenant)},
    )


async def lines_by_keys(conn: Connection, tenant: Tenant, line_key: str, entry_key: str) -> Sequence[Row]:
    """The remembered lines whose identity is ``line_key`` or ``entry_key``, or whose
    entry reference is ``entry_key``, oldest first (``Reconciler`` picks the one a camt
    line is, if any). Called in an import's turn, so none appears meanwhile."""
    return await conn.fetch_all(
        f"""
        SELECT id, line_key, entry_key, outcome, payment_id, reference, import_id, created_at
        FROM statement_lines
        WHERE {_TENANT} AND (line_key IN (:line_key, :entry_key) OR entry_key = :entry_key)
        ORDER BY created_at, id LIMIT 50
        """,
        {"line_key": line_key, "entry_key": entry_key, **_tenant(tenant)},
    )


async def add_line_identity(conn: Connection, id: UUID, *, line_key: str, entry_key: str) -> None:
    """A remembered line learns the references a later import gave it: an entry's
    reference beside its own, or (a line known by its entry's reference alone) the
    transaction's, which becomes its identity."""
    await conn.execute(
        "UPDATE statement_lines SET line_key = :line_key, entry_key = :entry_key WHERE id = :id",
        {"id": id, "line_key": line_key, "entry_key": entry_key},
    )


async def remembered_line_by_id(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT id, outcome, payment_id, reference, amount, currency, resolution, resolved_by, resolved_at
        FROM statement_lines WHERE id = :id AND {_TENANT}
        """,
        {"id": id, **_tenant(tenant)},
    )


async def resolve_line(
    conn: Connection,
    tenant: Tenant,
    id: UUID,
    *,
    resolution: str,
    outcomes: Sequence[str],
    by: str,
    at: datetime,
) -> bool:
    """Record a resolution once: False if the line is resolved already (a concurrent
    resolution won) or its outcome is not one of ``outcomes``."""
    marks, params = placeholders(list(outcomes), "outcome")
    changed = await conn.execute(
        f"""
        UPDATE statement_lines SET resolution = :resolution, resolved_by = :by, resolved_at = :at
        WHERE id = :id AND {_TENANT} AND resolution IS NULL AND outcome IN ({marks})
        """,
        {"id": id, "resolution": resolution, "by": by, "at": at, **params, **_tenant(tenant)},
    )
    return changed == 1


async def record_resolved_status(conn: Connection, statement_line_id: UUID, *, payment_status: str) -> None:
    """The payment's status after a line's resolution (an accepted line paid it), on
    every report row of that line: its own import's and those of the later imports
    that repeat it as a duplicate, which all show its resolution."""
    await conn.execute(
        "UPDATE statement_report_lines SET payment_status = :status WHERE statement_line_id = :id",
        {"id": statement_line_id, "status": payment_status},
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
    """Retention: delete up to ``limit`` statement lines recorded before ``before`` (their
    report rows first), then the imports left without lines, with their report. The
    number of lines deleted."""
    rows = await conn.fetch_all(
        "SELECT id FROM statement_lines WHERE created_at < :before LIMIT :limit",
        {"before": before, "limit": limit},
    )
    deleted = 0
    if rows:
        marks, params = placeholders([row["id"] for row in rows], "l")
        await conn.execute(f"DELETE FROM statement_report_lines WHERE statement_line_id IN ({marks})", params)
        deleted = await conn.execute(f"DELETE FROM statement_lines WHERE id IN ({marks})", params)
    gone = await conn.fetch_all(
        """
        SELECT i.id FROM statement_imports i
        WHERE i.created_at < :before
          AND NOT EXISTS (SELECT 1 FROM statement_lines l WHERE l.import_id = i.id)
        LIMIT :limit
        """,
        {"before": before, "limit": limit},
    )
    if gone:
        marks, params = placeholders([row["id"] for row in gone], "i")
        await conn.execute(f"DELETE FROM statement_report_lines WHERE import_id IN ({marks})", params)
        await conn.execute(f"DELETE FROM statement_imports WHERE id IN ({marks})", params)
    return deleted
