"""SQL for payment applications and their client tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.auth.subject import Tenant
from payreq.db import Connection, Row

_COLUMNS = """id, client_id, account_id, environment, name, is_default, webhook_url,
    default_redirect_url, default_expires_in, currencies, methods, bank_details, created_at, archived_at"""


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
) -> None:
    await conn.execute(
        """
        INSERT INTO applications
            (id, client_id, account_id, environment, name, is_default, webhook_secret, methods, created_at)
        VALUES (:id, :client_id, :account_id, :environment, :name, :is_default, :webhook_secret, :methods,
                :created_at)
        """,
        {
            "id": id,
            "client_id": client_id,
            "account_id": tenant.account_id,
            "environment": tenant.environment,
            "name": name,
            "is_default": is_default,
            "webhook_secret": webhook_secret,
            "methods": methods,
            "created_at": created_at,
        },
    )


async def default_application(conn: Connection, tenant: Tenant) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT {_COLUMNS} FROM applications
        WHERE account_id = :account_id AND environment = :environment AND is_default AND archived_at IS NULL
        """,
        {"account_id": tenant.account_id, "environment": tenant.environment},
    )


async def application_by_id(conn: Connection, tenant: Tenant, id: UUID) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT {_COLUMNS} FROM applications
        WHERE id = :id AND account_id = :account_id AND environment = :environment
        """,
        {"id": id, "account_id": tenant.account_id, "environment": tenant.environment},
    )


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


async def application_by_client_id(conn: Connection, tenant: Tenant, client_id: str) -> Row | None:
    return await conn.fetch_one(
        f"""
        SELECT {_COLUMNS} FROM applications
        WHERE client_id = :client_id AND account_id = :account_id AND environment = :environment
        """,
        {"client_id": client_id, "account_id": tenant.account_id, "environment": tenant.environment},
    )
