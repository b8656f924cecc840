"""A payment's story for its detail page: creation, each status change and who made
it, and each webhook attempt with the request sent and the answer that came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from payreq.audit.models import Actor, ActorKind
from payreq.audit.service import AuditService
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService
from payreq.webhook import repository as events
from payreq.webhook import signing
from payreq.webhook.models import Attempt

_STATUS_OF = {"payment.paid": "paid", "payment.cancelled": "cancelled", "payment.expired": "expired"}
DEADLINE = Actor(ActorKind.WORKER, None, "the deadline passed")


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: str
    """created, status or attempt."""
    title: str
    actor: Actor | None = None
    event_id: str | None = None
    event_type: str | None = None
    attempt: Attempt | None = None
    request_body: str | None = None


@dataclass(frozen=True, slots=True)
class EventSummary:
    id: str
    type: str
    created_at: datetime
    attempts: int
    delivered: bool


@dataclass(frozen=True, slots=True)
class Timeline:
    payment: Payment
    steps: list[Step]
    events: list[EventSummary] = field(default_factory=list)


async def timeline(
    conn: Connection, payments: PaymentService, audit: AuditService, subject: AuthSubject, payment_id: str
) -> Timeline:
    """Oldest first. The payment is read as ``get`` reads it (tenant-scoped: 404 else)."""
    payment = await payments.get(conn, subject, payment_id)
    changes = {
        e.action: e.actor
        for e in await audit.for_target(conn, payment.account_id, str(payment.id))
        if e.action in _STATUS_OF
    }
    steps = [Step(payment.created_at, "created", "Created", None)]
    summaries: list[EventSummary] = []
    for event in await events.events_for_payment(conn, payment.id):
        kind = event["type"]
        if kind in _STATUS_OF:
            actor = changes.get(kind, DEADLINE if kind == "payment.expired" else None)
            steps.append(
                Step(
                    event["created_at"], "status", f"Became {_STATUS_OF[kind]}", actor, str(event["id"]), kind
                )
            )
        body = signing.body(kind, event["created_at"], event["data"])
        attempts = [Attempt.of(a) for a in await events.attempts(conn, event["id"])]
        for attempt in attempts:
            outcome = "delivered" if attempt.succeeded else "failed"
            steps.append(
                Step(
                    attempt.attempted_at,
                    "attempt",
                    f"Webhook {kind} {outcome}",
                    None,
                    str(event["id"]),
                    kind,
                    attempt,
                    body,
                )
            )
        summaries.append(
            EventSummary(
                str(event["id"]), kind, event["created_at"], len(attempts), any(a.succeeded for a in attempts)
            )
        )
    steps.sort(key=lambda s: (s.at, {"created": 0, "status": 1, "attempt": 2}[s.kind]))
    return Timeline(payment, steps, summaries)
