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
    conn: Connection,
    *,
    id: UUID,
    account_id: UUID,
    email: str,
    password_hash: str,
    created_at: datetime,
    role: str = "owner",
) -> None:
    await conn.execute(
        """
        INSERT INTO users (id, account_id, email, password_hash, created_at, role)
        VALUES (:id, :account_id, :email, :password_hash, :created_at, :role)
        """,
        {
            "id": id,
            "account_id": account_id,
            "email": email,
            "password_hash": password_hash,
            "created_at": created_at,
            "role": role,
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
               a.disabled_at, a.rate_limit AS account_rate_limit,
               k.previous_secret_digest, k.previous_secret_expires_at, k.last_used_at
        FROM api_keys k JOIN accounts a ON a.id = k.account_id
        WHERE k.client_id = :client_id
        """,
        {"client_id": client_id},
    )


async def set_api_key_rate_limit(conn: Connection, client_id: str, limit: int | None) -> Row | None:
    """An operator's limit for one API key; the key's id, account and environment (None:
    no such key)."""
    return await conn.fetch_one(
        "UPDATE api_keys SET rate_limit = :limit WHERE client_id = :client_id "
        "RETURNING id, account_id, environment",
        {"limit": limit, "client_id": client_id},
    )


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


async def set_account_rate_limit(conn: Connection, account_id: UUID, limit: int | None) -> Row | None:
    """An operator's limit for the account's budget (each environment); None: the default.
    The account's id (None: no such account)."""
    return await conn.fetch_one(
        "UPDATE accounts SET rate_limit = :limit WHERE id = :id RETURNING id AS account_id",
        {"limit": limit, "id": account_id},
    )


# -- password resets --------------------------------------------------------------


async def insert_password_reset(
    conn: Connection, *, token_digest: str, user_id: UUID, created_at: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO password_resets (token_digest, user_id, created_at, expires_at)
        VALUES (:digest, :user_id, :created_at, :expires_at)
        """,
        {"digest": token_digest, "user_id": user_id, "created_at": created_at, "expires_at": expires_at},
    )


async def password_reset(conn: Connection, token_digest: str) -> Row | None:
    """The link, with its user's account's ``disabled_at`` (set for a closed one too)."""
    return await conn.fetch_one(
        """
        SELECT r.user_id, r.expires_at, r.used_at, a.disabled_at
        FROM password_resets r JOIN users u ON u.id = r.user_id JOIN accounts a ON a.id = u.account_id
        WHERE r.token_digest = :digest
        """,
        {"digest": token_digest},
    )


async def use_password_reset(conn: Connection, token_digest: str, *, at: datetime) -> bool:
    changed = await conn.execute(
        "UPDATE password_resets SET used_at = :at WHERE token_digest = :digest AND used_at IS NULL",
        {"at": at, "digest": token_digest},
    )
    return changed == 1


# -- pending sign-ups ----------------------------------------------------------------


async def insert_pending_signup(
    conn: Connection,
    *,
    token_digest: str,
    email: str,
    account_name: str,
    password_hash: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO pending_signups
            (token_digest, email, account_name, password_hash, created_at, expires_at)
        VALUES (:digest, :email, :account_name, :password_hash, :created_at, :expires_at)
        """,
        {
            "digest": token_digest,
            "email": email,
            "account_name": account_name,
            "password_hash": password_hash,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )


async def pending_signup(conn: Connection, token_digest: str) -> Row | None:
    return await conn.fetch_one(
        """
        SELECT email, account_name, password_hash, expires_at, used_at
        FROM pending_signups WHERE token_digest = :digest
        """,
        {"digest": token_digest},
    )


async def use_pending_signup(conn: Connection, token_digest: str, *, at: datetime) -> bool:
    """Mark the sign-up used if it is neither used nor expired; False if it was."""
    changed = await conn.execute(
        """
        UPDATE pending_signups SET used_at = :at
        WHERE token_digest = :digest AND used_at IS NULL AND expires_at > :at
        """,
        {"at": at, "digest": token_digest},
    )
    return changed == 1


async def reissue_pending_signup(conn: Connection, email: str, *, new_digest: str, at: datetime) -> bool:
    """Give the newest live pending sign-up of ``email`` a new token (the operator's
    ``payreq admin signup-link`` on a server without mail); False if there is none."""
    row = await conn.fetch_one(
        """
        SELECT token_digest FROM pending_signups
        WHERE email = :email AND used_at IS NULL AND expires_at > :at
        ORDER BY created_at DESC, token_digest LIMIT 1
        """,
        {"email": email, "at": at},
    )
    if row is None:
        return False
    changed = await conn.execute(
        """
        UPDATE pending_signups SET token_digest = :new
        WHERE token_digest = :old AND used_at IS NULL
        """,
        {"new": new_digest, "old": row["token_digest"]},
    )
    return changed == 1


async def delete_pending_signups_before(conn: Connection, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` pending sign-ups that expired before ``before``."""
    return await conn.execute(
        """
        DELETE FROM pending_signups WHERE token_digest IN (
            SELECT token_digest FROM pending_signups WHERE expires_at < :before LIMIT :limit
        )
        """,
        {"before": before, "limit": limit},
    )


# -- two-factor --------------------------------------------------------------------


async def set_totp(
    conn: Connection,
    user_id: UUID,
    *,
    secret: str | None,
    enabled_at: datetime | None,
    last_step: int | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE users SET totp_secret = :secret, totp_enabled_at = :enabled_at, totp_last_step = :last_step
        WHERE id = :id
        """,
        {"secret": secret, "enabled_at": enabled_at, "last_step": last_step, "id": user_id},
    )


async def use_totp_step(conn: Connection, user_id: UUID, step: int) -> bool:
    """Record ``step`` as used, unless it (or a later one) already was: a code works once."""
    changed = await conn.execute(
        """
        UPDATE users SET totp_last_step = :step
        WHERE id = :id AND (totp_last_step IS NULL OR totp_last_step < :step)
        """,
        {"step": step, "id": user_id},
    )
    return changed == 1


async def replace_recovery_codes(conn: Connection, user_id: UUID, digests: list[str]) -> None:
    import uuid as _uuid

    await conn.execute("DELETE FROM recovery_codes WHERE user_id = :user_id", {"user_id": user_id})
    for code_digest in digests:
        await conn.execute(
            "INSERT INTO recovery_codes (id, user_id, code_digest) VALUES (:id, :user_id, :digest)",
            {"id": _uuid.uuid4(), "user_id": user_id, "digest": code_digest},
        )


async def use_recovery_code(conn: Connection, user_id: UUID, code_digest: str, *, at: datetime) -> bool:
    changed = await conn.execute(
        """
        UPDATE recovery_codes SET used_at = :at
        WHERE user_id = :user_id AND code_digest = :digest AND used_at IS NULL
        """,
        {"at": at, "user_id": user_id, "digest": code_digest},
    )
    return changed >= 1


async def unused_recovery_codes(conn: Connection, user_id: UUID) -> int:
    row = await conn.fetch_one(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = :user_id AND used_at IS NULL",
        {"user_id": user_id},
    )
    return int(row["n"]) if row else 0


async def set_require_totp(conn: Connection, account_id: UUID, required: bool) -> None:
    await conn.execute(
        "UPDATE accounts SET require_totp = :required WHERE id = :id",
        {"required": required, "id": account_id},
    )


# -- API keys, as the dashboard manages them -------------------------------------------

_KEY = """id, account_id, environment, label, client_id, rate_limit, created_at, last_used_at, revoked_at,
    previous_secret_expires_at"""


async def api_keys(conn: Connection, account_id: UUID, environment: str) -> list[Row]:
    """The tenant's keys that are not revoked, newest first."""
    rows = await conn.fetch_all(
        f"""
        SELECT {_KEY} FROM api_keys
        WHERE account_id = :account_id AND environment = :environment AND revoked_at IS NULL
        ORDER BY created_at DESC, id DESC
        """,
        {"account_id": account_id, "environment": environment},
    )
    return list(rows)


async def api_key(conn: Connection, account_id: UUID, environment: str, key_id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT {_KEY} FROM api_keys
        WHERE id = :id AND account_id = :account_id AND environment = :environment AND revoked_at IS NULL
        """,
        {"id": key_id, "account_id": account_id, "environment": environment},
    )


async def roll_api_key(
    conn: Connection, key_id: UUID, *, secret_digest: str, previous_expires_at: datetime | None
) -> bool:
    """The new secret works from now on; the old one until ``previous_expires_at`` (if any)."""
    changed = await conn.execute(
        """
        UPDATE api_keys
        SET previous_secret_digest = CASE WHEN :keep THEN secret_digest ELSE NULL END,
            previous_secret_expires_at = :previous_expires_at,
            secret_digest = :secret_digest
        WHERE id = :id AND revoked_at IS NULL
        """,
        {
            "keep": previous_expires_at is not None,
            "previous_expires_at": previous_expires_at,
            "secret_digest": secret_digest,
            "id": key_id,
        },
    )
    return changed == 1


async def revoke_access_tokens_of_key(conn: Connection, key_id: UUID, *, at: datetime) -> int:
    return await conn.execute(
        "UPDATE access_tokens SET revoked_at = :at WHERE api_key_id = :id AND revoked_at IS NULL",
        {"at": at, "id": key_id},
    )


async def revoke_api_key_in(
    conn: Connection, account_id: UUID, environment: str, key_id: UUID, at: datetime
) -> bool:
    changed = await conn.execute(
        """
        UPDATE api_keys SET revoked_at = :at
        WHERE id = :id AND account_id = :account_id AND environment = :environment AND revoked_at IS NULL
        """,
        {"at": at, "id": key_id, "account_id": account_id, "environment": environment},
    )
    return changed == 1


async def touch_api_key(conn: Connection, key_id: UUID, *, at: datetime, unless_since: datetime) -> None:
    await conn.execute(
        """
        UPDATE api_keys SET last_used_at = :at
        WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= :since)
        """,
        {"at": at, "id": key_id, "since": unless_since},
    )


async def count_live_api_keys(conn: Connection, account_id: UUID, environment: str) -> int:
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM api_keys
        WHERE account_id = :account_id AND environment = :environment AND revoked_at IS NULL
        """,
        {"account_id": account_id, "environment": environment},
    )
    return int(row["n"]) if row is not None else 0


async def set_account_disabled(conn: Connection, account_id: UUID, *, at: datetime | None) -> bool:
    """Disable the account at ``at`` (None: enable it); disabling also ends every
    member's dashboard session. False if nothing changed: it already was so, it is
    unknown, or (enabling) its owner closed it, which nothing undoes
    (``account_state`` tells which)."""
    if at is None:
        changed = await conn.execute(
            "UPDATE accounts SET disabled_at = NULL WHERE id = :id AND disabled_at IS NOT NULL AND closed_at IS NULL",
            {"id": account_id},
        )
        if changed != 1:
            return False
        # no delivery was tried while it was disabled: a failing streak starts again, so
        # that the time it waited does not count toward disabling an endpoint
        await conn.execute(
            """
            UPDATE applications SET webhook_failing_since = NULL
            WHERE account_id = :id AND webhook_failing_since IS NOT NULL AND webhook_disabled_at IS NULL
            """,
            {"id": account_id},
        )
        return True
    changed = await conn.execute(
        "UPDATE accounts SET disabled_at = :at WHERE id = :id AND disabled_at IS NULL",
        {"at": at, "id": account_id},
    )
    if changed != 1:
        return False
    await conn.execute(
        "DELETE FROM user_sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = :id)",
        {"id": account_id},
    )
    return True


async def account_state(conn: Connection, account_id: UUID) -> Row | None:
    """``disabled_at`` and ``closed_at`` of the account; None for an unknown id."""
    return await conn.fetch_one(
        "SELECT disabled_at, closed_at FROM accounts WHERE id = :id", {"id": account_id}
    )
