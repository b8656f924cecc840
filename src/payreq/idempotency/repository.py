"""All SQL for idempotency keys: claim a key, record or release its answer, sweep.

A key lives in ``idempotency_keys`` under its scope (account, environment, caller).
Its row is written inside the transaction of the request that claims it, so the row
exists exactly when that request's change was committed; the answer is written into
the same transaction whenever the request used one unit of work (see ``hook``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from payreq.db import Connection, Row
from payreq.db.base import Statement


@dataclass(frozen=True, slots=True)
class ScopedKey:
    """An ``Idempotency-Key`` as seen by one caller: account, environment, and the
    application of a client token (``*`` for account-wide credentials)."""

    account_id: UUID
    environment: str
    caller: str
    key: str

    def params(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "environment": self.environment,
            "caller": self.caller,
            "idempotency_key": self.key,
        }

    @property
    def lock_id(self) -> int:
        """A 64-bit id for PostgreSQL's advisory locks (a collision only costs a 409)."""
        text = f"{self.account_id}|{self.environment}|{self.caller}|{self.key}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    withheld: bool = False
    """The body carried a secret shown once: only the status is kept, never the body."""


@dataclass(frozen=True, slots=True)
class Request:
    fingerprint: str
    method: str
    path: str
    created_at: datetime
    expires_at: datetime


class Busy:
    """Another transaction holds the key right now (PostgreSQL advisory lock)."""


BUSY = Busy()

_WHERE = (
    "account_id = :account_id AND environment = :environment "
    "AND caller = :caller AND idempotency_key = :idempotency_key"
)


async def claim(
    conn: Connection, key: ScopedKey, request: Request, answer: Answer | None = None
) -> Row | Busy | None:
    """Claim ``key`` in ``conn``'s transaction: None if this call now holds it (with
    ``answer`` if one is given), BUSY if a concurrent transaction does, else the row
    that an earlier request left (an expired one is replaced)."""
    params = key.params()
    insert = (
        _INSERT,
        {
            **params,
            "fingerprint": request.fingerprint,
            "method": request.method,
            "path": request.path[:2048],
            "created_at": request.created_at,
            "expires_at": request.expires_at,
            **_answer_params(answer),
        },
    )
    # a new key (the usual case) takes one statement; a key in use stays, one whose 24
    # hours have passed is replaced
    if conn.dialect == "postgresql":
        # the key's advisory lock first (without it, a second INSERT would wait on the
        # first's uncommitted row), in the same statement: one round trip, which also
        # carries the unit's first read if it has one (``transaction(first=...)``)
        first: Statement | None = getattr(conn, "first", None)
        if first is None:
            claimed = await conn.fetch_one(_LOCK_AND_INSERT, {**insert[1], "lock_id": key.lock_id})
        else:
            read_params = {f"first_{name}": value for name, value in first.params.items()}
            row = await conn.fetch_one(
                _carrying(first.sql), {**insert[1], "lock_id": key.lock_id, **read_params}
            )
            claimed = None
            if row is not None:
                claimed = {"ok": row["claim_ok"], "inserted": row["claim_inserted"]}
                read = None if row["claim_found"] is None else _first_row(row)
                conn.answered_first(read)  # type: ignore[attr-defined]
        if claimed is None or not claimed["ok"]:
            return BUSY
        inserted = int(claimed["inserted"])
    else:
        inserted = await conn.execute(*insert)
    if not inserted and await conn.execute(
        f"DELETE FROM idempotency_keys WHERE {_WHERE} AND expires_at <= :now",
        {**params, "now": request.created_at},
    ):
        inserted = await conn.execute(*insert)
    if inserted:
        return None
    row = await conn.fetch_one(
        f"SELECT fingerprint, method, path, status, headers, body FROM idempotency_keys WHERE {_WHERE}",
        params,
    )
    return BUSY if row is None else row


_COLUMNS = """account_id, environment, caller, idempotency_key, fingerprint, method, path, status,
    headers, body, created_at, expires_at"""
_VALUES = """:account_id, :environment, :caller, :idempotency_key, :fingerprint, :method, :path,
    :status, :headers, :body, :created_at, :expires_at"""
_INSERT = f"INSERT INTO idempotency_keys ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT DO NOTHING"
_LOCK_AND_INSERT = f"""
    WITH lock AS (SELECT pg_try_advisory_xact_lock(:lock_id) AS ok),
    claimed AS (
        INSERT INTO idempotency_keys ({_COLUMNS})
        SELECT :account_id::uuid, :environment, :caller, :idempotency_key, :fingerprint, :method, :path,
               :status::int, :headers, :body::bytea, :created_at::timestamptz, :expires_at::timestamptz
        FROM lock WHERE lock.ok
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT lock.ok, (SELECT COUNT(*) FROM claimed) AS inserted FROM lock
"""
"""PostgreSQL: the key's advisory lock, and the INSERT only if it was taken (the lock
is volatile, so PostgreSQL evaluates it once, before the INSERT that reads it)."""


_FIRST_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_CLAIM_COLUMNS = ("claim_ok", "claim_inserted", "claim_found")
_carried: dict[str, str] = {}


def _carrying(first_sql: str) -> str:
    """The claim with a unit's first read (a SELECT) as one more entry of its ``WITH``:
    the read's first row, if any, joined to the claim's one row, the read's parameters
    renamed (``:first_...``) so that they cannot meet the claim's."""
    sql = _carried.get(first_sql)
    if sql is None:
        read = _FIRST_PARAM.sub(lambda match: f":first_{match.group(1)}", first_sql)
        head = _LOCK_AND_INSERT[: _LOCK_AND_INSERT.rindex("SELECT lock.ok")].rstrip()
        sql = _carried[first_sql] = f"""{head},
    first_read AS ({read})
    SELECT lock.ok AS claim_ok, (SELECT COUNT(*) FROM claimed) AS claim_inserted, first_row.*
    FROM lock LEFT JOIN (SELECT TRUE AS claim_found, * FROM first_read LIMIT 1) AS first_row ON TRUE
"""
    return sql


def _first_row(row: Row) -> dict[str, Any]:
    """The first read's row, out of the claim's."""
    return {name: value for name, value in row.items() if name not in _CLAIM_COLUMNS}  # type: ignore[attr-defined]


async def record_answer(conn: Connection, key: ScopedKey, answer: Answer) -> None:
    """Store the answer of the request that holds ``key``, in ``conn``'s transaction.
    On PostgreSQL the statement goes with the unit's COMMIT (``commit_with``): one
    round trip for both; if it fails, so does the commit, and nothing is kept."""
    params = {**key.params(), **_answer_params(answer)}
    commit_with = getattr(conn, "commit_with", None)
    if commit_with is not None:
        commit_with(_RECORD, params)
        return
    await conn.execute(_RECORD, params)


_RECORD = (
    f"UPDATE idempotency_keys SET status = :status, headers = :headers, body = :body "
    f"WHERE {_WHERE} AND status IS NULL"
)


async def release(conn: Connection, key: ScopedKey) -> None:
    """Forget a claim whose request ended without an answer worth keeping."""
    await conn.execute(f"DELETE FROM idempotency_keys WHERE {_WHERE} AND status IS NULL", key.params())


async def sweep(conn: Connection, now: datetime, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` keys whose 24 hours have passed; how many went."""
    return await conn.execute(
        """
        DELETE FROM idempotency_keys
        WHERE (account_id, environment, caller, idempotency_key) IN (
            SELECT account_id, environment, caller, idempotency_key FROM idempotency_keys
            WHERE expires_at <= :now ORDER BY expires_at LIMIT :limit
        )
        """,
        {"now": now, "limit": limit},
    )


def stored_answer(row: Row) -> Answer:
    headers = [(str(name), str(value)) for name, value in msgspec.json.decode(row["headers"] or "[]")]
    body = row["body"]
    return Answer(status=int(row["status"]), headers=headers, body=bytes(body or b""), withheld=body is None)


def _answer_params(answer: Answer | None) -> dict[str, Any]:
    if answer is None:
        return {"status": None, "headers": None, "body": None}
    return {
        "status": answer.status,
        "headers": msgspec.json.encode(answer.headers).decode(),
        "body": None if answer.withheld else answer.body,
    }
