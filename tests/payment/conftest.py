"""Helpers for the payment-core tests: the outbox and the stored row, read straight
from the database, and the service-level moves that have no API yet (paying)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import msgspec

from payreq.audit.models import Actor
from payreq.auth.subject import Tenant
from payreq.db import Row
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.services import Services
from payreq.webhook.repository import events_for_payment
from tests.fixtures.factories import Merchant

TERMINAL_EVENTS = frozenset({"payment.paid", "payment.expired", "payment.cancelled"})


def tenant_of(merchant: Merchant) -> Tenant:
    return Tenant(uuid.UUID(merchant.credentials.account_id), merchant.credentials.environment)


def ts(value: str) -> datetime:
    """An RFC 3339 timestamp from a response body."""
    return datetime.fromisoformat(value)


async def events(services: Services, payment_id: str) -> list[Row]:
    async with services.db.read() as conn:
        return await events_for_payment(conn, uuid.UUID(payment_id))


async def event_types(services: Services, payment_id: str) -> list[str]:
    return [str(row["type"]) for row in await events(services, payment_id)]


def event_data(row: Row) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.json.decode(row["data"])
    return data


async def stored(services: Services, payment_id: str) -> Row:
    """The payment row as persisted, bypassing the service (which reads overdue as expired)."""
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status, expires_at, paid_at, cancelled_at, expired_at FROM payments WHERE id = :id",
            {"id": uuid.UUID(payment_id)},
        )
    assert row is not None, f"payment {payment_id} is not in the database"
    return row


async def pay(services: Services, merchant: Merchant, payment_id: str) -> Payment:
    """Settle as paid through the service, in its own unit of work (no pay API yet)."""
    async with services.db.transaction() as conn:
        return await services.payments.settle(
            conn, tenant_of(merchant), uuid.UUID(payment_id), Status.PAID, actor=Actor.cli("test")
        )


def error_of(answer: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    """The envelope's ``error`` object, after checking status, type and the common keys."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["type"] == type_, error
    assert error["code"] and error["message"], error
    assert error["request_id"] == answer.headers["x-request-id"], error
    return error


def without_request_id(answer: httpx.Response) -> dict[str, Any]:
    error = dict(answer.json()["error"])
    error.pop("request_id")
    return error
