"""All SQL for payments. Every read goes through ``_tenant`` so no query forgets the
account and environment scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from uuid import UUID

import msgspec

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row
from payreq.db.base import Parts, Statement, placeholders
from payreq.kit import money
from payreq.method.creditor_reference import compact_form
from payreq.payment import rollup_repository as rollup
from payreq.payment.lifecycle import REACHED_AT, Status
from payreq.payment.models import Payment, PaymentQuery
from payreq.payment.schemas_b import change_data_sql
from payreq.webhook.repository import insert_events_sql

_COLUMNS = """p.id, p.account_id, p.environment, p.application_id, a.client_id AS application_client_id,
       p.status, p.amount, p.currency, p.redirect_url, p.reference_id, p.reference_label, p.metadata,
       p.created_at, p.expires_at, p.paid_at, p.cancelled_at, p.expired_at"""
_SELECT = f"""
SELECT {_COLUMNS}
FROM payments p JOIN applications a ON a.id = p.application_id
"""


_SHOWN_COLUMNS = (
    "status", "amount", "currency", "redirect_url", "reference_id", "metadata",
    "created_at", "expires_at", "paid_at", "cancelled_at", "expired_at", "environment",
)  # fmt: skip
_SHOWN_WHERE = (
    "FROM payments p WHERE p.id = :id AND p.account_id = :account_id AND p.environment = :environment"
)
_SHOWN = f"SELECT CAST(p.id AS TEXT) AS id, {', '.join(f'p.{c}' for c in _SHOWN_COLUMNS)} {_SHOWN_WHERE}"
# on SQLite every column an expression: no declared type, so no converter to look up
# per column and per read (a fifth of the read); the instants come as stored text
_SHOWN_SQLITE = (
    "SELECT CAST(p.id AS TEXT) AS id, "
    + ", ".join(f"+p.{c} AS {c}" if c == "amount" else f"p.{c} || '' AS {c}" for c in _SHOWN_COLUMNS)
    + f" {_SHOWN_WHERE}"
)
_OF_APPLICATION = " AND p.application_id = :scope_application_id"
_SHOWN_SQL = {
    ("postgresql", False): _SHOWN,
    ("postgresql", True): _SHOWN + _OF_APPLICATION,
    ("sqlite", False): _SHOWN_SQLITE,
    ("sqlite", True): _SHOWN_SQLITE + _OF_APPLICATION,
}


def _tenant(tenant: Tenant) -> tuple[str, dict[str, Any]]:
    """The scope every payment read goes through: account and environment, and for a
    client token its own application."""
    params: dict[str, Any] = {"account_id": tenant.account_id, "environment": tenant.environment}
    if tenant.application_id is None:
        return "p.account_id = :account_id AND p.environment = :environment", params
    params["scope_application_id"] = tenant.application_id
    return (
        "p.account_id = :account_id AND p.environment = :environment AND p.application_id = :scope_application_id",
        params,
    )


def _payment(row: Row) -> Payment:
    raw_metadata = row["metadata"]
    return Payment(
        id=row["id"],
        account_id=row["account_id"],
        environment=row["environment"],
        application_id=row["application_id"],
        application_client_id=row["application_client_id"],
        status=Status(row["status"]),
        amount=int(row["amount"]),
        currency=row["currency"],
        redirect_url=row["redirect_url"],
        reference_id=row["reference_id"],
        reference_label=row["reference_label"],
        metadata=msgspec.json.decode(raw_metadata) if raw_metadata else None,
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        paid_at=row["paid_at"],
        cancelled_at=row["cancelled_at"],
        expired_at=row["expired_at"],
    )


_INSERT = """INSERT INTO payments (id, account_id, environment, application_id, status, amount, currency,
                      redirect_url, reference_id, reference_label, metadata, created_at, expires_at)
    VALUES (:p_id, :p_account_id, :p_environment, :p_application_id, :p_status, :p_amount, :p_currency,
            :p_redirect_url, :p_reference_id, :p_reference_label, :p_metadata, :p_created_at, :p_expires_at)"""


def creation(payment: Payment) -> Parts:
    """The statements that store a new payment: its row, and its count in its day's
    rollup (``rollup.entered``). The creation's event is written with them
    (``outbox.record(along=...)``): on PostgreSQL one statement for the four rows."""
    row = Statement(
        _INSERT,
        {
            "p_id": payment.id,
            "p_account_id": payment.account_id,
            "p_environment": payment.environment,
            "p_application_id": payment.application_id,
            "p_status": payment.status.value,
            "p_amount": payment.amount,
            "p_currency": payment.currency,
            "p_redirect_url": payment.redirect_url,
            "p_reference_id": payment.reference_id,
            "p_reference_label": payment.reference_label,
            "p_metadata": msgspec.json.encode(payment.metadata).decode()
            if payment.metadata is not None
            else None,
            "p_created_at": payment.created_at,
            "p_expires_at": payment.expires_at,
        },
    )
    entered = rollup.entered(
        rollup.Move(
            payment.id,
            payment.account_id,
            payment.environment,
            payment.currency,
            payment.amount,
            payment.created_at,
            None,
            payment.status,
        )
    )
    return (("new_payment", row), ("new_payment_daily", entered))


async def get(conn: Connection, tenant: Tenant, payment_id: UUID) -> Payment | None:
    scope, params = _tenant(tenant)
    row = await conn.fetch_one(f"{_SELECT} WHERE p.id = :id AND {scope}", {"id": payment_id, **params})
    return None if row is None else _payment(row)


async def by_transfer_references(
    conn: Connection, tenant: Tenant, references: Sequence[str]
) -> list[tuple[str, Payment]]:
    """The payments of ``tenant`` that ``references`` (compact transfer references)
    were issued for, each with its reference: a statement line's match in one read."""
    if not references:
        return []
    scope, params = _tenant(tenant)
    marks, named = placeholders(list(references), "ref")
    rows = await conn.fetch_all(
        f"""
        SELECT t.reference, {_COLUMNS}
        FROM transfer_references t
        JOIN payments p ON p.id = t.payment_id JOIN applications a ON a.id = p.application_id
        WHERE t.reference IN ({marks}) AND t.account_id = :account_id AND t.environment = :environment
          AND {scope}
        """,
        {**named, **params},
    )
    return [(str(row["reference"]), _payment(row)) for row in rows]


async def get_shown(conn: Connection, tenant: Tenant, payment_id: UUID) -> Row | None:
    """The columns contract A shows (``PaymentRequestView.of_row``), scoped as ``get``,
    with no join and the id as text: the poll's read, about half of ``get``'s cost.
    On SQLite the instants are the stored text (``kit.clock.instant``)."""
    params: dict[str, Any] = {
        "id": payment_id,
        "account_id": tenant.account_id,
        "environment": tenant.environment,
    }
    scoped = tenant.application_id is not None
    if scoped:
        params["scope_application_id"] = tenant.application_id
    return await conn.fetch_one(_SHOWN_SQL[conn.dialect, scoped], params)


async def get_by_ids(conn: Connection, ids: list[UUID]) -> list[Payment]:
    """Unscoped: for the worker, which acts for every tenant."""
    if not ids:
        return []
    names = {f"id{i}": value for i, value in enumerate(ids)}
    marks = ", ".join(f":{name}" for name in names)
    rows = await conn.fetch_all(f"{_SELECT} WHERE p.id IN ({marks})", names)
    return [_payment(row) for row in rows]


async def cursor(conn: Connection, tenant: Tenant, payment_id: UUID) -> tuple[datetime, UUID] | None:
    scope, params = _tenant(tenant)
    row = await conn.fetch_one(
        f"SELECT p.created_at, p.id FROM payments p WHERE p.id = :id AND {scope}",
        {"id": payment_id, **params},
    )
    return None if row is None else (row["created_at"], row["id"])


async def page(
    conn: Connection,
    tenant: Tenant,
    query: PaymentQuery,
    *,
    now: datetime,
    after: tuple[datetime, UUID] | None,
) -> list[Payment]:
    """Newest first, ``query.limit + 1`` rows so the caller can tell if more follow.

    A pending payment past its deadline counts as expired in the status filter, as it
    reads everywhere else.
    """
    scope, params = _tenant(tenant)
    where = [scope]
    params["limit"] = query.limit + 1
    if query.status is Status.PENDING:
        where.append("p.status = 'pending' AND p.expires_at > :now")
        params["now"] = now
    elif query.status is Status.EXPIRED:
        where.append("(p.status = 'expired' OR (p.status = 'pending' AND p.expires_at <= :now))")
        params["now"] = now
    elif query.status is not None:
        where.append("p.status = :status")
        params["status"] = query.status.value
    if query.reference_id is not None:
        where.append("p.reference_id = :reference_id")
        params["reference_id"] = query.reference_id
    if query.application_client_id is not None:
        where.append("a.client_id = :client_id")
        params["client_id"] = query.application_client_id
    if query.created_gte is not None:
        where.append("p.created_at >= :created_gte")
        params["created_gte"] = query.created_gte
    if query.created_lt is not None:
        where.append("p.created_at < :created_lt")
        params["created_lt"] = query.created_lt
    if query.currency is not None:
        where.append("p.currency = :currency")
        params["currency"] = query.currency
    for bound, op, value in (("amount_gte", ">=", query.amount_gte), ("amount_lte", "<=", query.amount_lte)):
        if value is not None:
            where.append(_amount_bound(bound, op, value, params))
    if query.search is not None:
        where.append(_search(query.search, params))
    if after is not None:
        # a row value, so that both engines seek the (created_at, id) index to the cursor
        where.append("(p.created_at, p.id) < (:after_created, :after_id)")
        params["after_created"], params["after_id"] = after
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY p.created_at DESC, p.id DESC LIMIT :limit"
    return [_payment(row) for row in await conn.fetch_all(sql, params)]


def _amount_bound(name: str, op: str, major: Decimal, params: dict[str, Any]) -> str:
    """``amount op major`` in each payment's own currency: one bound per minor-unit
    exponent (a whole number of minor units, rounded towards the range's inside)."""
    by_exponent: dict[int, list[str]] = {}
    for code in sorted(money.active_currencies()):
        by_exponent.setdefault(money.minor_unit_digits(code), []).append(code)
    parts = []
    for exponent, codes in sorted(by_exponent.items()):
        scaled = major.scaleb(exponent)
        minor = int(scaled.to_integral_value(ROUND_CEILING if op == ">=" else ROUND_FLOOR))
        marks, named = placeholders(codes, f"{name}_{exponent}_c")
        params.update(named)
        params[f"{name}_{exponent}"] = minor
        parts.append(f"(p.currency IN ({marks}) AND p.amount {op} :{name}_{exponent})")
    return f"({' OR '.join(parts)})"


def _search(text: str, params: dict[str, Any]) -> str:
    """A payment id, an exact reference, part of a reference label (any case), or a
    transfer reference as a payer may write it (spaces, lower case)."""
    try:
        params["search_id"] = UUID(text.strip())
    except ValueError:
        pass
    else:
        return "p.id = :search_id"
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params["search_text"] = text.strip()
    params["search_like"] = f"%{escaped}%"
    params["search_reference"] = compact_form(text)
    return (
        "(p.reference_id = :search_text OR LOWER(p.reference_label) LIKE :search_like ESCAPE '\\'"
        " OR p.id IN (SELECT t.payment_id FROM transfer_references t WHERE t.reference = :search_reference))"
    )


async def settle(conn: Connection, payment_id: UUID, target: Status, *, at: datetime) -> bool:
    """pending -> paid | cancelled, only while the deadline has not passed. One winner."""
    column = REACHED_AT[target]
    rows = await conn.fetch_all(
        f"""
        UPDATE payments SET status = :target, {column} = :at
        WHERE id = :id AND status = 'pending' AND expires_at > :at {rollup.RETURNING}
        """,
        {"target": target.value, "at": at, "id": payment_id},
    )
    return await _moved(conn, rows, Status.PENDING, target)


async def settle_terminal(
    conn: Connection, payment_id: UUID, current: Status, target: Status, *, at: datetime
) -> bool:
    """expired | cancelled -> paid (the lifecycle says when), only while the payment is
    still ``current``. One winner."""
    column = REACHED_AT[target]
    rows = await conn.fetch_all(
        f"UPDATE payments SET status = :target, {column} = :at WHERE id = :id AND status = :current "
        + rollup.RETURNING,
        {"target": target.value, "at": at, "id": payment_id, "current": current.value},
    )
    return await _moved(conn, rows, current, target)


async def expire(conn: Connection, payment_id: UUID, *, now: datetime) -> bool:
    """pending -> expired once the deadline has passed; expired_at is the deadline."""
    rows = await conn.fetch_all(
        f"""
        UPDATE payments SET status = 'expired', expired_at = expires_at
        WHERE id = :id AND status = 'pending' AND expires_at <= :now {rollup.RETURNING}
        """,
        {"id": payment_id, "now": now},
    )
    return await _moved(conn, rows, Status.PENDING, Status.EXPIRED)


async def _moved(conn: Connection, rows: Sequence[Row], before: Status, after: Status) -> bool:
    """Whether the conditional update won (read to its end: SQLite finishes a RETURNING
    statement on its last row); if it did, its rollup is written beside it."""
    await rollup.apply(conn, [rollup.Move.of(row, before, after) for row in rows])
    return bool(rows)


async def expire_many(conn: Connection, ids: list[UUID], *, now: datetime) -> set[UUID]:
    """``expire`` for a batch of the sweep in one statement, its rollups in one more per
    table: the ids it changed (a concurrent change may have won the others). An array on
    PostgreSQL (one statement text whatever the batch's length), a list on SQLite."""
    if not ids:
        return set()
    params: dict[str, object]
    if conn.dialect == "postgresql":
        where, params = "id = ANY(:ids::uuid[])", {"ids": ids}
    else:
        marks, params = placeholders(ids, "id")
        where = f"id IN ({marks})"
    rows = await conn.fetch_all(
        f"""
        UPDATE payments SET status = 'expired', expired_at = expires_at
        WHERE {where} AND status = 'pending' AND expires_at <= :now {rollup.RETURNING}
        """,
        {**params, "now": now},
    )
    await _moved(conn, rows, Status.PENDING, Status.EXPIRED)
    return {row["id"] for row in rows}


async def overdue(conn: Connection, *, now: datetime, limit: int) -> list[Payment]:
    """Unscoped, for the worker's sweep: up to ``limit`` pending payments past their
    deadline, the longest overdue first."""
    rows = await conn.fetch_all(
        f"""{_SELECT} WHERE p.status = 'pending' AND p.expires_at <= :now
        ORDER BY p.expires_at LIMIT :limit""",
        {"now": now, "limit": limit},
    )
    return [_payment(row) for row in rows]


_EXPIRED_DATA = change_data_sql(
    "moved", "app.client_id", ":base_url::text", status=Status.EXPIRED, previous=Status.PENDING
)
_EXPIRE_OVERDUE = f"""
WITH moved AS (
    -- an array of the ids, so that each row is found by its primary key: a join with
    -- the batch's rows may be planned as a scan of every payment
    -- the rows another batch (or a change through the API) holds are left to it: batches
    -- of one backlog run side by side (Worker.run), and none waits on another's rows
    UPDATE payments p SET status = 'expired', expired_at = p.expires_at
    WHERE p.id = ANY(ARRAY(
        SELECT id FROM payments WHERE status = 'pending' AND expires_at <= :now
        ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )) AND p.status = 'pending' AND p.expires_at <= :now
    RETURNING p.*
),
{insert_events_sql("moved", data=_EXPIRED_DATA)}
{rollup.group_sql("moved", also=", (SELECT COUNT(*) FROM delivery) AS deliveries")}
"""


async def expire_overdue(
    conn: Connection, *, now: datetime, limit: int, base_url: str, event_type: str
) -> tuple[list[rollup.Group], bool]:
    """The sweep's batch on PostgreSQL in one statement: up to ``limit`` pending
    payments past their deadline, the longest overdue first, expired as ``expire``
    does (a concurrent change may win some), each with its ``event_type`` event, its
    ``data`` built by the database as ``change_data`` builds it, and its delivery where
    the application has a webhook URL; then their rollups. The expired payments by
    rollup group, and whether any delivery was written."""
    rows = await conn.fetch_all(
        _EXPIRE_OVERDUE, {"now": now, "limit": limit, "base_url": base_url, "event_type": event_type}
    )
    groups = [
        rollup.Group(
            r["account_id"],
            r["environment"],
            r["day"],
            r["currency"],
            r["slot"],
            int(r["payments"]),
            int(r["amount"]),
        )
        for r in rows
    ]
    await rollup.apply_groups(conn, groups, Status.PENDING, Status.EXPIRED)
    return groups, bool(rows) and int(rows[0]["deliveries"]) > 0
