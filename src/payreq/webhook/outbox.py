"""The outbox: an event row written in the same transaction as the change it reports,
and, when the application has a webhook URL, the event's delivery row beside it.

If the transaction rolls back, neither exists; once it commits, a worker will find the
delivery due (even if this process dies the next instant). A worker in this process
hears the commit at once (``doorbell``); workers elsewhere find it when they next look
(``PAYREQ_WEBHOOK_POLL_INTERVAL``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from payreq.db import Connection
from payreq.db.base import Parts
from payreq.kit.ids import new_ordered_uuid
from payreq.webhook import repository


class Doorbell:
    """Wakes this process's delivery workers after a commit that made work for them."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Event] = set()

    def ring(self) -> None:
        for listener in self._listeners:
            listener.set()

    def listen(self, listener: asyncio.Event) -> None:
        self._listeners.add(listener)

    def forget(self, listener: asyncio.Event) -> None:
        self._listeners.discard(listener)


doorbell = Doorbell()


async def record(
    conn: Connection,
    *,
    type: str,
    account_id: uuid.UUID,
    environment: str,
    application_id: uuid.UUID,
    payment_id: uuid.UUID,
    data: str,
    at: datetime,
    along: Parts = (),
) -> uuid.UUID:
    """The event of a change and its delivery; ``along``: the change's own statements,
    written with them (one statement on PostgreSQL)."""
    event_id = new_ordered_uuid()
    if await repository.insert_event(
        conn,
        id=event_id,
        account_id=account_id,
        environment=environment,
        application_id=application_id,
        payment_id=payment_id,
        type=type,
        data=data,
        created_at=at,
        delivery_id=new_ordered_uuid(),
        along=along,
    ):
        conn.after_commit(doorbell.ring)
    return event_id


async def record_many(conn: Connection, events: list[repository.NewEvent]) -> None:
    """``record`` for a batch (the worker's expiry sweep): every event and its delivery
    in three statements instead of one round trip each."""
    if await repository.insert_events(conn, events):
        conn.after_commit(doorbell.ring)
