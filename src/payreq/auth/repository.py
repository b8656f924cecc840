"""Credential lookups by digest: the token check on every authenticated request."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection, Row


async def access_token_by_digest(conn: Connection, token_digest: str) -> Row | None:
    return await conn.fetch_one(
        """
        SELECT t.id, t.scope, t.expires_at, t.revoked_at,
               k.id AS api_key_id, k.account_id, k.environment, k.rate_limit,
               k.revoked_at AS key_revoked_at, a.disabled_at,
               a.rate_limit AS account_rate_limit
        FROM access_tokens t
        JOIN api_keys k ON k.id = t.api_key_id
        JOIN accounts a ON a.id = k.account_id
        WHERE t.token_digest = :digest
        """,
        {"digest": token_digest},
    )


async def client_token_by_digest(conn: Connection, token_digest: str) -> Row | None:
    return await conn.fetch_one(
        """
        SELECT t.id, t.scopes, t.expires_at, t.revoked_at, t.rate_limit, t.last_used_at,
               p.id AS application_id, p.account_id, p.environment, p.archived_at, a.disabled_at,
               a.rate_limit AS account_rate_limit
        FROM client_tokens t
        JOIN applications p ON p.id = t.application_id
        JOIN accounts a ON a.id = p.account_id
        WHERE t.token_digest = :digest
        """,
        {"digest": token_digest},
    )


async def touch_client_token(
    conn: Connection, token_id: UUID, *, at: datetime, unless_since: datetime
) -> bool:
    """Record a use, unless one was recorded after ``unless_since`` (another process
    may have just done it): at most one write per token per interval."""
    changed = await conn.execute(
        """
        UPDATE client_tokens SET last_used_at = :at
        WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= :since)
        """,
        {"at": at, "id": token_id, "since": unless_since},
    )
    return changed == 1
