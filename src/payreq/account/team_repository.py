"""SQL for an account's team: members (users) and invitations."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection, Row

_INVITATION = """i.id, i.account_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at,
    i.accepted_at, i.revoked_at, a.name AS account_name, a.disabled_at AS account_disabled_at"""


async def members(conn: Connection, account_id: UUID) -> list[Row]:
    rows = await conn.fetch_all(
        """
        SELECT id, email, role, created_at, totp_enabled_at FROM users
        WHERE account_id = :account_id ORDER BY created_at, email
        """,
        {"account_id": account_id},
    )
    return list(rows)


async def member(conn: Connection, account_id: UUID, user_id: UUID) -> Row | None:
    return await conn.fetch_one(
        "SELECT id, email, role FROM users WHERE id = :id AND account_id = :account_id",
        {"id": user_id, "account_id": account_id},
    )


async def count_owners(conn: Connection, account_id: UUID) -> int:
    row = await conn.fetch_one(
        "SELECT COUNT(*) AS n FROM users WHERE account_id = :account_id AND role = 'owner'",
        {"account_id": account_id},
    )
    return int(row["n"]) if row else 0


async def set_role(conn: Connection, account_id: UUID, user_id: UUID, role: str) -> bool:
    changed = await conn.execute(
        "UPDATE users SET role = :role WHERE id = :id AND account_id = :account_id",
        {"role": role, "id": user_id, "account_id": account_id},
    )
    return changed == 1


async def delete_member(conn: Connection, account_id: UUID, user_id: UUID) -> bool:
    """The user and everything that lets them in: sessions, codes, reset links."""
    params = {"id": user_id, "account_id": account_id}
    if await member(conn, account_id, user_id) is None:
        return False
    for table in ("user_sessions", "recovery_codes", "password_resets"):
        await conn.execute(f"DELETE FROM {table} WHERE user_id = :id", {"id": user_id})
    changed = await conn.execute("DELETE FROM users WHERE id = :id AND account_id = :account_id", params)
    return changed == 1


async def insert_invitation(
    conn: Connection,
    *,
    id: UUID,
    account_id: UUID,
    email: str,
    role: str,
    token_digest: str,
    invited_by: UUID,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO invitations (id, account_id, email, role, token_digest, invited_by, created_at, expires_at)
        VALUES (:id, :account_id, :email, :role, :token_digest, :invited_by, :created_at, :expires_at)
        """,
        {
            "id": id,
            "account_id": account_id,
            "email": email,
            "role": role,
            "token_digest": token_digest,
            "invited_by": invited_by,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )


async def open_invitations(conn: Connection, account_id: UUID, *, now: datetime) -> list[Row]:
    rows = await conn.fetch_all(
        f"""
        SELECT {_INVITATION} FROM invitations i JOIN accounts a ON a.id = i.account_id
        WHERE i.account_id = :account_id AND i.accepted_at IS NULL AND i.revoked_at IS NULL
          AND i.expires_at > :now
        ORDER BY i.created_at DESC
        """,
        {"account_id": account_id, "now": now},
    )
    return list(rows)


async def invitation_by_digest(conn: Connection, token_digest: str) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT {_INVITATION} FROM invitations i JOIN accounts a ON a.id = i.account_id
        WHERE i.token_digest = :digest
        """,
        {"digest": token_digest},
    )


async def accept_invitation(conn: Connection, invitation_id: UUID, *, at: datetime) -> bool:
    changed = await conn.execute(
        """
        UPDATE invitations SET accepted_at = :at
        WHERE id = :id AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > :at
        """,
        {"at": at, "id": invitation_id},
    )
    return changed == 1


async def revoke_invitation(conn: Connection, account_id: UUID, invitation_id: UUID, *, at: datetime) -> bool:
    changed = await conn.execute(
        """
        UPDATE invitations SET revoked_at = :at
        WHERE id = :id AND account_id = :account_id AND accepted_at IS NULL AND revoked_at IS NULL
        """,
        {"at": at, "id": invitation_id, "account_id": account_id},
    )
    return changed == 1


async def close_account(conn: Connection, account_id: UUID, *, at: datetime) -> None:
    """Closed for good: shut as a disabled account is (``disabled_at``, which every
    credential check reads) and marked closed (``closed_at``), which no command undoes."""
    await conn.execute(
        """
        UPDATE accounts SET disabled_at = COALESCE(disabled_at, :at), closed_at = :at
        WHERE id = :id AND closed_at IS NULL
        """,
        {"at": at, "id": account_id},
    )
    await conn.execute(
        "DELETE FROM user_sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = :id)",
        {"id": account_id},
    )
