"""SQL for dashboard sessions, sign-in attempts, password resets, invitations and
recovery codes (``payreq.account.tables``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection, Row

_USER = """u.id AS user_id, u.account_id, u.email, u.role, u.password_hash, u.totp_secret,
    u.totp_enabled_at, u.totp_last_step, a.name AS account_name, a.require_totp, a.disabled_at"""


# -- users -------------------------------------------------------------------------


async def user_by_email(conn: Connection, email: str) -> Row | None:
    return await conn.fetch_one(
        f"SELECT {_USER} FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.email = :email",
        {"email": email},
    )


async def user_by_id(conn: Connection, user_id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"SELECT {_USER} FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = :id",
        {"id": user_id},
    )


async def set_password(conn: Connection, user_id: UUID, password_hash: str, at: datetime) -> bool:
    changed = await conn.execute(
        "UPDATE users SET password_hash = :hash, password_changed_at = :at WHERE id = :id",
        {"hash": password_hash, "at": at, "id": user_id},
    )
    return changed == 1


# -- sessions ----------------------------------------------------------------------


async def insert_session(
    conn: Connection,
    *,
    id_digest: str,
    user_id: UUID,
    stage: str,
    environment: str,
    csrf_secret: str,
    address: str | None,
    user_agent: str | None,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO user_sessions (id_digest, user_id, stage, environment, csrf_secret, address, user_agent,
                                   created_at, last_seen_at, expires_at)
        VALUES (:id_digest, :user_id, :stage, :environment, :csrf_secret, :address, :user_agent,
                :created_at, :created_at, :expires_at)
        """,
        {
            "id_digest": id_digest,
            "user_id": user_id,
            "stage": stage,
            "environment": environment,
            "csrf_secret": csrf_secret,
            "address": address,
            "user_agent": user_agent,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )


async def session_by_digest(conn: Connection, id_digest: str) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT s.id_digest, s.stage, s.environment, s.csrf_secret, s.created_at, s.last_seen_at,
               s.expires_at, {_USER}
        FROM user_sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
        WHERE s.id_digest = :digest
        """,
        {"digest": id_digest},
    )


async def touch_session(conn: Connection, id_digest: str, *, at: datetime) -> None:
    await conn.execute(
        "UPDATE user_sessions SET last_seen_at = :at WHERE id_digest = :digest",
        {"at": at, "digest": id_digest},
    )


async def set_session_environment(conn: Connection, id_digest: str, environment: str) -> None:
    await conn.execute(
        "UPDATE user_sessions SET environment = :environment WHERE id_digest = :digest",
        {"environment": environment, "digest": id_digest},
    )


async def delete_session(conn: Connection, id_digest: str) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE id_digest = :digest", {"digest": id_digest})


async def delete_user_sessions(conn: Connection, user_id: UUID, *, except_digest: str | None = None) -> int:
    return await conn.execute(
        "DELETE FROM user_sessions WHERE user_id = :user_id AND id_digest != :keep",
        {"user_id": user_id, "keep": except_digest or ""},
    )


async def user_sessions(conn: Connection, user_id: UUID) -> list[Row]:
    rows = await conn.fetch_all(
        """
        SELECT id_digest, stage, address, user_agent, created_at, last_seen_at, expires_at
        FROM user_sessions WHERE user_id = :user_id AND stage = 'full' ORDER BY last_seen_at DESC
        """,
        {"user_id": user_id},
    )
    return list(rows)


async def delete_stale_sessions(conn: Connection, *, before: datetime) -> int:
    return await conn.execute("DELETE FROM user_sessions WHERE expires_at < :before", {"before": before})


# -- sign-in attempts ------------------------------------------------------------------


async def insert_attempt(
    conn: Connection, *, id: UUID, address: str, user_id: UUID | None, succeeded: bool, at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO login_attempts (id, address, user_id, succeeded, at)
        VALUES (:id, :address, :user_id, :succeeded, :at)
        """,
        {"id": id, "address": address, "user_id": user_id, "succeeded": succeeded, "at": at},
    )


async def failures_from(conn: Connection, address: str, *, since: datetime) -> int:
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM login_attempts
        WHERE address = :address AND at >= :since AND NOT succeeded
        """,
        {"address": address, "since": since},
    )
    return int(row["n"]) if row else 0


async def failures_for(conn: Connection, user_id: UUID, *, since: datetime) -> int:
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM login_attempts
        WHERE user_id = :user_id AND at >= :since AND NOT succeeded
        """,
        {"user_id": user_id, "since": since},
    )
    return int(row["n"]) if row else 0


async def failures_from_for(conn: Connection, address: str, user_id: UUID, *, since: datetime) -> int:
    """Failed attempts on one user from one address (``ix_login_attempts_user_at``)."""
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM login_attempts
        WHERE user_id = :user_id AND address = :address AND at >= :since AND NOT succeeded
        """,
        {"user_id": user_id, "address": address, "since": since},
    )
    return int(row["n"]) if row else 0


async def delete_attempts(conn: Connection, *, before: datetime) -> int:
    return await conn.execute("DELETE FROM login_attempts WHERE at < :before", {"before": before})
