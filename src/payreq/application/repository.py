"""SQL for payment applications and their client tokens.

Every read and write takes a ``Tenant`` (account and environment): a client token is
reached only through its application, and the application only within its tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row
from payreq.db.base import Statement

_COLUMNS = """id, client_id, account_id, environment, name, is_default, webhook_url,
    default_redirect_url, default_expires_in, currencies, methods, bank_details, created_at, archived_at,
    webhook_disabled_at"""
_TENANT = "account_id = :account_id AND environment = :environment"
_CT_COLUMNS = "t.id, t.application_id, t.label, t.scopes, t.created_at, t.expires_at, t.last_used_at"
_IN_TENANT_APPLICATION = (
    f"application_id IN (SELECT id FROM applications WHERE id = :application_id AND {_TENANT})"
)

UPDATABLE = frozenset(
    {
        "name",
        "webhook_url",
        "webhook_failing_since",
        "webhook_disabled_at",
        "default_redirect_url",
        "default_expires_in",
        "currencies",
        "methods",
        "bank_details",
    }
)
"""The columns ``update_application`` may set."""


def _tenant(tenant: Tenant) -> dict[str, Any]:
    return {"account_id": tenant.account_id, "environment": tenant.environment}


# -- applications ---------------------------------------------------------------


async def insert_application(
    conn: Connection,
    *,
    id: UUID,
    client_id: str,
    tenant: Tenant,
    name: str,
    is_default: bool,
    webhook_secret: str,
    created_at: datetime,
    methods: str = '["sandbox"]',
    webhook_url: str | None = None,
    default_redirect_url: str | None = None,
    default_expires_in: int | None = None,
    currencies: str | None = None,
    bank_details: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO applications
            (id, client_id, account_id, environment, name, is_default, webhook_secret, methods, created_at,
             webhook_url, default_redirect_url, default_expires_in, currencies, bank_details)
        VALUES (:id, :client_id, :account_id, :environment, :name, :is_default, :webhook_secret, :methods,
                :created_at, :webhook_url, :default_redirect_url, :default_expires_in, :currencies,
                :bank_details)
        """,
        {
            "id": id,
            "client_id": client_id,
            **_tenant(tenant),
            "name": name,
            "is_default": is_default,
            "webhook_secret": webhook_secret,
            "methods": methods,
            "created_at": created_at,
            "webhook_url": webhook_url,
            "default_redirect_url": default_redirect_url,
            "default_expires_in": default_expires_in,
            "currencies": currencies,
            "bank_details": bank_details,
        },
    )


_DEFAULT = f"SELECT {_COLUMNS} FROM applications WHERE {_TENANT} AND is_default AND archived_at IS NULL"
_BY_ID = f"SELECT {_COLUMNS} FROM applications WHERE id = :id AND {_TENANT}"
_BY_CLIENT_ID = f"SELECT {_COLUMNS} FROM applications WHERE client_id = :client_id AND {_TENANT}"


def default_application_read(tenant: Tenant) -> Statement:
    """The read of ``default_application``, for a unit to be opened with."""
    return Statement(_DEFAULT, _tenant(tenant))


def application_by_id_read(tenant: Tenant, id: UUID) -> Statement:
    """The read of ``application_by_id``, for a unit to be opened with."""
    return Statement(_BY_ID, {"id": id, **_tenant(tenant)})


def application_by_client_id_read(tenant: Tenant, client_id: str) -> Statement:
    """The read of ``application_by_client_id``, for a unit to be opened with."""
    return Statement(_BY_CLIENT_ID, {"client_id": client_id, **_tenant(tenant)})


async def default_application(conn: Connection, tenant: Tenant) -> Row | None:
    return await conn.fetch_one(_DEFAULT, _tenant(tenant))


async def application_by_id(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    """Archived ones too (their payments still name them)."""
    return await conn.fetch_one(_BY_ID, {"id": id, **_tenant(tenant)})


async def application_by_client_id(conn: Connection, tenant: Tenant, client_id: str) -> Row | None:
    """Archived ones too; callers that act on an application refuse those."""
    return await conn.fetch_one(_BY_CLIENT_ID, {"client_id": client_id, **_tenant(tenant)})


async def active_applications(conn: Connection, tenant: Tenant) -> list[Row]:
    """The tenant's applications that are not archived: the default first, then oldest first."""
    rows = await conn.fetch_all(
        f"""
        SELECT {_COLUMNS} FROM applications WHERE {_TENANT} AND archived_at IS NULL
        ORDER BY is_default DESC, created_at, id
        """,
        _tenant(tenant),
    )
    return list(rows)


async def update_application(
    conn: Connection, tenant: Tenant, id: UUID, changes: Mapping[str, object]
) -> bool:
    """Set ``changes`` (columns from ``UPDATABLE``) on an active application."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    if not changes:
        return True
    assignments = ", ".join(f"{column} = :{column}" for column in sorted(changes))
    changed = await conn.execute(
        f"UPDATE applications SET {assignments} WHERE id = :id AND {_TENANT} AND archived_at IS NULL",
        {**changes, "id": id, **_tenant(tenant)},
    )
    return changed == 1


async def archive_application(conn: Connection, tenant: Tenant, id: UUID, *, at: datetime) -> bool:
    changed = await conn.execute(
        f"""
        UPDATE applications SET archived_at = :at
        WHERE id = :id AND {_TENANT} AND archived_at IS NULL AND NOT is_default
        """,
        {"at": at, "id": id, **_tenant(tenant)},
    )
    return changed == 1


async def webhook_secrets(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    """An active application's webhook secrets, for a rotation (locked on PostgreSQL)."""
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""
    return await conn.fetch_one(
        f"""
        SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_expires_at,
               older_webhook_secrets
        FROM applications WHERE id = :id AND {_TENANT} AND archived_at IS NULL{lock}
        """,
        {"id": id, **_tenant(tenant)},
    )


async def rotate_webhook_secret(
    conn: Connection,
    tenant: Tenant,
    id: UUID,
    *,
    current: str | None,
    secret: str,
    previous_expires_at: datetime,
    older: str | None,
) -> bool:
    """The new secret signs from now on; ``current`` (the secret read for the rotation)
    also signs until ``previous_expires_at``, and ``older`` (``signing.older_text``)
    holds the earlier ones still signing. False if the application is gone or another
    rotation came first."""
    changed = await conn.execute(
        f"""
        UPDATE applications
        SET previous_webhook_secret = webhook_secret,
            previous_webhook_secret_expires_at = :previous_expires_at,
            older_webhook_secrets = :older,
            webhook_secret = :secret
        WHERE id = :id AND {_TENANT} AND archived_at IS NULL AND webhook_secret = :current
        """,
        {
            "secret": secret,
            "previous_expires_at": previous_expires_at,
            "older": older,
            "current": current,
            "id": id,
            **_tenant(tenant),
        },
    )
    return changed == 1


# -- client tokens --------------------------------------------------------------


async def insert_client_token(
    conn: Connection,
    *,
    id: UUID,
    application_id: UUID,
    label: str,
    token_digest: str,
    scopes: str,
    created_at: datetime,
    expires_at: datetime | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO client_tokens (id, application_id, label, token_digest, scopes, created_at, expires_at)
        VALUES (:id, :application_id, :label, :token_digest, :scopes, :created_at, :expires_at)
        """,
        {
            "id": id,
            "application_id": application_id,
            "label": label,
            "token_digest": token_digest,
            "scopes": scopes,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )


async def client_tokens(conn: Connection, tenant: Tenant, application_id: UUID) -> list[Row]:
    """An application's tokens that are not revoked (expired ones too), newest first."""
    rows = await conn.fetch_all(
        f"""
        SELECT {_CT_COLUMNS} FROM client_tokens t
        JOIN applications a ON a.id = t.application_id
        WHERE t.application_id = :application_id AND a.account_id = :account_id
          AND a.environment = :environment AND t.revoked_at IS NULL
        ORDER BY t.created_at DESC, t.id DESC
        """,
        {"application_id": application_id, **_tenant(tenant)},
    )
    return list(rows)


async def revoke_client_token(
    conn: Connection, tenant: Tenant, application_id: UUID, token_id: UUID, *, at: datetime
) -> bool:
    changed = await conn.execute(
        f"""
        UPDATE client_tokens SET revoked_at = :at
        WHERE id = :id AND revoked_at IS NULL AND {_IN_TENANT_APPLICATION}
        """,
        {"at": at, "id": token_id, "application_id": application_id, **_tenant(tenant)},
    )
    return changed == 1


async def set_client_token_rate_limit(conn: Connection, token_id: UUID, limit: int | None) -> Row | None:
    """An operator's per-token limit (``payreq admin rate-limit``); None restores the default.
    The token's application, account and environment (None: no such token)."""
    changed = await conn.execute(
        "UPDATE client_tokens SET rate_limit = :limit WHERE id = :id", {"limit": limit, "id": token_id}
    )
    if changed != 1:
        return None
    return await conn.fetch_one(
        "SELECT a.id AS application_id, a.account_id, a.environment FROM client_tokens t "
        "JOIN applications a ON a.id = t.application_id WHERE t.id = :id",
        {"id": token_id},
    )


async def webhook_signing(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    """An active application's webhook URL and the secrets that sign for it."""
    return await conn.fetch_one(
        f"""
        SELECT webhook_url, webhook_secret, previous_webhook_secret, previous_webhook_secret_expires_at,
               older_webhook_secrets
        FROM applications WHERE id = :id AND {_TENANT} AND archived_at IS NULL
        """,
        {"id": id, **_tenant(tenant)},
    )


async def count_live_client_tokens(conn: Connection, application_id: UUID, *, now: datetime) -> int:
    """Unrevoked, unexpired tokens of the application. On PostgreSQL the application's
    row is locked first, so two concurrent creations cannot both pass a cap."""
    if conn.dialect == "postgresql":
        await conn.fetch_one("SELECT id FROM applications WHERE id = :id FOR UPDATE", {"id": application_id})
    row = await conn.fetch_one(
        """
        SELECT COUNT(*) AS n FROM client_tokens
        WHERE application_id = :id AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)
        """,
        {"id": application_id, "now": now},
    )
    return int(row["n"]) if row is not None else 0
