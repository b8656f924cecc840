"""The outbox: an event row written in the same transaction as the change it reports.

If the transaction rolls back, the event never existed; once it commits, the
delivery worker will find it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from payreq.db import Connection
from payreq.webhook import repository


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
) -> uuid.UUID:
    event_id = uuid.uuid4()
    await repository.insert_event(
        conn,
        id=event_id,
        account_id=account_id,
        environment=environment,
        application_id=application_id,
        payment_id=payment_id,
        type=type,
        data=data,
        created_at=at,
    )
    return event_id
