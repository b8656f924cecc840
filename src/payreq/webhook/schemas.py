"""Contract B's views of events, deliveries and attempts (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from payreq.kit.clock import rfc3339
from payreq.kit.jsonbody import Body
from payreq.webhook.models import Attempt, Delivery, Event, EventPage


class DeliveryView(msgspec.Struct, kw_only=True, rename="camel"):
    """Where the event's delivery to the application's webhook URL stands."""

    status: Annotated[str, Meta(description="pending, delivered or failed.")]
    attempts: Annotated[int, Meta(description="Attempts made so far.")]
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    failed_at: str | None

    @classmethod
    def of(cls, delivery: Delivery | None) -> DeliveryView | None:
        if delivery is None:
            return None
        return cls(
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=rfc3339(delivery.next_attempt_at),
            last_attempt_at=rfc3339(delivery.last_attempt_at),
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=rfc3339(delivery.delivered_at),
            failed_at=rfc3339(delivery.failed_at),
        )


class EventView(msgspec.Struct, kw_only=True, rename="camel"):
    """An event: a payment's status change. ``id`` is the ``webhook-id`` of its deliveries."""

    id: str
    type: Annotated[
        str, Meta(description="payment.created, payment.paid, payment.cancelled or payment.expired.")
    ]
    created_at: str
    client_id: Annotated[str, Meta(description="The payment application the event belongs to.")]
    payment_id: str
    data: Annotated[dict[str, Any], Meta(description="The payment as contract B showed it at the event.")]
    delivery: Annotated[
        DeliveryView | None, Meta(description="null when the application had no webhook URL.")
    ]

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(
            id=str(event.id),
            type=event.type,
            created_at=rfc3339(event.created_at) or "",
            client_id=event.client_id,
            payment_id=str(event.payment_id),
            data=event.data,
            delivery=DeliveryView.of(event.delivery),
        )


class AttemptView(msgspec.Struct, kw_only=True, rename="camel"):
    """One attempt to deliver an event."""

    id: str
    attempted_at: str
    url: str
    status_code: Annotated[int | None, Meta(description="The answer's status; null if none came.")]
    latency_ms: int | None
    response_body: Annotated[str | None, Meta(description="The first KiB of the answer.")]
    error: Annotated[str | None, Meta(description="Time-out, refused connection, redirect, ...")]
    succeeded: bool

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptView:
        return cls(
            id=str(attempt.id),
            attempted_at=rfc3339(attempt.attempted_at) or "",
            url=attempt.url,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            response_body=attempt.response_body,
            error=attempt.error,
            succeeded=attempt.succeeded,
        )


class EventDetail(EventView, kw_only=True):
    """An event with every attempt to deliver it, oldest first."""

    attempts: list[AttemptView]

    @classmethod
    def with_attempts(cls, event: Event, attempts: list[Attempt]) -> EventDetail:
        return cls(
            **msgspec.structs.asdict(EventView.of(event)), attempts=[AttemptView.of(a) for a in attempts]
        )


class EventList(msgspec.Struct, rename="camel"):
    """One page, oldest first. Poll with ``after=nextCursor``: it is the last event's id,
    also on the last page (null only when the page is empty: keep your cursor)."""

    data: list[EventView]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, page: EventPage) -> EventList:
        return cls(
            data=[EventView.of(e) for e in page.items], has_more=page.has_more, next_cursor=page.next_cursor
        )


class Replay(Body, rename="camel"):
    """Body of ``POST /api/events/replay``."""

    since: Annotated[
        datetime,
        Meta(description="RFC 3339 with an offset: failed events created at or after it are sent again."),
    ]


class Replayed(msgspec.Struct, rename="camel"):
    replayed: Annotated[int, Meta(description="How many failed events were queued to be sent again.")]
