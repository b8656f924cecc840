"""The overview's queries, one per figure, each on an index of its tenant:

- paid per day and currency: ``ix_payments_tenant_paid`` (account, environment, paid_at);
- outcome shares and the median time to pay: ``ix_payments_tenant_created``;
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


async def median_seconds_to_pay(conn: Connection, tenant: Tenant, *, since: datetime) -> float | None:
    params = {**_tenant(tenant), "since": since}
    scope = "account_id = :account_id AND environment = :environment AND created_at >= :since AND paid_at IS NOT NULL"
    if conn.dialect == "postgresql":
        row = await conn.fetch_one(
            f"""SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM paid_at - created_at)) AS s
            FROM payments WHERE {scope}""",
            params,
        )
    else:
        seconds = "(julianday(paid_at) - julianday(created_at)) * 86400.0"
        row = await conn.fetch_one(
            f"""SELECT AVG(s) AS s FROM (
                SELECT {seconds} AS s FROM payments WHERE {scope} ORDER BY s
                LIMIT 2 - (SELECT COUNT(*) FROM payments WHERE {scope}) % 2
                OFFSET ((SELECT COUNT(*) FROM payments WHERE {scope}) - 1) / 2)""",
            params,
        )
    return None if row is None or row["s"] is None else float(row["s"])


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
