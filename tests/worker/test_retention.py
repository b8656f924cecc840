"""Retention (PAYREQ_RETENTION_*): the worker clears attempts' answer bodies after 30
days, deletes events (with their deliveries and attempts) after 13 months and statement
lines after 7 years, in small batches; newer rows and pending deliveries stay. Both
engines, through the worker's own sweep."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from payreq.services import Services
from payreq.worker import runner
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.method.conftest import import_statement
from tests.method.statements import csv_text
from tests.webhook.conftest import set_webhook_url


async def _attempt(services: Services, event_id: uuid.UUID, *, age: timedelta, body: str) -> uuid.UUID:
    from payreq.webhook import repository

    attempt_id = uuid.uuid4()
    async with services.db.transaction() as conn:
        row = await conn.fetch_one("SELECT id FROM webhook_deliveries WHERE event_id = :e", {"e": event_id})
        assert row is not None
        await repository.insert_attempt(
            conn,
            id=attempt_id,
            delivery_id=row["id"],
            event_id=event_id,
            attempted_at=services.clock() - age,
            url="https://shop.example/hooks",
            status_code=500,
            latency_ms=3,
            response_body=body,
            error=None,
            succeeded=False,
        )
    return attempt_id


async def _event_of(services: Services, payment_id: str) -> uuid.UUID:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT id FROM events WHERE payment_id = :p", {"p": uuid.UUID(payment_id)}
        )
    assert row is not None
    return uuid.UUID(str(row["id"]))


async def _age_event(services: Services, event_id: uuid.UUID, age: timedelta, status: str) -> None:
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE events SET created_at = :at WHERE id = :e", {"at": services.clock() - age, "e": event_id}
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET status = :s WHERE event_id = :e", {"s": status, "e": event_id}
        )


async def _count(services: Services, sql: str, **params: object) -> int:
    async with services.db.read() as conn:
        row = await conn.fetch_one(sql, params)
    assert row is not None
    return int(row["n"])


async def test_the_worker_sweeps_what_the_retention_settings_say_in_batches(
    services: Services, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await set_webhook_url(merchant, "http://127.0.0.1:9/hooks")).status_code == 200
    old_event, fresh_event, pending_event = [
        await _event_of(services, (await merchant.create_payment())["id"]) for _ in range(3)
    ]
    old_body = await _attempt(services, fresh_event, age=timedelta(days=31), body="old answer")
    new_body = await _attempt(services, fresh_event, age=timedelta(days=29), body="new answer")
    await _attempt(services, old_event, age=timedelta(days=400), body="very old")
    await _age_event(services, old_event, timedelta(days=400), "failed")
    await _age_event(services, pending_event, timedelta(days=400), "pending")
    await _age_event(services, fresh_event, timedelta(days=10), "failed")

    lines = csv_text(*(f"bank-{uuid.uuid4().hex[:8]},2026-11-30,1.00,EUR,NOREF,Payer" for _ in range(7)))
    imported = await import_statement(merchant, lines)
    assert imported.status_code == 201, imported.text
    import_id = uuid.UUID(imported.json()["id"])
    async with services.db.transaction() as conn:
        old = services.clock() - timedelta(days=2558)
        await conn.execute(
            "UPDATE statement_lines SET created_at = :at WHERE import_id = :i", {"at": old, "i": import_id}
        )
        await conn.execute(
            "UPDATE statement_imports SET created_at = :at WHERE id = :i", {"at": old, "i": import_id}
        )

    monkeypatch.setattr(runner, "RETENTION_BATCH", 3)  # small batches: the loop runs several
    done = await Worker(services).sweep_retention()
    assert done["statement_lines"] >= 7
    async with services.db.read() as conn:
        bodies = {
            r["id"]: r["response_body"]
            for r in await conn.fetch_all(
                "SELECT id, response_body FROM webhook_attempts WHERE event_id = :e", {"e": fresh_event}
            )
        }
    assert bodies[old_body] is None and bodies[new_body] == "new answer"
    assert await _count(services, "SELECT COUNT(*) AS n FROM events WHERE id = :e", e=old_event) == 0
    assert (
        await _count(services, "SELECT COUNT(*) AS n FROM webhook_attempts WHERE event_id = :e", e=old_event)
        == 0
    )
    assert (
        await _count(
            services, "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id = :e", e=old_event
        )
        == 0
    )
    assert await _count(services, "SELECT COUNT(*) AS n FROM events WHERE id = :e", e=pending_event) == 1
    assert await _count(services, "SELECT COUNT(*) AS n FROM events WHERE id = :e", e=fresh_event) == 1
    assert (
        await _count(services, "SELECT COUNT(*) AS n FROM statement_lines WHERE import_id = :i", i=import_id)
        == 0
    )
    assert (
        await _count(services, "SELECT COUNT(*) AS n FROM statement_imports WHERE id = :i", i=import_id) == 0
    )
