"""The overview's queries, one per figure, each on an index of its tenant:

- paid per day and currency: ``ix_payments_tenant_paid`` (account, environment, paid_at);
- outcome shares and the median time to pay: ``ix_payments_tenant_outcomes``;
- failing endpoints: ``ix_applications_account_env``;
- unresolved statement lines: ``ix_statement_lines_tenant_outcome``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


def _day(conn: Connection, column: str) -> str:
    if conn.dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"  # stored as fixed-width UTC text


async def paid_per_day(conn: Connection, tenant: Tenant, *, since: datetime) -> list[Row]:
    rows = await conn.fetch_all(
        f"""SELECT {_day(conn, "paid_at")} AS day, currency, COUNT(*) AS count, SUM(amount) AS volume
        FROM payments WHERE account_id = :account_id AND environment = :environment AND paid_at >= :since
        GROUP BY 1, currency ORDER BY 1, currency""",
        {**_tenant(tenant), "since": since},
    )
    return list(rows)


async def outcomes(conn: Connection, tenant: Tenant, *, since: datetime, now: datetime) -> list[Row]:
    """Payments created since then by status; a pending one past its deadline is expired."""
    rows = await conn.fetch_all(
        """SELECT CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END AS status,
               COUNT(*) AS count
        FROM payments WHERE account_id = :account_id AND environment = :environment AND created_at >= :since
        GROUP BY 1""",
        {**_tenant(tenant), "since": since, "now": now},
    )
    return list(rows)


async def seconds_to_pay_histogram(
    conn: Connection, tenant: Tenant, *, since: datetime
) -> list[tuple[int, int]]:
    """(whole seconds from creation to payment, how many payments) for payments created
    since then and paid: a grouped scan of the covering index, no sort of every row."""
    scope = "account_id = :account_id AND environment = :environment AND created_at >= :since AND paid_at IS NOT NULL"
    if conn.dialect == "postgresql":
        seconds = "CAST(EXTRACT(EPOCH FROM paid_at - created_at) AS BIGINT)"
    else:
        seconds = "CAST(ROUND((julianday(paid_at) - julianday(created_at)) * 86400) AS INTEGER)"
    rows = await conn.fetch_all(
        f"SELECT {seconds} AS s, COUNT(*) AS n FROM payments WHERE {scope} GROUP BY 1 ORDER BY 1",
        {**_tenant(tenant), "since": since},
    )
    return [(int(r["s"]), int(r["n"])) for r in rows]


def median(histogram: list[tuple[int, int]]) -> float | None:
    """The median of the values a histogram counts (the mean of the middle two)."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    wanted, seen, found = ((total - 1) // 2, total // 2), 0, []
    for value, n in histogram:
        for rank in wanted:
            if seen <= rank < seen + n:
                found.append(value)
        seen += n
    return sum(found) / len(found)


async def failing_endpoints(conn: Connection, tenant: Tenant) -> list[Row]:
    rows = await conn.fetch_all(
        """SELECT client_id, name, webhook_failing_since, webhook_disabled_at FROM applications
        WHERE account_id = :account_id AND environment = :environment AND archived_at IS NULL
          AND (webhook_failing_since IS NOT NULL OR webhook_disabled_at IS NOT NULL)
        ORDER BY name""",
        _tenant(tenant),
    )
    return list(rows)


async def unresolved_lines(conn: Connection, tenant: Tenant) -> int:
    """Late, partial and overpaid statement lines that no one has resolved yet."""
    row = await conn.fetch_one(
        """SELECT COUNT(*) AS n FROM statement_lines
        WHERE account_id = :account_id AND environment = :environment
          AND outcome IN ('late', 'partial', 'overpaid')""",
        _tenant(tenant),
    )
    return 0 if row is None else int(row["n"])
