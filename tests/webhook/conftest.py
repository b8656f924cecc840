"""Fixtures for webhook tests: a live receiver, a sandbox merchant whose default
application sends to it, a delivery worker in the test's event loop with a compressed
schedule (configuration, not code), and ways to make events happen."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from payreq.audit.models import Actor
from payreq.auth.subject import Tenant
from payreq.payment.lifecycle import Status
from payreq.services import Services
from payreq.webhook.config import WebhookConfig
from payreq.webhook.delivery import Dispatcher
from payreq.webhook.sender import Sender
from payreq.webhook.ssrf import UrlPolicy
from tests.fixtures.factories import Merchant
from tests.webhook.receiver import Receiver

FAST = WebhookConfig(
    schedule=(0, 0.2, 0.2, 0.5, 0.5, 1, 1, 1, 1, 1, 1),
    jitter=0,
    timeout=2.0,
    lease=5.0,
    disable_after=3600,
    concurrency=16,
    poll_interval=0.05,
    policy=UrlPolicy.of("127.0.0.0/8,::1/128"),  # the receivers listen on loopback
)
"""About 7 seconds of retries instead of three days."""


@pytest.fixture
async def fence(services: Services) -> None:
    """Deliveries that earlier tests left pending on the shared database (to receivers
    long gone) are set aside, so that this test's worker sends only this test's."""
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE status = 'pending'"
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    live = Receiver().start()
    yield live
    live.stop()


BANK = {"accountHolder": "Shop Ltd", "bankName": "Example Bank", "iban": "DE89 3704 0044 0532 0130 00"}


async def set_webhook_url(
    merchant: Merchant, url: str | None, client_id: str | None = None
) -> httpx.Response:
    """PATCH the application's webhookUrl (production applications offer bank transfers,
    which need bank details before any change is accepted)."""
    body: dict[str, Any] = {"webhookUrl": url}
    if merchant.credentials.environment == "production":
        body["bankDetails"] = BANK
    return await merchant.http.patch(
        f"/api/payment-applications/{client_id or merchant.credentials.application_client_id}",
        json=body,
        headers=await merchant.headers(),
    )


@pytest.fixture
async def hooked(merchant: Merchant, receiver: Receiver, fence: None) -> Merchant:
    """A sandbox merchant whose default application sends webhooks to ``receiver``."""
    answer = await set_webhook_url(merchant, receiver.url())
    assert answer.status_code == 200, answer.text
    return merchant


def tenant_of(merchant: Merchant) -> Tenant:
    return Tenant(uuid.UUID(merchant.credentials.account_id), merchant.credentials.environment)


async def settle(
    services: Services, merchant: Merchant, payment_id: str, status: Status = Status.PAID
) -> None:
    async with services.db.transaction() as conn:
        await services.payments.settle(
            conn, tenant_of(merchant), uuid.UUID(payment_id), status, actor=Actor.cli("test")
        )


@asynccontextmanager
async def delivering(
    services: Services, config: WebhookConfig = FAST, *, loopback_is_public: bool = False, **changes: Any
) -> AsyncIterator[Dispatcher]:
    """A delivery worker running in this event loop until the block ends.
    ``loopback_is_public``: the receiver's answers are kept as a public endpoint's are
    (only to test what is kept; payreq never stores an allowed network's answers)."""
    config = replace(config, **changes)
    sender = Sender(config, public=lambda ip: ip.is_loopback) if loopback_is_public else None
    dispatcher = Dispatcher(services.db, config=config, clock=services.clock, sender=sender)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        if sender is not None:
            await sender.aclose()


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0
) -> None:
    """Wait until ``check()`` holds, polling; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.02)


async def event_ids(services: Services, payment_id: str) -> dict[str, str]:
    """type -> event id of one payment's events."""
    async with services.db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT id, type FROM events WHERE payment_id = :p", {"p": uuid.UUID(payment_id)}
        )
    return {row["type"]: str(row["id"]) for row in rows}
