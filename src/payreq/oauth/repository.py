"""SQL for access tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection


async def insert_access_token(
    conn: Connection,
    *,
    id: UUID,
    api_key_id: UUID,
    token_digest: str,
    scope: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO access_tokens (id, api_key_id, token_digest, scope, created_at, expires_at)
        VALUES (:id, :api_key_id, :token_digest, :scope, :created_at, :expires_at)
        """,
        {
            "id": id,
            "api_key_id": api_key_id,
            "token_digest": token_digest,
            "scope": scope,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )


async def revoke_access_token(conn: Connection, *, api_key_id: UUID, token_digest: str, at: datetime) -> None:
    await conn.execute(
        """
        UPDATE access_tokens SET revoked_at = :at
        WHERE token_digest = :digest AND api_key_id = :api_key_id AND revoked_at IS NULL
        """,
        {"at": at, "digest": token_digest, "api_key_id": api_key_id},
    )


async def delete_expired_access_tokens(conn: Connection, *, before: datetime) -> int:
    return await conn.execute("DELETE FROM access_tokens WHERE expires_at < :before", {"before": before})


async def revoke_client_token(
    conn: Connection, *, account_id: UUID, environment: str, token_digest: str, at: datetime
) -> None:
    """Revoke a client token of an application of this account and environment."""
    await conn.execute(
        """
        UPDATE client_tokens SET revoked_at = :at
        WHERE token_digest = :digest AND revoked_at IS NULL AND application_id IN (
            SELECT id FROM applications WHERE account_id = :account_id AND environment = :environment
        )
        """,
        {"at": at, "digest": token_digest, "account_id": account_id, "environment": environment},
    )
