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
        SELECT k.id, k.account_id, k.environment, k.secret_digest, k.revoked_at, k.rate_limit,
               a.disabled_at, a.rate_limit AS account_rate_limit
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


async def set_account_rate_limit(conn: Connection, account_id: UUID, limit: int | None) -> bool:
    """An operator's limit for the account's budget (each environment); None: the default."""
    changed = await conn.execute(
        "UPDATE accounts SET rate_limit = :limit WHERE id = :id", {"limit": limit, "id": account_id}
    )
    return changed == 1


async def count_live_api_keys(conn: Connection, account_id: UUID, environment: str) -> int:
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM api_keys
        WHERE account_id = :account_id AND environment = :environment AND revoked_at IS NULL
        """,
        {"account_id": account_id, "environment": environment},
    )
    return int(row["n"]) if row is not None else 0
