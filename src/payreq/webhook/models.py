"""Events, their delivery and its attempts, as the API shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

from payreq.db import Row


class EventType(StrEnum):
    CREATED = "payment.created"
    PAID = "payment.paid"
    CANCELLED = "payment.cancelled"
    EXPIRED = "payment.expired"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The state of an event's delivery to its application's webhook URL."""

    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Event:
    id: UUID
    type: str
    created_at: datetime
    client_id: str
    application_id: UUID
    payment_id: UUID
    data: dict[str, Any]
    delivery: Delivery | None

    @classmethod
    def of(cls, row: Row) -> Event:
        delivery = None
        if row["delivery_id"] is not None:
            delivery = Delivery(
                status=row["delivery_status"],
                attempts=row["attempts"],
                next_attempt_at=row["next_attempt_at"],
                last_attempt_at=row["last_attempt_at"],
                last_status_code=row["last_status_code"],
                last_error=row["last_error"],
                delivered_at=row["delivered_at"],
                failed_at=row["failed_at"],
            )
        return cls(
            id=row["id"],
            type=row["type"],
            created_at=row["created_at"],
            client_id=row["client_id"],
            application_id=row["application_id"],
            payment_id=row["payment_id"],
            data=msgspec.json.decode(row["data"]),
            delivery=delivery,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    id: UUID
    attempted_at: datetime
    url: str
    status_code: int | None
    latency_ms: int | None
    response_body: str | None
    error: str | None
    succeeded: bool
    request_headers: dict[str, str] | None = None
    """As sent; None for attempts recorded before headers were kept."""

    @classmethod
    def of(cls, row: Row) -> Attempt:
        return cls(
            id=row["id"],
            attempted_at=row["attempted_at"],
            url=row["url"],
            status_code=row["status_code"],
            latency_ms=row["latency_ms"],
            response_body=row["response_body"],
            error=row["error"],
            succeeded=bool(row["succeeded"]),
            request_headers=msgspec.json.decode(row["request_headers"]) if row["request_headers"] else None,
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[Event]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return str(self.items[-1].id) if self.items else None
