"""SQL the checkout needs beyond the payment itself: the merchant's display name.

The checkout URL is the payer's capability for one payment; everything it reads is
reached from that payment, never from the request."""

from __future__ import annotations

from uuid import UUID

from payreq.db import Connection


async def account_name(conn: Connection, account_id: UUID) -> str:
    row = await conn.fetch_one("SELECT name FROM accounts WHERE id = :id", {"id": account_id})
    return "" if row is None else str(row["name"])


async def account_disabled(conn: Connection, account_id: UUID) -> bool:
    row = await conn.fetch_one("SELECT disabled_at FROM accounts WHERE id = :id", {"id": account_id})
    return row is None or row["disabled_at"] is not None
