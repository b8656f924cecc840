"""Watching webhooks (the dashboard's Webhooks page, SPEC §7): each endpoint's health,
the delivery log (failed first), enabling a disabled endpoint again, and the count a
"resend every failed delivery since" would send before the merchant confirms it.

Reads need the read permission, changes the develop one (``tenant_of``); sending
again goes through ``WebhookService.replay``, the API's bounded path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from payreq.application.service import find, tenant_of
from payreq.audit.service import AuditService
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject
from payreq.db import Connection, Row
from payreq.errors import ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.pagination import clamp_limit
from payreq.webhook import monitor_repository as repository
from payreq.webhook import repository as deliveries
from payreq.webhook.models import EventType

OUTCOMES = ("failed", "pending", "delivered")


@dataclass(frozen=True, slots=True)
class Health:
    client_id: str
    name: str
    webhook_url: str | None
    success_24h: float | None
    """Share of successful attempts in the last 24 hours; None without attempts."""
    attempts_24h: int
    success_7d: float | None
    attempts_7d: int
    p50_ms: int | None
    p95_ms: int | None
    last_error: str | None
    last_error_at: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    event_id: str
    type: str
    created_at: datetime
    payment_id: str
    client_id: str
    status: str
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> DeliveryLine:
        return cls(
            str(row["event_id"]),
            row["type"],
            row["created_at"],
            str(row["payment_id"]),
            row["client_id"],
            row["status"],
            int(row["attempts"]),
            row["last_attempt_at"],
            row["last_status_code"],
            row["last_error"],
            row["next_attempt_at"],
        )


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    client_id: str | None = None
    event_type: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[DeliveryLine]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return self.items[-1].event_id if self.has_more and self.items else None


def _describe(row: Row | None) -> str | None:
    if row is None:
        return None
    if row["error"]:
        return str(row["error"])
    return f"HTTP {row['status_code']}"


class WebhookMonitor:
    def __init__(self, *, clock: Clock = utc_now, audit: AuditService | None = None) -> None:
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)

    async def health(self, conn: Connection, subject: AuthSubject) -> list[Health]:
        tenant = tenant_of(subject, Permission.READ)
        now = self.clock()
        found = []
        for app in await repository.endpoints(conn, tenant):
            day = await repository.success_counts(conn, app["id"], since=now - timedelta(days=1))
            week = await repository.success_counts(conn, app["id"], since=now - timedelta(days=7))
            p50 = p95 = None
            if week[0]:
                since = now - timedelta(days=7)
                p50 = await repository.latency_at(conn, app["id"], since=since, offset=(week[0] - 1) // 2)
                p95 = await repository.latency_at(
                    conn, app["id"], since=since, offset=(week[0] * 95 - 1) // 100
                )
            failure = await repository.last_failure(conn, app["id"])
            found.append(
                Health(
                    client_id=app["client_id"],
                    name=app["name"],
                    webhook_url=app["webhook_url"],
                    success_24h=day[1] / day[0] if day[0] else None,
                    attempts_24h=day[0],
                    success_7d=week[1] / week[0] if week[0] else None,
                    attempts_7d=week[0],
                    p50_ms=p50,
                    p95_ms=p95,
                    last_error=_describe(failure),
                    last_error_at=failure["attempted_at"] if failure else None,
                    failing_since=app["webhook_failing_since"],
                    disabled_at=app["webhook_disabled_at"],
                    disabled_reason=app["webhook_disabled_reason"],
                )
            )
        return found

    async def log(self, conn: Connection, subject: AuthSubject, query: DeliveryFilter) -> DeliveryPage:
        """Failed deliveries first, then the rest, newest first within each."""
        tenant = tenant_of(subject, Permission.READ)
        if query.event_type is not None and query.event_type not in {t.value for t in EventType}:
            raise ValidationFailed(
                f"type must be one of {', '.join(t.value for t in EventType)}.", param="type"
            )
        if query.outcome is not None and query.outcome not in OUTCOMES:
            raise ValidationFailed(f"outcome must be one of {', '.join(OUTCOMES)}.", param="outcome")
        after = None
        if query.cursor is not None:
            try:
                after = await repository.delivery_key(conn, tenant, uuid.UUID(query.cursor))
            except ValueError:
                after = None
            if after is None:
                raise ValidationFailed(
                    "cursor must come from the previous page.", code="invalid_cursor", param="cursor"
                )
        size = clamp_limit(query.limit or 25)
        rows = await repository.deliveries(
            conn,
            tenant,
            client_id=query.client_id,
            event_type=query.event_type,
            outcome=query.outcome,
            since=query.since,
            until=query.until,
            after=after,
            limit=size + 1,
        )
        return DeliveryPage([DeliveryLine.of(r) for r in rows[:size]], has_more=len(rows) > size)

    async def enable(self, conn: Connection, subject: AuthSubject, client_id: str) -> None:
        """Deliver to a disabled endpoint again (the merchant says it is mended)."""
        tenant = tenant_of(subject, Permission.DEVELOP)
        app = await find(conn, tenant, client_id)
        await deliveries.enable_endpoints(conn, tenant, [app.id])
        await self.audit.record_by(
            conn, subject, action="webhook_endpoint.enabled", target_type="application", target_id=client_id
        )
