"""SQL for events (the outbox), webhook deliveries, their attempts, and the endpoint
state kept on applications.

Reads for the API take a ``Tenant``; the worker's statements act on rows it claimed
(a lease and a claim token), so that a worker that lost its lease changes nothing.
Dialect-specific pieces: the claim's ``FOR UPDATE SKIP LOCKED``, and the event log's
position (``log_position``), which orders ``GET /api/events`` by commit, so that a
poller's cursor never passes an event that commits later:

- SQLite: one more than the highest position, taken inside the write transaction
  (``BEGIN IMMEDIATE`` holds the database's one write lock until commit), so
  positions are handed out in commit order;
- PostgreSQL: the writing transaction's id (``pg_current_xact_id()``, 64 bits, never
  wraps), and the log lists only events below a horizon read first, in a statement of
  its own: the oldest transaction id still in flight in this database (this role's
  sessions, from ``pg_stat_activity``), else the next id to be assigned. Every
  transaction below it had finished when it was read, so the next statement's
  snapshot sees all of them; whatever commits later has an id at or above it, so
  above every event a poller saw. (Only this database counts: a long transaction
  elsewhere on the cluster does not hold the log back; one here delays the log by
  as long as it stays open.) Events of one transaction share a position and are
  ordered by id.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row
from payreq.db.base import Parts, placeholders, with_parts
from payreq.kit.ids import ORDERED_UUID_SQL

_TENANT = "e.account_id = :account_id AND e.environment = :environment"
_PAUSED = """EXISTS (SELECT 1 FROM applications pa JOIN accounts pacc ON pacc.id = pa.account_id
    WHERE pa.id = webhook_deliveries.application_id AND pacc.disabled_at IS NOT NULL AND pacc.closed_at IS NULL)"""
"""The delivery's account is disabled by the operator (not closed by its owner): its
deliveries wait, unclaimed, neither attempted nor given up, and are due again as they
were once ``payreq admin enable-account`` clears ``disabled_at``."""
_DUE = f"""status = 'pending' AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)
    AND NOT {_PAUSED}"""
_EVENT_COLUMNS = """e.id, e.type, e.data, e.created_at, e.environment, e.application_id, e.payment_id,
    a.client_id, d.id AS delivery_id, d.status AS delivery_status, d.attempts, d.next_attempt_at,
    d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.failed_at"""
_EVENT_FROM = """events e JOIN applications a ON a.id = e.application_id
    LEFT JOIN webhook_deliveries d ON d.event_id = e.id AND d.application_id = e.application_id"""


_PG_POSITION = "pg_current_xact_id()::text::bigint"


def _next_position(conn: Connection) -> str:
    if conn.dialect == "postgresql":
        return _PG_POSITION
    return "(SELECT COALESCE(MAX(log_position), 0) + 1 FROM events)"


_HORIZON = """
WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax),
running AS (
    SELECT a.backend_xid::text::bigint AS xid FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
)
SELECT LEAST(
    s.xmax,
    -- a 32-bit backend_xid in the epoch of xmax (or the one before, past a wrap)
    (SELECT MIN(((s.xmax >> 32) << 32) + r.xid
                - CASE WHEN r.xid > (s.xmax & 4294967295) THEN 4294967296 ELSE 0 END)
     FROM running r)
) AS horizon FROM s
"""


async def log_horizon(conn: Connection) -> int | None:
    """Positions below this are final: no transaction still running can write one
    (PostgreSQL; None on SQLite, where positions are handed out in commit order)."""
    if conn.dialect != "postgresql":
        return None
    row = await conn.fetch_one(_HORIZON)
    return None if row is None else int(row["horizon"])


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


# -- the outbox -----------------------------------------------------------------


async def insert_event(
    conn: Connection,
    *,
    id: UUID,
    account_id: UUID,
    environment: str,
    application_id: UUID,
    payment_id: UUID,
    type: str,
    data: str,
    created_at: datetime,
    delivery_id: UUID | None = None,
    along: Parts = (),
) -> bool:
    """The event row; with ``delivery_id``, also its delivery, due at once, if the
    application has a webhook URL; ``along``, the statements of the change the event
    tells of, written first. One round trip on PostgreSQL (``with_parts``). True if a
    delivery was written."""
    params = {
        "id": id,
        "account_id": account_id,
        "environment": environment,
        "application_id": application_id,
        "payment_id": payment_id,
        "type": type,
        "data": data,
        "created_at": created_at,
    }
    event = f"""INSERT INTO events (id, account_id, environment, application_id, payment_id, type, data,
                                    created_at, log_position)
        VALUES (:id, :account_id, :environment, :application_id, :payment_id, :type, :data, :created_at,
                {_next_position(conn)})"""
    if conn.dialect == "postgresql":
        if delivery_id is None:
            await conn.execute(*with_parts(along, event, params))
            return False
        row = await conn.fetch_one(
            *with_parts(
                along,
                f"""
                WITH event AS ({event} RETURNING id)
                INSERT INTO webhook_deliveries (id, event_id, application_id, status, attempts, step,
                                                next_attempt_at, created_at)
                SELECT :delivery_id, event.id, a.id, 'pending', 0, 0, :created_at, :created_at
                FROM event JOIN applications a ON a.id = :application_id AND a.webhook_url IS NOT NULL
                RETURNING id
                """,
                {**params, "delivery_id": delivery_id},
            )
        )
        return row is not None
    for _, statement in along:
        await statement.execute(conn)
    await conn.execute(event, params)
    if delivery_id is None:
        return False
    return await insert_delivery(
        conn, id=delivery_id, event_id=id, application_id=application_id, at=created_at
    )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event row for ``insert_events``; ``delivery_id`` for its delivery, written
    if its application has a webhook URL."""

    id: UUID
    account_id: UUID
    environment: str
    application_id: UUID
    payment_id: UUID
    type: str
    data: str
    created_at: datetime
    delivery_id: UUID


async def insert_events(conn: Connection, events: Sequence[NewEvent]) -> int:
    """``insert_event`` for many events (the worker's expiry sweep); the number of
    deliveries written. On PostgreSQL one statement of arrays, whatever their length
    (one text to prepare and cache); on SQLite, in process, one statement each."""
    if conn.dialect != "postgresql":
        written = 0
        for e in events:
            written += await insert_event(
                conn,
                id=e.id,
                account_id=e.account_id,
                environment=e.environment,
                application_id=e.application_id,
                payment_id=e.payment_id,
                type=e.type,
                data=e.data,
                created_at=e.created_at,
                delivery_id=e.delivery_id,
            )
        return written
    if not events:
        return 0
    rows = await conn.fetch_all(
        f"""
        WITH event AS (
            INSERT INTO events (id, account_id, environment, application_id, payment_id, type, data,
                                created_at, log_position)
            SELECT id, account_id, environment, application_id, payment_id, type, data, created_at,
                   {_next_position(conn)}
            FROM unnest(:ids::uuid[], :account_ids::uuid[], :environments::text[], :application_ids::uuid[],
                        :payment_ids::uuid[], :types::text[], :data::text[], :created_at::timestamptz[])
                 AS e(id, account_id, environment, application_id, payment_id, type, data, created_at)
            RETURNING id, application_id, created_at
        )
        INSERT INTO webhook_deliveries (id, event_id, application_id, status, attempts, step,
                                        next_attempt_at, created_at)
        SELECT d.delivery_id, event.id, a.id, 'pending', 0, 0, event.created_at, event.created_at
        FROM event
        JOIN applications a ON a.id = event.application_id AND a.webhook_url IS NOT NULL
        JOIN unnest(:ids::uuid[], :delivery_ids::uuid[]) AS d(event_id, delivery_id) ON d.event_id = event.id
        RETURNING id
        """,
        {
            "ids": [e.id for e in events],
            "account_ids": [e.account_id for e in events],
            "environments": [e.environment for e in events],
            "application_ids": [e.application_id for e in events],
            "payment_ids": [e.payment_id for e in events],
            "types": [e.type for e in events],
            "data": [e.data for e in events],
            "created_at": [e.created_at for e in events],
            "delivery_ids": [e.delivery_id for e in events],
        },
    )
    return len(rows)


def insert_events_sql(source: str, *, data: str) -> str:
    """``insert_events`` as two CTEs of a PostgreSQL statement whose rows come from
    ``source`` (a CTE of payment rows after a change, with ``application_id``): one
    event per row, of type ``:event_type`` at ``:now``, its ``data`` the SQL expression
    ``data`` over ``source`` and ``app`` (the payment's application); ``delivery`` writes
    its delivery where the application has a webhook URL, and returns a row for each.
    Both take version 7 ids, as ``outbox`` gives its events and deliveries."""
    return f"""
    event AS (
        INSERT INTO events (id, account_id, environment, application_id, payment_id, type, data,
                            created_at, log_position)
        SELECT {ORDERED_UUID_SQL}, {source}.account_id, {source}.environment, {source}.application_id,
               {source}.id, :event_type, {data}, :now, {_PG_POSITION}
        FROM {source} JOIN applications app ON app.id = {source}.application_id
        RETURNING id, application_id, created_at
    ),
    delivery AS (
        INSERT INTO webhook_deliveries (id, event_id, application_id, status, attempts, step,
                                        next_attempt_at, created_at)
        SELECT {ORDERED_UUID_SQL}, event.id, a.id, 'pending', 0, 0, event.created_at, event.created_at
        FROM event JOIN applications a ON a.id = event.application_id AND a.webhook_url IS NOT NULL
        RETURNING 1
    )"""


async def insert_delivery(
    conn: Connection, *, id: UUID, event_id: UUID, application_id: UUID, at: datetime
) -> bool:
    """A delivery of the event, due at once, if its application has a webhook URL."""
    # PostgreSQL types a parameter in a SELECT list as text unless told
    uuid_, instant = ("::uuid", "::timestamptz") if conn.dialect == "postgresql" else ("", "")
    inserted = await conn.execute(
        f"""
        INSERT INTO webhook_deliveries (id, event_id, application_id, status, attempts, step,
                                        next_attempt_at, created_at)
        SELECT :id{uuid_}, :event_id{uuid_}, id, 'pending', 0, 0, :at{instant}, :at{instant}
        FROM applications WHERE id = :application_id AND webhook_url IS NOT NULL
        """,
        {"id": id, "event_id": event_id, "application_id": application_id, "at": at},
    )
    return inserted == 1


async def events_for_payment(conn: Connection, payment_id: UUID) -> list[Row]:
    rows = await conn.fetch_all(
        """
        SELECT id, type, data, created_at FROM events
        WHERE payment_id = :payment_id ORDER BY created_at, id
        """,
        {"payment_id": payment_id},
    )
    return list(rows)


# -- the worker -----------------------------------------------------------------


async def any_due(conn: Connection, *, now: datetime) -> bool:
    row = await conn.fetch_one(f"SELECT 1 AS due FROM webhook_deliveries WHERE {_DUE} LIMIT 1", {"now": now})
    return row is not None


_CLAIMED = """d.id, d.event_id, d.application_id, d.attempts, d.step, d.claim_token,
    e.type, e.data, e.created_at, a.environment, a.webhook_url, a.webhook_secret,
    a.previous_webhook_secret, a.previous_webhook_secret_expires_at, a.older_webhook_secrets,
    a.webhook_disabled_at, a.archived_at, acc.disabled_at AS account_disabled_at,
    acc.closed_at AS account_closed_at"""
_CLAIMED_FROM = """JOIN events e ON e.id = d.event_id JOIN applications a ON a.id = d.application_id
    JOIN accounts acc ON acc.id = a.account_id"""


async def claim(
    conn: Connection, *, now: datetime, until: datetime, token: UUID, limit: int
) -> Sequence[Row]:
    """Lease up to ``limit`` due deliveries to ``token`` until ``until``, with what sending
    them needs. Several workers never claim one row at once: PostgreSQL skips rows
    another claim holds locked; SQLite runs one write transaction at a time.

    On PostgreSQL one statement, atomic by itself (it may run outside a transaction,
    as the worker runs it: one round trip for the claim); on SQLite two."""
    params = {"now": now, "until": until, "token": token, "limit": limit}
    if conn.dialect == "postgresql":
        return await conn.fetch_all(
            f"""
            WITH d AS (
                UPDATE webhook_deliveries SET claimed_until = :until, claim_token = :token
                WHERE id IN (SELECT id FROM webhook_deliveries WHERE {_DUE}
                             ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED)
                RETURNING id, event_id, application_id, attempts, step, claim_token
            )
            SELECT {_CLAIMED} FROM d {_CLAIMED_FROM}
            """,
            params,
        )
    claimed = await conn.fetch_all(
        f"""
        UPDATE webhook_deliveries SET claimed_until = :until, claim_token = :token
        WHERE id IN (SELECT id FROM webhook_deliveries WHERE {_DUE} ORDER BY next_attempt_at LIMIT :limit)
        RETURNING id
        """,
        params,
    )
    if not claimed:
        return []
    marks, ids = placeholders([row["id"] for row in claimed], "d")
    return await conn.fetch_all(
        f"SELECT {_CLAIMED} FROM webhook_deliveries d {_CLAIMED_FROM} WHERE d.id IN ({marks}) AND d.claim_token = :token",
        {**ids, "token": token},
    )


async def insert_attempt(
    conn: Connection,
    *,
    id: UUID,
    delivery_id: UUID,
    event_id: UUID,
    attempted_at: datetime,
    url: str,
    status_code: int | None,
    latency_ms: int | None,
    response_body: str | None,
    error: str | None,
    succeeded: bool,
    request_headers: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO webhook_attempts (id, delivery_id, event_id, attempted_at, url, request_headers,
                                      status_code, latency_ms, response_body, error, succeeded)
        VALUES (:id, :delivery_id, :event_id, :attempted_at, :url, :request_headers,
                :status_code, :latency_ms, :response_body, :error, :succeeded)
        """,
        {
            "id": id,
            "delivery_id": delivery_id,
            "event_id": event_id,
            "attempted_at": attempted_at,
            "url": url,
            "request_headers": request_headers,
            "status_code": status_code,
            "latency_ms": latency_ms,
            "response_body": response_body,
            "error": error,
            "succeeded": succeeded,
        },
    )


ATTEMPT_TYPES = {
    "id": "uuid",
    "delivery_id": "uuid",
    "event_id": "uuid",
    "attempted_at": "timestamptz",
    "url": "text",
    "request_headers": "text",
    "status_code": "int",
    "latency_ms": "int",
    "response_body": "text",
    "error": "text",
    "succeeded": "boolean",
}
"""An attempt row's columns and their PostgreSQL types (``finish_batch``'s arrays)."""
ATTEMPT_COLUMNS = tuple(ATTEMPT_TYPES)
ATTEMPTS_PER_STATEMENT = 64
"""Rows one INSERT carries at most (11 parameters each; SQLite and asyncpg allow 32,766)."""


async def insert_attempts(conn: Connection, attempts: Sequence[dict[str, object]]) -> None:
    """Several attempts (rows of ``ATTEMPT_COLUMNS``), one statement per
    ``ATTEMPTS_PER_STATEMENT``: a worker's batch of results costs one or two
    statements here instead of one per result."""
    columns = ", ".join(ATTEMPT_COLUMNS)
    for start in range(0, len(attempts), ATTEMPTS_PER_STATEMENT):
        chunk = attempts[start : start + ATTEMPTS_PER_STATEMENT]
        params: dict[str, object] = {}
        rows = []
        for i, attempt in enumerate(chunk):
            rows.append("(" + ", ".join(f":{column}_{i}" for column in ATTEMPT_COLUMNS) + ")")
            for column in ATTEMPT_COLUMNS:
                params[f"{column}_{i}"] = attempt[column]
        await conn.execute(f"INSERT INTO webhook_attempts ({columns}) VALUES {', '.join(rows)}", params)


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt's outcome on a claimed delivery (``finish_attempt``, ``finish_batch``)."""

    id: UUID
    token: UUID
    status: str
    step: int
    next_attempt_at: datetime | None
    at: datetime
    status_code: int | None
    error: str | None


_AGAIN = "redelivery_requested_at IS NOT NULL"
"""A redelivery was asked for while the worker held the delivery: whatever the attempt's
outcome, the delivery is due again at once, in a new round (``requeue``)."""


async def finish_attempt(conn: Connection, one: Finished) -> bool:
    """Record an attempt's outcome on a delivery this worker still holds; release it
    (due again at once if a redelivery was asked for meanwhile)."""
    changed = await conn.execute(
        f"""
        UPDATE webhook_deliveries
        SET status = CASE WHEN {_AGAIN} THEN 'pending' ELSE :status END,
            attempts = attempts + 1,
            step = CASE WHEN {_AGAIN} THEN 0 ELSE :step END,
            next_attempt_at = CASE WHEN {_AGAIN} THEN :at ELSE :next_attempt_at END,
            failed_at = CASE WHEN {_AGAIN} THEN NULL ELSE :failed_at END,
            redelivery_requested_at = NULL,
            claimed_until = NULL, claim_token = NULL, last_attempt_at = :at,
            last_status_code = :status_code, last_error = :error,
            delivered_at = COALESCE(:delivered_at, delivered_at)
        WHERE id = :id AND claim_token = :token
        """,
        {
            "delivered_at": one.at if one.status == "delivered" else None,
            "failed_at": one.at if one.status == "failed" else None,
            "status": one.status,
            "step": one.step,
            "next_attempt_at": one.next_attempt_at,
            "at": one.at,
            "status_code": one.status_code,
            "error": one.error,
            "id": one.id,
            "token": one.token,
        },
    )
    return changed == 1


_FINISH_BATCH = f"""
    WITH done AS (
        UPDATE webhook_deliveries d
        SET status = CASE WHEN d.{_AGAIN} THEN 'pending' ELSE v.status END,
            attempts = d.attempts + 1,
            step = CASE WHEN d.{_AGAIN} THEN 0 ELSE v.step END,
            next_attempt_at = CASE WHEN d.{_AGAIN} THEN v.at ELSE v.next_attempt_at END,
            failed_at = CASE WHEN d.{_AGAIN} THEN NULL ELSE v.failed_at END,
            redelivery_requested_at = NULL, claimed_until = NULL, claim_token = NULL,
            last_attempt_at = v.at, last_status_code = v.status_code, last_error = v.error,
            delivered_at = COALESCE(v.delivered_at, d.delivered_at)
        FROM unnest(:ids::uuid[], :tokens::uuid[], :statuses::text[], :steps::int[],
                    :next_attempts::timestamptz[], :ats::timestamptz[], :status_codes::int[],
                    :errors::text[], :delivered::timestamptz[], :failed::timestamptz[])
            AS v(id, token, status, step, next_attempt_at, at, status_code, error, delivered_at, failed_at)
        WHERE d.id = v.id AND d.claim_token = v.token
        RETURNING d.id
    ), recorded AS (
        INSERT INTO webhook_attempts ({", ".join(ATTEMPT_COLUMNS)})
        SELECT * FROM unnest({", ".join(f":a_{column}::{kind}[]" for column, kind in ATTEMPT_TYPES.items())})
    ), healthy AS (
        UPDATE applications SET webhook_failing_since = NULL
        WHERE id = ANY(:healthy::uuid[]) AND webhook_failing_since IS NOT NULL
    )
    SELECT id FROM done
"""


async def finish_batch(
    conn: Connection,
    finished: Sequence[Finished],
    attempts: Sequence[dict[str, object]],
    healthy: Collection[UUID],
) -> set[UUID]:
    """Write what a batch of results leaves for its end: the deliveries' outcomes
    (``finish_attempt`` on each this worker still holds), their attempt rows (of
    ``ATTEMPT_COLUMNS``), and the end of the failing streak of the applications in
    ``healthy``; the ids of the deliveries still held.

    On PostgreSQL one statement, atomic by itself: a batch of successes is one round
    trip, with no BEGIN or COMMIT (these were most of a delivery's time in the
    database). On SQLite, where a statement is a function call, one each."""
    if conn.dialect != "postgresql":
        kept = {one.id for one in finished if await finish_attempt(conn, one)}
        await insert_attempts(conn, attempts)
        for application in healthy:
            await endpoint_succeeded(conn, application)
        return kept
    if not finished and not attempts and not healthy:
        return set()
    rows = await conn.fetch_all(
        _FINISH_BATCH,
        {
            "ids": [one.id for one in finished],
            "tokens": [one.token for one in finished],
            "statuses": [one.status for one in finished],
            "steps": [one.step for one in finished],
            "next_attempts": [one.next_attempt_at for one in finished],
            "ats": [one.at for one in finished],
            "status_codes": [one.status_code for one in finished],
            "errors": [one.error for one in finished],
            "delivered": [one.at if one.status == "delivered" else None for one in finished],
            "failed": [one.at if one.status == "failed" else None for one in finished],
            **{f"a_{column}": [attempt[column] for attempt in attempts] for column in ATTEMPT_COLUMNS},
            "healthy": list(healthy),
        },
    )
    return {row["id"] for row in rows}


async def give_up(conn: Connection, *, id: UUID, token: UUID, reason: str, at: datetime) -> bool:
    """Mark a claimed delivery failed without an attempt (no URL, endpoint disabled);
    due again at once instead if a redelivery was asked for meanwhile (which enabled the
    endpoint again)."""
    when = ":at::timestamptz" if conn.dialect == "postgresql" else ":at"  # else text in a CASE
    changed = await conn.execute(
        f"""
        UPDATE webhook_deliveries
        SET status = CASE WHEN {_AGAIN} THEN 'pending' ELSE 'failed' END,
            step = CASE WHEN {_AGAIN} THEN 0 ELSE step END,
            next_attempt_at = CASE WHEN {_AGAIN} THEN {when} ELSE NULL END,
            failed_at = CASE WHEN {_AGAIN} THEN NULL ELSE {when} END,
            redelivery_requested_at = NULL, claimed_until = NULL, claim_token = NULL,
            last_error = :reason
        WHERE id = :id AND claim_token = :token
        """,
        {"reason": reason, "at": at, "id": id, "token": token},
    )
    return changed == 1


async def endpoint_succeeded(conn: Connection, application_id: UUID) -> None:
    await conn.execute(
        """
        UPDATE applications SET webhook_failing_since = NULL
        WHERE id = :id AND webhook_failing_since IS NOT NULL
        """,
        {"id": application_id},
    )


async def endpoint_failed(
    conn: Connection, application_id: UUID, *, at: datetime, disable_before: datetime, reason: str
) -> bool:
    """Note a failed attempt; disable the endpoint if every attempt since ``disable_before``
    failed. True if this call disabled it."""
    await conn.execute(
        """
        UPDATE applications SET webhook_failing_since = :at
        WHERE id = :id AND webhook_failing_since IS NULL
        """,
        {"id": application_id, "at": at},
    )
    return await disable_endpoint(conn, application_id, at=at, reason=reason, failing_before=disable_before)


async def disable_endpoint(
    conn: Connection,
    application_id: UUID,
    *,
    at: datetime,
    reason: str,
    failing_before: datetime | None = None,
) -> bool:
    """Disable the endpoint (unless it already is); with ``failing_before``, only if it
    has been failing since then."""
    condition = (
        " AND webhook_failing_since IS NOT NULL AND webhook_failing_since <= :failing_before"
        if failing_before is not None
        else ""
    )
    changed = await conn.execute(
        f"""
        UPDATE applications SET webhook_disabled_at = :at, webhook_disabled_reason = :reason
        WHERE id = :id AND webhook_disabled_at IS NULL{condition}
        """,
        {"id": application_id, "at": at, "reason": reason[:200], "failing_before": failing_before},
    )
    return changed == 1


# -- the API --------------------------------------------------------------------


async def event_cursor(conn: Connection, tenant: Tenant, event_id: UUID) -> tuple[int, UUID] | None:
    row = await conn.fetch_one(
        f"SELECT e.log_position, e.id FROM events e WHERE e.id = :id AND {_TENANT}",
        {"id": event_id, **_tenant(tenant)},
    )
    return None if row is None else (row["log_position"], row["id"])


async def events_page(
    conn: Connection,
    tenant: Tenant,
    *,
    after: tuple[int, UUID] | None,
    type: str | None,
    payment_id: UUID | None,
    limit: int,
) -> list[Row]:
    """Committed events of the tenant in commit order, after the cursor ``after``."""
    where = [_TENANT]
    params: dict[str, Any] = {**_tenant(tenant), "limit": limit}
    horizon = await log_horizon(conn)
    if horizon is not None:
        where.append("e.log_position < :horizon")
        params["horizon"] = horizon
    if payment_id is not None:
        where.append("e.payment_id = :payment_id")
        params["payment_id"] = payment_id
    if after is not None:
        where.append(
            "(e.log_position > :after_position OR (e.log_position = :after_position AND e.id > :after_id))"
        )
        params["after_position"], params["after_id"] = after
    if type is not None:
        where.append("e.type = :type")
        params["type"] = type
    rows = await conn.fetch_all(
        f"""SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM}
        WHERE {" AND ".join(where)} ORDER BY e.log_position, e.id LIMIT :limit""",
        params,
    )
    return list(rows)


async def event(conn: Connection, tenant: Tenant, event_id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM} WHERE e.id = :id AND {_TENANT}",
        {"id": event_id, **_tenant(tenant)},
    )


async def attempts(conn: Connection, event_id: UUID) -> list[Row]:
    """An event's attempts, oldest first (the caller has checked the event's tenant)."""
    rows = await conn.fetch_all(
        """
        SELECT id, attempted_at, url, request_headers, status_code, latency_ms, response_body, error, succeeded
        FROM webhook_attempts WHERE event_id = :event_id ORDER BY attempted_at, id
        """,
        {"event_id": event_id},
    )
    return list(rows)


async def requeue(conn: Connection, delivery_id: UUID, *, at: datetime) -> None:
    """Make a delivery due at once, in a new round of the schedule. One a worker holds
    now (its lease running) stays its own until its attempt ends, so that no two
    attempts of one event overlap, and is marked so that the end of the attempt leaves
    it due again (``finish_attempt``): exactly one more attempt, however many times a
    redelivery is asked for meanwhile."""
    await conn.execute(
        """
        UPDATE webhook_deliveries
        SET status = 'pending', step = 0, next_attempt_at = :at, failed_at = NULL,
            redelivery_requested_at = CASE
                WHEN claim_token IS NOT NULL AND claimed_until > :at THEN :at ELSE NULL END
        WHERE id = :id
        """,
        {"id": delivery_id, "at": at},
    )


async def failed_since(
    conn: Connection, tenant: Tenant, *, since: datetime, after: UUID | None, limit: int
) -> list[Row]:
    """Up to ``limit`` failed deliveries of the tenant's events created at or after
    ``since``, in delivery id order after ``after`` (one bounded batch)."""
    later = "" if after is None else " AND d.id > :after"
    rows = await conn.fetch_all(
        f"""
        SELECT d.id, d.application_id FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.status = 'failed' AND {_TENANT} AND e.created_at >= :since{later}
        ORDER BY d.id LIMIT :limit
        """,
        {**_tenant(tenant), "since": since, "limit": limit, **({} if after is None else {"after": after})},
    )
    return list(rows)


async def requeue_many(conn: Connection, delivery_ids: Sequence[UUID], *, at: datetime) -> int:
    """``requeue`` for failed deliveries, in one statement per thousand."""
    count = 0
    for start in range(0, len(delivery_ids), 1000):
        marks, params = placeholders(list(delivery_ids[start : start + 1000]), "d")
        count += await conn.execute(
            f"""
            UPDATE webhook_deliveries
            SET status = 'pending', step = 0, next_attempt_at = :at, failed_at = NULL
            WHERE id IN ({marks}) AND status = 'failed'
            """,
            {**params, "at": at},
        )
    return count


async def enable_endpoints(conn: Connection, tenant: Tenant, application_ids: Sequence[UUID]) -> None:
    """Clear the disabled state of these applications (the merchant asked to send again)."""
    if not application_ids:
        return
    marks, params = placeholders(list(application_ids), "a")
    await conn.execute(
        f"""
        UPDATE applications
        SET webhook_disabled_at = NULL, webhook_disabled_reason = NULL, webhook_failing_since = NULL
        WHERE id IN ({marks}) AND account_id = :account_id AND environment = :environment
          AND webhook_disabled_at IS NOT NULL
        """,
        {**params, **_tenant(tenant)},
    )


async def application_webhook(conn: Connection, application_id: UUID) -> Row | None:
    return await conn.fetch_one(
        "SELECT id, webhook_url, archived_at FROM applications WHERE id = :id", {"id": application_id}
    )


# -- payreq listen ----------------------------------------------------------------


async def listened_applications(
    conn: Connection, *, client_id: str | None, account_id: UUID | None, environment: str | None
) -> list[Row]:
    """The applications ``payreq listen`` forwards: one by Client ID, or an account's."""
    columns = """id, client_id, account_id, environment, webhook_secret, previous_webhook_secret,
        previous_webhook_secret_expires_at, older_webhook_secrets"""
    if client_id is not None:
        rows = await conn.fetch_all(
            f"SELECT {columns} FROM applications WHERE client_id = :c", {"c": client_id}
        )
    else:
        rows = await conn.fetch_all(
            f"SELECT {columns} FROM applications WHERE account_id = :a AND environment = :e",
            {"a": account_id, "e": environment},
        )
    return list(rows)


async def events_since(
    conn: Connection, *, account_id: UUID, environment: str, since: datetime, limit: int
) -> list[Row]:
    rows = await conn.fetch_all(
        """
        SELECT e.id, e.application_id, e.type, e.data, e.created_at FROM events e
        WHERE e.account_id = :account_id AND e.environment = :environment AND e.created_at >= :since
        ORDER BY e.created_at, e.id LIMIT :limit
        """,
        {"account_id": account_id, "environment": environment, "since": since, "limit": limit},
    )
    return list(rows)


# -- retention (the worker, in small batches) ----------------------------------------


async def forget_attempt_bodies(conn: Connection, *, before: datetime, limit: int) -> int:
    """Clear the stored answers of up to ``limit`` attempts made before ``before``."""
    return await conn.execute(
        """
        UPDATE webhook_attempts SET response_body = NULL
        WHERE id IN (SELECT id FROM webhook_attempts
                     WHERE attempted_at < :before AND response_body IS NOT NULL LIMIT :limit)
        """,
        {"before": before, "limit": limit},
    )


async def delete_events_before(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` events created before ``before``, with their deliveries and
    attempts (never one whose delivery is still pending)."""
    rows = await conn.fetch_all(
        """
        SELECT e.id FROM events e
        WHERE e.created_at < :before AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        LIMIT :limit
        """,
        {"before": before, "limit": limit},
    )
    if not rows:
        return 0
    marks, params = placeholders([row["id"] for row in rows], "e")
    await conn.execute(f"DELETE FROM webhook_attempts WHERE event_id IN ({marks})", params)
    await conn.execute(f"DELETE FROM webhook_deliveries WHERE event_id IN ({marks})", params)
    return await conn.execute(f"DELETE FROM events WHERE id IN ({marks})", params)


async def queue_depth(conn: Connection, *, now: datetime) -> int:
    """Deliveries due now that no worker holds: the backlog (``/metrics``); a disabled
    account's, which wait, are not in it."""
    row = await conn.fetch_one(f"SELECT count(*) AS n FROM webhook_deliveries WHERE {_DUE}", {"now": now})
    return int(row["n"]) if row is not None else 0
