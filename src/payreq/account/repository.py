"""SQL for accounts, dashboard users and API keys."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection, Row


async def insert_account(conn: Connection, *, id: UUID, name: str, created_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES (:id, :name, :created_at)",
        {"id": id, "name": name, "created_at": created_at},
    )


async def insert_user(
    conn: Connection, *, id: UUID, account_id: UUID, email: str, password_hash: str, created_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO users (id, account_id, email, password_hash, created_at)
        VALUES (:id, :account_id, :email, :password_hash, :created_at)
        """,
        {
            "id": id,
            "account_id": account_id,
            "email": email,
            "password_hash": password_hash,
            "created_at": created_at,
        },
    )


async def user_exists(conn: Connection, email: str) -> bool:
    return (
        await conn.fetch_one("SELECT 1 AS one FROM users WHERE email = :email", {"email": email}) is not None
    )


async def insert_api_key(
    conn: Connection,
    *,
    id: UUID,
    account_id: UUID,
    environment: str,
    label: str,
    client_id: str,
    secret_digest: str,
    created_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO api_keys (id, account_id, environment, label, client_id, secret_digest, created_at)
        VALUES (:id, :account_id, :environment, :label, :client_id, :secret_digest, :created_at)
        """,
        {
            "id": id,
            "account_id": account_id,
            "environment": environment,
            "label": label,
            "client_id": client_id,
            "secret_digest": secret_digest,
            "created_at": created_at,
        },
    )


async def api_key_by_client_id(conn: Connection, client_id: str) -> Row | None:
    return await conn.fetch_one(
        """
        SELECT k.id, k.account_id, k.environment, k.secret_digest, k.revoked_at, a.disabled_at
        FROM api_keys k JOIN accounts a ON a.id = k.account_id
        WHERE k.client_id = :client_id
        """,
        {"client_id": client_id},
    )


async def set_api_key_rate_limit(conn: Connection, client_id: str, limit: int | None) -> bool:
    changed = await conn.execute(
        "UPDATE api_keys SET rate_limit = :limit WHERE client_id = :client_id",
        {"limit": limit, "client_id": client_id},
    )
    return changed == 1


async def revoke_api_key(conn: Connection, client_id: str, at: datetime) -> bool:
    changed = await conn.execute(
        "UPDATE api_keys SET revoked_at = :at WHERE client_id = :client_id AND revoked_at IS NULL",
        {"at": at, "client_id": client_id},
    )
    return changed == 1


async def timezone(conn: Connection, account_id: UUID) -> str | None:
    """The account's IANA time zone name; None if there is no such account."""
    row = await conn.fetch_one("SELECT timezone FROM accounts WHERE id = :id", {"id": account_id})
    return None if row is None else str(row["timezone"])


async def set_timezone(conn: Connection, account_id: UUID, name: str) -> bool:
    changed = await conn.execute(
        "UPDATE accounts SET timezone = :name WHERE id = :id", {"id": account_id, "name": name}
    )
    return changed == 1
