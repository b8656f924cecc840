"""All SQL for the audit log. Reads are scoped to one account (and, through the API,
to its environment plus the account-wide entries); the verifier reads every chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from payreq.audit.chain import GENESIS
from payreq.db import Connection, Row
from payreq.db.base import placeholders

_COLUMNS = """id, account_id, seq, environment, at, actor_kind, actor_id, actor_label, address,
    action, target_type, target_id, changes, prev_hash, hash"""


async def take_head(conn: Connection, account_id: UUID) -> tuple[int, str]:
    """The account's chain head, locked until the unit ends (one statement: the no-op
    update takes the row lock on PostgreSQL; SQLite's write transaction is exclusive)."""
    row = await conn.fetch_one(
        """
        INSERT INTO audit_heads (account_id, seq, hash) VALUES (:account_id, 0, :genesis)
        ON CONFLICT (account_id) DO UPDATE SET seq = audit_heads.seq
        RETURNING seq, hash
        """,
        {"account_id": account_id, "genesis": GENESIS},
    )
    assert row is not None
    return int(row["seq"]), row["hash"]


async def append(conn: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Write one account's next entries (chained on the head ``take_head`` locked), then
    move its head to the last of them: one statement per entry, and one for the head."""
    for entry in entries:
        await conn.execute(
            f"""
            INSERT INTO audit_entries ({_COLUMNS})
            VALUES (:id, :account_id, :seq, :environment, :at, :actor_kind, :actor_id, :actor_label, :address,
                    :action, :target_type, :target_id, :changes, :prev_hash, :hash)
            """,
            entry,
        )
    last = entries[-1]
    await conn.execute(
        "UPDATE audit_heads SET seq = :seq, hash = :hash WHERE account_id = :account_id",
        {"seq": last["seq"], "hash": last["hash"], "account_id": last["account_id"]},
    )


async def page(
    conn: Connection,
    *,
    account_id: UUID,
    environment: str | None,
    actor: str | None,
    actor_kind: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    before_seq: int | None,
    limit: int,
    account_wide: bool = True,
) -> list[Row]:
    """Newest first; ``environment`` keeps that environment's entries and (with
    ``account_wide``) the account-wide ones; ``action`` matches a kind
    (``payment.cancelled``) or a family (``payment``)."""
    where = ["account_id = :account_id"]
    params: dict[str, Any] = {"account_id": account_id, "limit": limit}
    if environment is not None:
        where.append(
            "(environment = :environment OR environment IS NULL)"
            if account_wide
            else "environment = :environment"
        )
        params["environment"] = environment
    elif not account_wide:
        where.append("environment IS NOT NULL")
    if actor is not None:
        where.append("(actor_id = :actor OR actor_label = :actor)")
        params["actor"] = actor
    if actor_kind is not None:
        where.append("actor_kind = :actor_kind")
        params["actor_kind"] = actor_kind
    if action is not None:
        where.append("(action = :action OR action LIKE :family)")
        params["action"], params["family"] = action, f"{action}.%"
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    if until is not None:
        where.append("at < :until")
        params["until"] = until
    if before_seq is not None:
        where.append("seq < :before_seq")
        params["before_seq"] = before_seq
    rows = await conn.fetch_all(
        f"SELECT {_COLUMNS} FROM audit_entries WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT :limit",
        params,
    )
    return list(rows)


async def for_target(conn: Connection, account_id: UUID, target_id: str) -> list[Row]:
    rows = await conn.fetch_all(
        f"""SELECT {_COLUMNS} FROM audit_entries
        WHERE account_id = :account_id AND target_id = :target_id ORDER BY seq""",
        {"account_id": account_id, "target_id": target_id},
    )
    return list(rows)


# -- the verifier -----------------------------------------------------------------


async def chains(conn: Connection) -> list[tuple[UUID, int | None, str | None]]:
    """Every account with a chain: its id and recorded head (None if the head is gone)."""
    rows = await conn.fetch_all(
        """
        SELECT e.account_id, h.seq, h.hash FROM (SELECT DISTINCT account_id FROM audit_entries) e
        LEFT JOIN audit_heads h ON h.account_id = e.account_id
        UNION
        SELECT account_id, seq, hash FROM audit_heads
        """
    )
    found = {row["account_id"]: (row["seq"], row["hash"]) for row in rows}
    return [
        (k, None if v[0] is None else int(v[0]), v[1])
        for k, v in sorted(found.items(), key=lambda i: str(i[0]))
    ]


async def chain_rows(conn: Connection, account_id: UUID, *, after_seq: int, limit: int) -> Sequence[Row]:
    return await conn.fetch_all(
        f"""SELECT {_COLUMNS} FROM audit_entries
        WHERE account_id = :account_id AND seq > :after ORDER BY seq LIMIT :limit""",
        {"account_id": account_id, "after": after_seq, "limit": limit},
    )


# -- who a recorded actor is ------------------------------------------------------


_NAMED = {"user": "SELECT id, email AS name FROM users", "api_key": "SELECT id, label AS name FROM api_keys"}
"""Where each kind of recorded actor's name is: a user's e-mail, an API key's label."""


async def actor_names(
    conn: Connection, account_id: UUID, ids: Mapping[str, Sequence[UUID]]
) -> dict[tuple[str, UUID], str]:
    """The name of each ``(kind, id)`` of ``ids`` (kinds: user, api_key) found in the
    account (revoked keys too), in one query however many there are."""
    parts: list[str] = []
    params: dict[str, object] = {"account_id": account_id}
    for kind, wanted in ids.items():
        if wanted:
            marks, named = placeholders(list(wanted), f"{kind}_")
            parts.append(
                f"SELECT '{kind}' AS kind, id, name FROM ({_NAMED[kind]} "
                f"WHERE account_id = :account_id AND id IN ({marks})) AS {kind}s"
            )
            params.update(named)
    if not parts:
        return {}
    rows = await conn.fetch_all(" UNION ALL ".join(parts), params)
    return {(row["kind"], row["id"]): row["name"] for row in rows}
