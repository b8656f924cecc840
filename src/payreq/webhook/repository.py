"""SQL for events (the outbox)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payreq.db import Connection, Row


async def insert_event(
    conn: Connection,
    *,
    id: UUID,
    account_id: UUID,
    environment: str,
    application_id: UUID,
    payment_id: UUID,
    type: str,
    data: str,
    created_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO events (id, account_id, environment, application_id, payment_id, type, data, created_at)
        VALUES (:id, :account_id, :environment, :application_id, :payment_id, :type, :data, :created_at)
        """,
        {
            "id": id,
            "account_id": account_id,
            "environment": environment,
            "application_id": application_id,
            "payment_id": payment_id,
            "type": type,
            "data": data,
            "created_at": created_at,
        },
    )


async def events_for_payment(conn: Connection, payment_id: UUID) -> list[Row]:
    rows = await conn.fetch_all(
        """
        SELECT id, type, data, created_at FROM events
        WHERE payment_id = :payment_id ORDER BY created_at, id
        """,
        {"payment_id": payment_id},
    )
    return list(rows)
