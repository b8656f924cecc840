"""The overview's per-day rollups of payments (tables in ``payreq.db.tables``), written
in the transaction of every status change so that they commit or roll back with it:

- ``payment_daily``: payments and their amount by the UTC day they were created,
  currency and status now (the share of paid, expired and cancelled);
- ``payment_paid_daily``: paid payments and their amount by the UTC day they were paid
  and currency (the chart);
- ``payment_pay_times`` and ``payment_pay_seconds``: paid payments by the UTC day they
  were created and their whole seconds from creation to payment, the first by a coarse
  ``bucket`` of those seconds, the second by bucket and exact second, so that the
  median is read exactly from the few rows of the bucket it falls in.

Nothing leaves paid (lifecycle.py), so the paid rollups only ever grow. ``apply``
sums a batch of moves by key and writes each key once, in key order: the rows that
grow in one upsert per table, the rows a status leaves in one update each, so a batch
of the expiry sweep costs one upsert and one update per tenant, day and currency.

Day and seconds are computed as the overview always computed them: UTC days, whole
seconds rounded half up (SQLite's backfill rounds its stored microseconds through
julianday's milliseconds, so a time to pay within half a millisecond of a half second
may round the other way there).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from payreq.db import Connection, Row
from payreq.db.base import Statement
from payreq.db.held import Held
from payreq.payment.lifecycle import Status

_BUCKETS = ((60, 1), (600, 10), (3600, 60), (86_400, 600), (30 * 86_400, 3600))
"""(below this many seconds, buckets this wide); 86,400 s wide beyond."""


def bucket(seconds: int) -> int:
    """The coarse bucket of a time to pay: its lower bound, at most a sixth below it.
    Monotonic in ``seconds``, which the median relies on."""
    if seconds < 0:
        return -1
    for below, width in _BUCKETS:
        if seconds < below:
            return seconds - seconds % width
    return seconds - seconds % 86_400


def bucket_sql(seconds: str) -> str:
    """``bucket`` in SQL (both engines), for the backfill."""
    cases = " ".join(
        f"WHEN {seconds} < {below} THEN {seconds} - {seconds} % {width}" for below, width in _BUCKETS
    )
    return f"CASE WHEN {seconds} < 0 THEN -1 {cases} ELSE {seconds} - {seconds} % 86400 END"


def day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def seconds_to_pay(created_at: datetime, paid_at: datetime) -> int:
    """Whole seconds, half up, as the database rounds them."""
    return (paid_at - created_at + timedelta(microseconds=500_000)) // timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Move:
    """One payment entering ``after`` (from ``before``; None when it is created)."""

    payment_id: UUID
    account_id: UUID
    environment: str
    currency: str
    amount: int
    created_at: datetime
    before: Status | None
    after: Status
    paid_at: datetime | None = None

    @classmethod
    def of(cls, row: Row, before: Status | None, after: Status) -> Move:
        """From a payment row (``RETURNING`` of the change) with these columns."""
        return cls(
            row["id"] if isinstance(row["id"], UUID) else UUID(str(row["id"])),
            row["account_id"],
            row["environment"],
            row["currency"],
            int(row["amount"]),
            _datetime(row["created_at"]),
            before,
            after,
            None if row["paid_at"] is None else _datetime(row["paid_at"]),
        )


RETURNING = "RETURNING id, account_id, environment, currency, amount, created_at, paid_at"
"""What ``Move.of`` reads from an UPDATE of payments."""


def _datetime(value: Any) -> datetime:
    # SQLite does not type a RETURNING column, so its stored text comes back as is
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


_UPSERT = {
    "payment_daily": (
        ("account_id", "environment", "day", "currency", "status", "slot"),
        ("payments", "amount"),
    ),
    "payment_paid_daily": (("account_id", "environment", "day", "currency", "slot"), ("payments", "amount")),
    "payment_pay_times": (("account_id", "environment", "day", "bucket", "slot"), ("payments",)),
    "payment_pay_seconds": (("account_id", "environment", "bucket", "day", "seconds", "slot"), ("payments",)),
}


def slot(payment_id: UUID) -> str:
    """The rollup slot of a payment: the last hex digit of its id (``substr(id, 36, 1)``
    on SQLite, ``right(id::text, 1)`` on PostgreSQL). Every row of a rollup is split
    sixteen ways by it, so that concurrent changes of one tenant, day and currency
    queue on sixteen row locks instead of one; a payment's moves always meet the same
    slot, and readers sum over them."""
    return format(payment_id.int & 0xF, "x")


_ROWS_PER_STATEMENT = 500
"""Keys per upsert: seven parameters each, well under either engine's limit."""


_Sums = dict[str, dict[tuple[Any, ...], list[int]]]


def _adder(sums: _Sums) -> Callable[..., None]:
    def add(table: str, key: tuple[Any, ...], *values: int) -> None:
        total = sums[table].setdefault(key, [0] * len(values))
        for i, value in enumerate(values):
            total[i] += value

    return add


_held: Held[_Sums] = Held("payreq.rollups.held")


def holding(conn: Connection) -> AbstractAsyncContextManager[None]:
    """Hold ``conn``'s unit's rollup changes (``apply``) back, summed, to the end of
    the block, and write them then in key order (``payreq.db.held``): for a unit that
    changes many payments, so that it takes the tenant's rollup rows after every
    payment row it changes, never between them."""
    return _held.holding(conn, {table: {} for table in _UPSERT}, _write)


async def apply(conn: Connection, moves: Iterable[Move]) -> None:
    held = _held.of(conn)
    sums: _Sums = {table: {} for table in _UPSERT} if held is None else held
    add = _adder(sums)

    for move in moves:
        tenant, part = (move.account_id, move.environment), slot(move.payment_id)
        created = day(move.created_at)
        if move.before is not None:
            add("payment_daily", _daily_key(move, move.before), -1, -move.amount)
        add("payment_daily", _daily_key(move, move.after), 1, move.amount)
        if move.after is Status.PAID and move.paid_at is not None:
            add("payment_paid_daily", (*tenant, day(move.paid_at), move.currency, part), 1, move.amount)
            seconds = seconds_to_pay(move.created_at, move.paid_at)
            add("payment_pay_times", (*tenant, created, bucket(seconds), part), 1)
            add("payment_pay_seconds", (*tenant, bucket(seconds), created, seconds, part), 1)
    if held is None:
        await _write(conn, sums)


def entered(move: Move) -> Statement:
    """``apply([move])`` for a payment just created (``before`` None, not paid) as one
    statement, the upsert of its row of ``payment_daily``, for the creation's statement
    to carry (``payment.repository.creation``)."""
    if move.before is not None or move.after is Status.PAID:
        raise ValueError("entered is for a payment just created; use apply")
    sql, (names,) = upsert_sql("payment_daily", 1)
    return Statement(sql, dict(zip(names, (*_daily_key(move, move.after), 1, move.amount), strict=True)))


def _daily_key(move: Move, status: Status) -> tuple[Any, ...]:
    """The ``payment_daily`` row (its key columns, as ``_UPSERT`` orders them) that
    counts ``move``'s payment while it is in ``status``."""
    return (
        move.account_id,
        move.environment,
        day(move.created_at),
        move.currency,
        status.value,
        slot(move.payment_id),
    )


@dataclass(frozen=True, slots=True)
class Group:
    """Payments of one tenant, day of creation, currency and slot that made the same
    move together, summed by the database (``group_sql``): the expiry sweep's batch."""

    account_id: UUID
    environment: str
    day: str
    currency: str
    slot: str
    payments: int
    amount: int


def group_sql(source: str, *, also: str = "") -> str:
    """A SELECT of ``Group`` rows over the PostgreSQL rows ``source`` (``day`` and
    ``slot`` as ``day()`` and ``slot()`` compute them), ``also`` a further column."""
    return f"""SELECT {source}.account_id, {source}.environment, {_day_sql("postgresql", f"{source}.created_at")} AS day,
        {source}.currency, right({source}.id::text, 1) AS slot, COUNT(*) AS payments,
        SUM({source}.amount) AS amount{also}
        FROM {source} GROUP BY 1, 2, 3, 4, 5"""


async def apply_groups(conn: Connection, groups: Iterable[Group], before: Status, after: Status) -> None:
    """``apply`` for moves summed by group, between two statuses that are not paid
    (only ``payment_daily`` counts them); written in the same order."""
    if Status.PAID in (before, after):
        raise ValueError("a move to paid needs each payment's seconds to pay: use apply")
    sums: _Sums = {table: {} for table in _UPSERT}
    add = _adder(sums)
    for g in groups:
        key = (g.account_id, g.environment, g.day, g.currency)
        add("payment_daily", (*key, before.value, g.slot), -g.payments, -g.amount)
        add("payment_daily", (*key, after.value, g.slot), g.payments, g.amount)
    await _write(conn, sums)


async def _write(conn: Connection, sums: _Sums) -> None:
    for table, (keys, values) in _UPSERT.items():
        if not sums[table]:  # a creation moves one row of one table
            continue
        changed = sorted((k, v) for k, v in sums[table].items() if any(v))
        # a row a payment leaves exists since it entered it; the CHECK refuses a
        # negative count even as the row an upsert proposes, so those are updates
        growing = [(k, v) for k, v in changed if min(v) >= 0]
        for start in range(0, len(growing), _ROWS_PER_STATEMENT):
            await _upsert(conn, table, growing[start : start + _ROWS_PER_STATEMENT])
        for key, deltas in changed:
            if min(deltas) < 0:
                await conn.execute(
                    f"UPDATE {table} SET {', '.join(f'{v} = {v} + :d_{v}' for v in values)} "
                    f"WHERE {' AND '.join(f'{k} = :{k}' for k in keys)}",
                    {
                        **dict(zip(keys, key, strict=True)),
                        **{f"d_{v}": d for v, d in zip(values, deltas, strict=True)},
                    },
                )


async def _upsert(conn: Connection, table: str, rows: list[tuple[tuple[Any, ...], list[int]]]) -> None:
    if conn.dialect == "postgresql" and len(rows) > 1:
        keys, values = _UPSERT[table]
        columns = zip(*(key + tuple(sums) for key, sums in rows), strict=True)
        await conn.execute(
            _unnest_upsert_sql(table), dict(zip((*keys, *values), map(list, columns), strict=True))
        )
        return
    sql, names = upsert_sql(table, len(rows))
    params: dict[str, Any] = {}
    for row_names, (key, sums) in zip(names, rows, strict=True):
        params.update(zip(row_names, (*key, *sums), strict=True))
    await conn.execute(sql, params)


_KEPT_UPSERTS = 16
"""Upserts of up to this many rows keep their text (a creation's is one row)."""


def upsert_sql(table: str, rows: int) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """The upsert of ``rows`` rows into ``table`` and each row's parameter names; the
    text of a small one is built once (it was 5 us of a payment creation)."""
    if rows <= _KEPT_UPSERTS:
        return _kept_upsert_sql(table, rows)
    return _upsert_text(table, rows)


def _upsert_text(table: str, rows: int) -> tuple[str, tuple[tuple[str, ...], ...]]:
    keys, values = _UPSERT[table]
    columns = (*keys, *values)
    names = tuple(tuple(f"{column}{n}" for column in columns) for n in range(rows))
    tuples = ["(" + ", ".join(f":{name}" for name in row) + ")" for row in names]
    sql = f"""INSERT INTO {table} ({", ".join(columns)}) VALUES {", ".join(tuples)}
        ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
        {", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)}"""
    return sql, names


_kept_upsert_sql = functools.cache(_upsert_text)

_PG_TYPES = {
    "account_id": "uuid",
    "bucket": "bigint",
    "seconds": "bigint",
    "payments": "bigint",
    "amount": "bigint",
}
"""The PostgreSQL types of the rollups' columns that are not text (``db.tables``)."""


@functools.cache
def _unnest_upsert_sql(table: str) -> str:
    """PostgreSQL: the upsert of any number of rows into ``table`` as one statement
    text, a parameter per column holding an array (``VALUES`` of N rows is a text, and
    so a prepared statement, per N: an import's batch, whose rows vary in number, would
    push older statements out of its connection's cache). The rows go in array order
    (``ORDER BY`` their ordinality), so that their row locks are taken in key order."""
    keys, values = _UPSERT[table]
    columns = ", ".join((*keys, *values))
    arrays = ", ".join(f":{column}::{_PG_TYPES.get(column, 'text')}[]" for column in (*keys, *values))
    return f"""INSERT INTO {table} ({columns})
        SELECT {columns} FROM unnest({arrays}) WITH ORDINALITY AS row ({columns}, n) ORDER BY n
        ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
        {", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)}"""


def _day_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"  # stored as fixed-width UTC text


def _seconds_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM paid_at - created_at) AS BIGINT)"
    return "CAST(ROUND((julianday(paid_at) - julianday(created_at)) * 86400) AS INTEGER)"


def recount_sql(dialect: str) -> list[str]:
    """Every rollup recounted from the payments table, all tenants: what migration 0011
    ran, and a repair after payments were written around the services (bulk inserts)."""
    created, paid = _day_sql(dialect, "created_at"), _day_sql(dialect, "paid_at")
    part = "right(id::text, 1)" if dialect == "postgresql" else "substr(id, 36, 1)"  # slot()
    return [
        *(f"DELETE FROM {table}" for table in _UPSERT),
        f"""INSERT INTO payment_daily (account_id, environment, day, currency, status, slot, payments, amount)
        SELECT account_id, environment, {created}, currency, status, {part}, COUNT(*), SUM(amount)
        FROM payments GROUP BY 1, 2, 3, 4, 5, 6""",
        f"""INSERT INTO payment_paid_daily (account_id, environment, day, currency, slot, payments, amount)
        SELECT account_id, environment, {paid}, currency, {part}, COUNT(*), SUM(amount)
        FROM payments WHERE paid_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
        f"""INSERT INTO payment_pay_seconds (account_id, environment, bucket, day, seconds, slot, payments)
        SELECT account_id, environment, {bucket_sql("s")}, day, s, slot, COUNT(*)
        FROM (SELECT account_id, environment, {created} AS day, {_seconds_sql(dialect)} AS s, {part} AS slot
              FROM payments WHERE paid_at IS NOT NULL) AS paid GROUP BY 1, 2, 3, 4, 5, 6""",
        """INSERT INTO payment_pay_times (account_id, environment, day, bucket, slot, payments)
        SELECT account_id, environment, day, bucket, slot, SUM(payments) FROM payment_pay_seconds
        GROUP BY 1, 2, 3, 4, 5""",
    ]


async def recount(conn: Connection) -> None:
    for sql in recount_sql(conn.dialect):
        await conn.execute(sql)
