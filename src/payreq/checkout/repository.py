"""SQL the checkout needs beyond the payment itself: the merchant's display name and
whether the account is still open.

The checkout URL is the payer's capability for one payment; everything it reads is
reached from that payment, never from the request."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from payreq.db import Connection


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    disabled: bool
    """Closed by its owner or disabled by the operator: its checkouts are shut."""


async def account(conn: Connection, account_id: UUID) -> Account | None:
    row = await conn.fetch_one("SELECT name, disabled_at FROM accounts WHERE id = :id", {"id": account_id})
    if row is None:
        return None
    return Account(name=str(row["name"]), disabled=row["disabled_at"] is not None)
