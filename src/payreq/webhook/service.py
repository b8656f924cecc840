"""The event log and redelivery (SPEC §3, §6): list and read events with their
delivery attempts, send one again, replay every failed one since a time.

Dashboard operations over the API: access tokens only, one account and environment
(an event of another is simply not found). Services never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from payreq.application.service import tenant_of
from payreq.audit.service import AuditService
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.errors import Conflict, NotFound, ValidationFailed
from payreq.kit.clock import Clock, bounded_instant, utc_now
from payreq.kit.ids import new_ordered_uuid
from payreq.kit.pagination import clamp_limit
from payreq.webhook import repository
from payreq.webhook.limits import SendLimits
from payreq.webhook.models import Attempt, Event, EventPage, EventType
from payreq.webhook.outbox import doorbell

REPLAY_BATCH = 500
"""Failed deliveries requeued per unit of work by ``POST /api/events/replay``."""
REPLAY_WINDOW = timedelta(days=30)
"""How far back one replay may reach."""


class EventNotFound(NotFound):
    default_message = "No such event."


def parse_event_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise EventNotFound() from None


class WebhookService:
    def __init__(
        self, *, clock: Clock = utc_now, audit: AuditService | None = None, limits: SendLimits | None = None
    ) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)
        self.limits = limits or SendLimits()

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
        A disabled endpoint is enabled again: the merchant says it is mended. Limited per
        application (``SendLimits``: 429 past it, nothing changed)."""
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
        await self.limits.redelivery(row["application_id"])
        now = self.clock()
        if row["delivery_id"] is None:
            await repository.insert_delivery(
                conn, id=new_ordered_uuid(), event_id=row["id"], application_id=row["application_id"], at=now
            )
        else:
            await repository.requeue(conn, row["delivery_id"], at=now)
        await repository.enable_endpoints(conn, tenant, [row["application_id"]])
        await self.audit.record_by(
            conn,
            subject,
            action="event.redelivered",
            target_type="payment",
            target_id=row["payment_id"],
            changes={"event": str(row["id"]), "type": row["type"], "application": row["client_id"]},
            at=now,
        )
        conn.after_commit(doorbell.ring)
        return await self.get_event(conn, subject, event_id)

    async def replay_count(self, conn: Connection, subject: AuthSubject, *, since: datetime) -> int:
        """How many deliveries a replay since ``since`` (checked by ``replay_since``) would
        send again now; sends nothing. Read in the replay's own bounded batches."""
        tenant = tenant_of(subject, Permission.READ)
        total, after = 0, None
        while True:
            rows = await repository.failed_since(conn, tenant, since=since, after=after, limit=REPLAY_BATCH)
            total += len(rows)
            if len(rows) < REPLAY_BATCH:
                return total
            after = rows[-1]["id"]

    def replay_since(self, since: datetime) -> datetime:
        """Check a replay's start: an instant with an offset, at most ``REPLAY_WINDOW``
        ago (the retry schedule spans about three days; older failures are for the
        dashboard, one event at a time)."""
        bounded = bounded_instant(since)
        if bounded is None:
            raise ValidationFailed(
                "since must be an RFC 3339 timestamp with an offset, from 1970 to 9998.", param="since"
            )
        if bounded < self.clock() - REPLAY_WINDOW:
            raise ValidationFailed(
                f"since may be at most {REPLAY_WINDOW.days} days ago; redeliver older events one by one.",
                code="replay_window",
                param="since",
            )
        return bounded

    async def replay_batch(
        self, conn: Connection, subject: AuthSubject, *, since: datetime, after: uuid.UUID | None
    ) -> tuple[int, uuid.UUID | None]:
        """Send again up to ``REPLAY_BATCH`` failed events created at or after ``since``
        (checked by ``replay_since``), after the delivery ``after``; their endpoints are
        enabled again. A replay's first batch spends the account's replay budget
        (``SendLimits``: 429 past it, nothing requeued). The number requeued, and where the next batch starts (None: done).
        The edge runs one unit of work per batch, so no transaction grows with the log."""
        tenant = tenant_of(subject)
        if after is None:  # a new replay (its later batches are the same one)
            await self.limits.replay(tenant.account_id, tenant.environment)
        failed = await repository.failed_since(conn, tenant, since=since, after=after, limit=REPLAY_BATCH)
        if not failed:
            return 0, None
        count = await repository.requeue_many(conn, [r["id"] for r in failed], at=self.clock())
        await repository.enable_endpoints(conn, tenant, sorted({r["application_id"] for r in failed}))
        await self.audit.record_by(
            conn,
            subject,
            action="events.replayed",
            target_type="events",
            target_id=None,
            changes={"since": since.isoformat(), "count": count},
        )
        conn.after_commit(doorbell.ring)
        return count, (failed[-1]["id"] if len(failed) == REPLAY_BATCH else None)
