"""The event log and redelivery (SPEC §3, §6): list and read events with their
delivery attempts, send one again, replay every failed one since a time.

Dashboard operations over the API: access tokens only, one account and environment
(an event of another is simply not found). Services never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from payreq.application.service import tenant_of
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.errors import Conflict, NotFound, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.pagination import clamp_limit
from payreq.webhook import repository
from payreq.webhook.models import Attempt, Event, EventPage, EventType
from payreq.webhook.outbox import doorbell


class EventNotFound(NotFound):
    default_message = "No such event."


def parse_event_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise EventNotFound() from None


class WebhookService:
    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock

    async def list_events(
        self,
        conn: Connection,
        subject: AuthSubject,
        *,
        type: str | None = None,
        after: str | None = None,
        payment_id: str | None = None,
        limit: int | None = None,
    ) -> EventPage:
        """In commit order, after the event ``after``: an event whose transaction
        commits late is listed after those committed before it, never behind a cursor
        that has moved on (``repository`` says how, on each engine)."""
        tenant = tenant_of(subject)
        payment = None
        if payment_id is not None:
            try:
                payment = uuid.UUID(payment_id)
            except ValueError:
                raise ValidationFailed("paymentId must be a payment id.", param="paymentId") from None
        if type is not None and type not in {t.value for t in EventType}:
            allowed = ", ".join(t.value for t in EventType)
            raise ValidationFailed(f"type must be one of {allowed}.", param="type")
        cursor = None
        if after is not None:
            try:
                cursor = await repository.event_cursor(conn, tenant, uuid.UUID(after))
            except ValueError:
                cursor = None
            if cursor is None:
                raise ValidationFailed(
                    "after must be the id of an event in this account.", code="invalid_cursor", param="after"
                )
        size = clamp_limit(limit)
        rows = await repository.events_page(
            conn, tenant, after=cursor, type=type, payment_id=payment, limit=size + 1
        )
        return EventPage(items=[Event.of(row) for row in rows[:size]], has_more=len(rows) > size)

    async def get_event(
        self, conn: Connection, subject: AuthSubject, event_id: str
    ) -> tuple[Event, list[Attempt]]:
        row = await repository.event(conn, tenant_of(subject), parse_event_id(event_id))
        if row is None:
            raise EventNotFound()
        attempts = await repository.attempts(conn, row["id"])
        return Event.of(row), [Attempt.of(a) for a in attempts]

    async def redeliver(
        self, conn: Connection, subject: AuthSubject, event_id: str
    ) -> tuple[Event, list[Attempt]]:
        """Send the event again, at once and then on the schedule, with its webhook-id.
        A disabled endpoint is enabled again: the merchant says it is mended."""
        tenant = tenant_of(subject)
        row = await repository.event(conn, tenant, parse_event_id(event_id))
        if row is None:
            raise EventNotFound()
        application = await repository.application_webhook(conn, row["application_id"])
        if (
            application is None
            or application["webhook_url"] is None
            or application["archived_at"] is not None
        ):
            raise Conflict(
                "The event's payment application has no webhook URL; set webhookUrl first.",
                code="no_webhook_url",
            )
        now = self.clock()
        if row["delivery_id"] is None:
            await repository.insert_delivery(
                conn, id=uuid.uuid4(), event_id=row["id"], application_id=row["application_id"], at=now
            )
        else:
            await repository.requeue(conn, row["delivery_id"], at=now)
        await repository.enable_endpoints(conn, tenant, [row["application_id"]])
        conn.after_commit(doorbell.ring)
        return await self.get_event(conn, subject, event_id)

    async def replay(self, conn: Connection, subject: AuthSubject, *, since: datetime) -> int:
        """Send again every event created at or after ``since`` whose delivery failed; the
        endpoints concerned are enabled again. The number of events requeued."""
        if since.tzinfo is None:
            raise ValidationFailed("since must be an RFC 3339 timestamp with an offset.", param="since")
        tenant = tenant_of(subject)
        failed = await repository.failed_since(conn, tenant, since=since)
        if not failed:
            return 0
        count = await repository.requeue_many(conn, [r["id"] for r in failed], at=self.clock())
        await repository.enable_endpoints(conn, tenant, sorted({r["application_id"] for r in failed}))
        conn.after_commit(doorbell.ring)
        return count
