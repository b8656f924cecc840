"""Credential lookups by digest: the token check on every authenticated request."""

from __future__ import annotations

from payreq.db import Connection, Row


async def access_token_by_digest(conn: Connection, token_digest: str) -> Row | None:
    return await conn.fetch_one(
        """
        SELECT t.id, t.scope, t.expires_at, t.revoked_at,
               k.id AS api_key_id, k.account_id, k.environment, k.rate_limit,
               k.revoked_at AS key_revoked_at, a.disabled_at
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
        SELECT t.id, t.scopes, t.expires_at, t.revoked_at, t.rate_limit,
               p.id AS application_id, p.account_id, p.environment, p.archived_at, a.disabled_at
        FROM client_tokens t
        JOIN applications p ON p.id = t.application_id
        JOIN accounts a ON a.id = p.account_id
        WHERE t.token_digest = :digest
        """,
        {"digest": token_digest},
    )
