"""The overview's queries, one per figure, each on an index of its tenant. The payment
figures read the per-day rollups that every status change writes
(payment/rollup_repository.py), a few thousand rows for 30 days however many payments
there are:

- paid per day and currency: ``payment_paid_daily``'s key (account, environment, day);
- outcome shares: ``payment_daily``'s key, plus the pending payments past their
  deadline that the sweep has not expired yet (``ix_payments_status_expires``);
- the median time to pay: ``payment_pay_times`` to find the bucket it falls in, then
  that bucket's exact seconds in ``payment_pay_seconds``;
- failing endpoints: ``ix_applications_account_env``;
- unresolved statement lines: ``ix_statement_lines_tenant_outcome``, then each such
  line's ``resolution`` (resolving a line sets it; its outcome stays what the import
  found).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


_SCOPE = "account_id = :account_id AND environment = :environment AND day >= :first_day"


async def paid_per_day(conn: Connection, tenant: Tenant, *, first_day: date) -> list[Row]:
    rows = await conn.fetch_all(
        f"""SELECT day, currency, CAST(SUM(payments) AS BIGINT) AS count, CAST(SUM(amount) AS BIGINT) AS volume
        FROM payment_paid_daily
        WHERE {_SCOPE} GROUP BY day, currency HAVING SUM(payments) > 0 ORDER BY day, currency""",
        {**_tenant(tenant), "first_day": first_day.isoformat()},
    )
    return list(rows)


async def outcomes(conn: Connection, tenant: Tenant, *, since: datetime, now: datetime) -> list[Row]:
    """Payments created since then by status; a pending one past its deadline is expired."""
    rows = await conn.fetch_all(
        f"""WITH overdue AS (
            SELECT COUNT(*) AS n FROM payments
            WHERE status = 'pending' AND expires_at <= :now
              AND account_id = :account_id AND environment = :environment AND created_at >= :since)
        SELECT status, SUM(n) AS count FROM (
            SELECT status, payments AS n FROM payment_daily WHERE {_SCOPE}
            UNION ALL SELECT 'expired', n FROM overdue
            UNION ALL SELECT 'pending', -n FROM overdue) AS counted
        GROUP BY status HAVING SUM(n) > 0""",
        {**_tenant(tenant), "since": since, "now": now, "first_day": since.date().isoformat()},
    )
    return list(rows)


async def median_seconds_to_pay(conn: Connection, tenant: Tenant, *, first_day: date) -> float | None:
    """The median whole seconds from creation to payment of the payments created since
    then and paid: the buckets' counts locate the middle one or two ranks, and only
    the one or two (adjacent) buckets holding them are read second by second, their
    bounds given to the key's range as values computed once, whatever the planner's
    estimates."""
    rows = await conn.fetch_all(
        f"""WITH buckets AS (
            SELECT bucket, SUM(payments) AS n FROM payment_pay_times WHERE {_SCOPE} GROUP BY bucket
        ), ranked AS (
            SELECT bucket, n, SUM(n) OVER (ORDER BY bucket) - n AS below, SUM(n) OVER () AS total
            FROM buckets
        ), middle AS (
            SELECT MIN(bucket) AS low, MAX(bucket) AS high, MIN(below) AS below, MAX(total) AS total
            FROM ranked WHERE 2 * below <= total AND 2 * (below + n) >= total
        )
        SELECT m.below, m.total, s.seconds, SUM(s.payments) AS n
        FROM payment_pay_seconds s CROSS JOIN middle m
        WHERE s.account_id = :account_id AND s.environment = :environment
          AND s.bucket BETWEEN (SELECT low FROM middle) AND (SELECT high FROM middle)
          AND s.day >= :first_day
        GROUP BY m.below, m.total, s.seconds ORDER BY s.seconds""",
        {**_tenant(tenant), "first_day": first_day.isoformat()},
    )
    if not rows:
        return None
    return median(
        [(int(r["seconds"]), int(r["n"])) for r in rows],
        total=int(rows[0]["total"]),
        below=int(rows[0]["below"]),
    )


def median(histogram: Sequence[tuple[int, int]], *, below: int = 0, total: int | None = None) -> float | None:
    """The median of ``total`` values (by default the ones ``histogram`` counts), of
    which ``histogram`` counts a sorted run of consecutive ones that starts after the
    ``below`` smallest, holding the middle one or two (whose mean it is)."""
    if total is None:
        total = below + sum(n for _, n in histogram)
    if not total:
        return None
    wanted, seen, found = ((total - 1) // 2, total // 2), below, []
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
    """Late, partial and overpaid statement lines that no one has resolved yet (not
    accepted, not marked refund_due): the ones still waiting for a decision."""
    row = await conn.fetch_one(
        """SELECT COUNT(*) AS n FROM statement_lines
        WHERE account_id = :account_id AND environment = :environment
          AND outcome IN ('late', 'partial', 'overpaid') AND resolution IS NULL""",
        _tenant(tenant),
    )
    return 0 if row is None else int(row["n"])
