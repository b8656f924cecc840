"""SQL for watching webhooks: each endpoint's health and the delivery log, always
scoped to one account and environment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row

_SCOPE = "a.account_id = :account_id AND a.environment = :environment"


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


async def endpoints(conn: Connection, tenant: Tenant) -> list[Row]:
    rows = await conn.fetch_all(
        f"""SELECT a.id, a.client_id, a.name, a.webhook_url, a.webhook_failing_since, a.webhook_disabled_at,
               a.webhook_disabled_reason
        FROM applications a WHERE {_SCOPE} AND a.archived_at IS NULL ORDER BY a.created_at, a.id""",
        _tenant(tenant),
    )
    return list(rows)


async def success_counts(conn: Connection, application_id: UUID, *, since: datetime) -> tuple[int, int]:
    """(attempts, successful attempts) since then."""
    row = await conn.fetch_one(
        """SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN t.succeeded THEN 1 ELSE 0 END), 0) AS ok
        FROM webhook_attempts t JOIN webhook_deliveries d ON d.id = t.delivery_id
        WHERE d.application_id = :app AND t.attempted_at >= :since""",
        {"app": application_id, "since": since},
    )
    assert row is not None
    return int(row["n"]), int(row["ok"])


async def latency_at(conn: Connection, application_id: UUID, *, since: datetime, offset: int) -> int | None:
    """The ``offset``-th smallest latency since then (a percentile, on either engine)."""
    row = await conn.fetch_one(
        """SELECT t.latency_ms FROM webhook_attempts t JOIN webhook_deliveries d ON d.id = t.delivery_id
        WHERE d.application_id = :app AND t.attempted_at >= :since AND t.latency_ms IS NOT NULL
        ORDER BY t.latency_ms LIMIT 1 OFFSET :offset""",
        {"app": application_id, "since": since, "offset": offset},
    )
    return None if row is None else int(row["latency_ms"])


async def last_failure(conn: Connection, application_id: UUID) -> Row | None:
    return await conn.fetch_one(
        """SELECT t.attempted_at, t.status_code, t.error FROM webhook_attempts t
        JOIN webhook_deliveries d ON d.id = t.delivery_id
        WHERE d.application_id = :app AND NOT t.succeeded ORDER BY t.attempted_at DESC LIMIT 1""",
        {"app": application_id},
    )


async def deliveries(
    conn: Connection,
    tenant: Tenant,
    *,
    client_id: str | None,
    event_type: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[int, datetime, UUID] | None,
    limit: int,
) -> list[Row]:
    """Deliveries, failed first, then newest first; keyset on (rank, created, id)."""
    where = [_SCOPE]
    params: dict[str, Any] = {**_tenant(tenant), "limit": limit}
    if client_id is not None:
        where.append("a.client_id = :client_id")
        params["client_id"] = client_id
    if event_type is not None:
        where.append("e.type = :type")
        params["type"] = event_type
    if outcome is not None:
        where.append("d.status = :outcome")
        params["outcome"] = outcome
    if since is not None:
        where.append("e.created_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("e.created_at < :until")
        params["until"] = until
    rank = "(CASE WHEN d.status = 'failed' THEN 0 ELSE 1 END)"
    if after is not None:
        where.append(
            f"({rank} > :a_rank OR ({rank} = :a_rank AND (e.created_at < :a_at OR (e.created_at = :a_at AND e.id < :a_id))))"
        )
        params["a_rank"], params["a_at"], params["a_id"] = after
    rows = await conn.fetch_all(
        f"""SELECT {rank} AS rank, e.id AS event_id, e.type, e.created_at, e.payment_id, a.client_id,
               d.id AS delivery_id, d.status, d.attempts, d.last_attempt_at, d.last_status_code, d.last_error,
               d.next_attempt_at, d.delivered_at, d.failed_at
        FROM webhook_deliveries d JOIN events e ON e.id = d.event_id JOIN applications a ON a.id = d.application_id
        WHERE {" AND ".join(where)}
        ORDER BY rank, e.created_at DESC, e.id DESC LIMIT :limit""",
        params,
    )
    return list(rows)


async def delivery_key(conn: Connection, tenant: Tenant, event_id: UUID) -> tuple[int, datetime, UUID] | None:
    row = await conn.fetch_one(
        f"""SELECT CASE WHEN d.status = 'failed' THEN 0 ELSE 1 END AS rank, e.created_at, e.id
        FROM webhook_deliveries d JOIN events e ON e.id = d.event_id JOIN applications a ON a.id = d.application_id
        WHERE e.id = :id AND {_SCOPE}""",
        {"id": event_id, **_tenant(tenant)},
    )
    return None if row is None else (int(row["rank"]), row["created_at"], row["id"])
