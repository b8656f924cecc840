"""Expiry (SPEC §1-2): a pending request past its deadline reads as expired at once,
is persisted as expired (by the read that finds it, or by the worker's sweep) with
exactly one ``payment.expired`` event, and can no longer be cancelled."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from payreq.auth.subject import Tenant
from payreq.payment import repository
from payreq.payment.lifecycle import Status
from payreq.payment.models import Payment
from payreq.payment.schemas_b import change_data
from payreq.services import Services
from payreq.worker import runner
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant, new_merchant
from tests.payment.conftest import error_of, event_data, event_types, events, stored, ts
from tests.webhook.conftest import set_webhook_url

if TYPE_CHECKING:
    from tests.conftest import MovableClock


async def sweep(services: Services) -> None:
    """Run the worker until it finds nothing more to expire (other tests' rows included)."""
    worker = Worker(services)
    while await worker.run_once():
        pass


async def test_overdue_request_reads_expired_and_is_persisted_once(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    created = await merchant.create_payment(expires_in=60)
    headers = await merchant.headers()
    url = f"/payment/request/{created['id']}"
    clock.advance(61)
    assert (await stored(services, created["id"]))["status"] == "pending"

    first = await merchant.http.get(url, headers=headers)

    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "expired"
    assert body["expired_at"] == body["expires_at"] == created["expires_at"]
    assert body["paid_at"] is None and body["cancelled_at"] is None
    row = await stored(services, created["id"])
    assert row["status"] == "expired"
    assert row["expired_at"] == row["expires_at"]
    rows = await events(services, created["id"])
    assert [r["type"] for r in rows] == ["payment.created", "payment.expired"]
    data = event_data(rows[1])
    assert data["status"] == "expired"
    assert data["expiredAt"] == created["expires_at"]

    second = await merchant.http.get(url, headers=headers)
    assert second.json() == body
    assert [r["id"] for r in await events(services, created["id"])] == [r["id"] for r in rows]


async def test_request_stays_pending_before_its_deadline(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    created = await merchant.create_payment(expires_in=60)
    clock.advance(55)

    answer = await merchant.http.get(f"/payment/request/{created['id']}", headers=await merchant.headers())
    await sweep(services)

    assert answer.json()["status"] == "pending"
    assert answer.json()["expired_at"] is None
    assert (await stored(services, created["id"]))["status"] == "pending"
    assert await event_types(services, created["id"]) == ["payment.created"]


async def test_cancel_overdue_request_returns_409_and_it_ends_expired(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    created = await merchant.create_payment(expires_in=60)
    headers = await merchant.headers()
    clock.advance(61)

    answer = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)

    error = error_of(answer, 409, "invalid_state")
    assert error["code"] == "invalid_state"
    assert "expired" in error["message"]
    assert await event_types(services, created["id"]) in (
        ["payment.created"],  # the refused cancel rolled its work back; a read persists it
        ["payment.created", "payment.expired"],
    )
    read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
    assert read["status"] == "expired"
    assert read["cancelled_at"] is None
    assert read["expired_at"] == created["expires_at"]
    row = await stored(services, created["id"])
    assert (row["status"], row["cancelled_at"]) == ("expired", None)
    assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]


async def test_status_filter_counts_an_overdue_unswept_request_as_expired(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    overdue = await merchant.create_payment(expires_in=60)
    fresh = await merchant.create_payment()
    headers = await merchant.headers()
    clock.advance(61)
    assert (await stored(services, overdue["id"]))["status"] == "pending"  # nothing swept it

    expired = await merchant.http.get("/payment/request", params={"status": "expired"}, headers=headers)
    pending = await merchant.http.get("/payment/request", params={"status": "pending"}, headers=headers)
    everything = await merchant.http.get("/payment/request", headers=headers)

    assert [p["id"] for p in expired.json()["data"]] == [overdue["id"]]
    assert expired.json()["data"][0]["status"] == "expired"
    assert expired.json()["data"][0]["expired_at"] == overdue["expires_at"]
    assert [p["id"] for p in pending.json()["data"]] == [fresh["id"]]
    assert {p["id"]: p["status"] for p in everything.json()["data"]} == {
        overdue["id"]: "expired",
        fresh["id"]: "pending",
    }


async def test_worker_sweep_persists_overdue_requests_with_one_event_each(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    overdue = [await merchant.create_payment(expires_in=60) for _ in range(3)]
    later = await merchant.create_payment(expires_in=3600)
    clock.advance(61)

    await sweep(services)

    for created in overdue:
        row = await stored(services, created["id"])
        assert row["status"] == "expired"
        assert row["expired_at"] == row["expires_at"]
        assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]
    assert (await stored(services, later["id"]))["status"] == "pending"
    assert await event_types(services, later["id"]) == ["payment.created"]

    await sweep(services)
    headers = await merchant.headers()
    for created in overdue:
        read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
        assert read["status"] == "expired"
        assert read["expired_at"] == created["expires_at"]
        assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]


async def test_worker_sweep_reports_how_many_it_expired(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    await sweep(services)  # whatever earlier tests left overdue at this time
    created = [await merchant.create_payment(expires_in=60) for _ in range(2)]
    clock.advance(61)
    worker = Worker(services)

    first = await worker.run_once()

    assert first >= len(created)
    assert [(await stored(services, c["id"]))["status"] for c in created] == ["expired", "expired"]
    await sweep(services)
    assert await worker.run_once() == 0


@pytest.mark.parametrize("expires_in", [0, 59, 2_592_001, -1, 10**12])
async def test_expires_in_outside_60_to_2592000_returns_422(merchant: Merchant, expires_in: int) -> None:
    body = {
        "amount": "1000",
        "currency": "USD",
        "redirect_url": "https://shop.example/r",
        "expires_in": expires_in,
    }

    answer = await merchant.http.post("/payment/request", json=body, headers=await merchant.headers())

    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "expires_in"


@pytest.mark.parametrize("expires_in", [60, 2_592_000])
async def test_expires_in_at_the_bounds_sets_the_deadline(merchant: Merchant, expires_in: int) -> None:
    created = await merchant.create_payment(expires_in=expires_in)

    assert ts(created["expires_at"]) - ts(created["created_at"]) == timedelta(seconds=expires_in)


async def test_default_expiry_is_24_hours(merchant: Merchant) -> None:
    created = await merchant.create_payment()

    assert ts(created["expires_at"]) - ts(created["created_at"]) == timedelta(hours=24)


async def deliveries_of(services: Services, payment_id: str) -> int:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            """SELECT COUNT(*) AS n FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
               WHERE e.payment_id = :id AND e.type = 'payment.expired'""",
            {"id": uuid.UUID(payment_id)},
        )
    assert row is not None
    return int(row["n"])


async def test_sweep_batch_writes_the_events_a_single_expiry_writes_and_deliveries_where_a_url_is_set(
    merchant: Merchant, services: Services, http: httpx.AsyncClient, clock: MovableClock
) -> None:
    await sweep(services)
    assert (await set_webhook_url(merchant, "http://127.0.0.1:9/hooks")).status_code == 200
    silent = await new_merchant(services, http)  # no webhook URL
    hooked = [await merchant.create_payment(expires_in=60) for _ in range(3)]
    quiet = [await silent.create_payment(expires_in=60) for _ in range(2)]
    read_one = await merchant.create_payment(expires_in=60)
    clock.advance(61)
    # the reference: one payment expired on its own, by the read that finds it overdue
    assert (
        await merchant.http.get(f"/payment/request/{read_one['id']}", headers=await merchant.headers())
    ).json()["status"] == "expired"

    assert await Worker(services).run_once() >= len(hooked) + len(quiet)  # and what others left

    reference = event_data((await events(services, read_one["id"]))[-1])
    for created in hooked + quiet:
        assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]
        data = event_data((await events(services, created["id"]))[-1])
        assert data.keys() == reference.keys()
        assert (data["id"], data["status"], data["previousStatus"]) == (created["id"], "expired", "pending")
        assert data["expiredAt"] == created["expires_at"]
        row = await stored(services, created["id"])
        assert (row["status"], row["expired_at"]) == ("expired", row["expires_at"])
    assert [await deliveries_of(services, c["id"]) for c in hooked] == [1, 1, 1]
    assert [await deliveries_of(services, c["id"]) for c in quiet] == [0, 0]


async def test_the_sweeps_events_and_deliveries_take_time_ordered_ids(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    """As the outbox's: version 7 UUIDs, the time of their making in their first 48 bits
    (PostgreSQL makes them in the sweep's statement, ``kit.ids.ORDERED_UUID_SQL``)."""
    await sweep(services)
    assert (await set_webhook_url(merchant, "http://127.0.0.1:9/hooks")).status_code == 200
    created = [await merchant.create_payment(expires_in=60) for _ in range(2)]
    clock.advance(61)
    before = time.time()
    await sweep(services)
    after = time.time()
    async with services.db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT e.id AS event_id, d.id AS delivery_id FROM events e"
            " JOIN webhook_deliveries d ON d.event_id = e.id"
            " WHERE e.type = 'payment.expired' AND e.payment_id IN (:a, :b)",
            {"a": uuid.UUID(created[0]["id"]), "b": uuid.UUID(created[1]["id"])},
        )
    ids = [uuid.UUID(str(row[column])) for row in rows for column in ("event_id", "delivery_id")]
    assert len(ids) == 4
    assert [one.version for one in ids] == [7, 7, 7, 7]
    assert all(int(before * 1000) - 1 <= one.int >> 80 <= int(after * 1000) + 1 for one in ids)


async def test_worker_drains_a_backlog_in_batches_without_waiting_its_interval(
    merchant: Merchant, services: Services, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sweep(services)
    created = [await merchant.create_payment(expires_in=60) for _ in range(3)]
    clock.advance(61)
    monkeypatch.setattr(runner, "EXPIRY_BATCH", 1)  # every batch is full until the backlog is gone
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(services, interval=60).run(stop))
    try:
        for _ in range(100):
            statuses = [(await stored(services, c["id"]))["status"] for c in created]
            if statuses == ["expired"] * 3:
                break
            await asyncio.sleep(0.05)
        assert statuses == ["expired"] * 3  # in seconds, not three intervals of 60 s
    finally:
        stop.set()
        await task


async def test_a_backlog_is_swept_two_batches_at_once_on_postgresql(
    merchant: Merchant, services: Services, clock: MovableClock, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """After a full batch, PostgreSQL sweeps EXPIRY_PARALLEL batches at once (its
    backends do the work, one core each); SQLite, one writer, one at a time. Each
    payment is expired once, with one event, either way."""
    await sweep(services)
    created = [await merchant.create_payment(expires_in=60) for _ in range(5)]
    clock.advance(61)
    monkeypatch.setattr(runner, "EXPIRY_BATCH", 1)
    worker = Worker(services)

    passes = [await worker.run_once(), await worker.run_once()]
    await sweep(services)

    assert passes == ([1, runner.EXPIRY_PARALLEL] if backend == "postgres" else [1, 1])
    for payment in created:
        assert (await stored(services, payment["id"]))["status"] == "expired"
        assert await event_types(services, payment["id"]) == ["payment.created", "payment.expired"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite has no row locks
async def test_the_sweep_leaves_a_payment_another_transaction_holds_and_does_not_wait(
    merchant: Merchant, services: Services, clock: MovableClock, database_url: str
) -> None:
    """A payment locked by another transaction (a batch beside this one, or a change
    through the API) is skipped, not waited for; a later pass expires it."""
    await sweep(services)
    held, free = (await merchant.create_payment(expires_in=60), await merchant.create_payment(expires_in=60))
    clock.advance(61)
    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE", uuid.UUID(held["id"]))
            started = time.monotonic()
            expired = await Worker(services).run_once()
            waited = time.monotonic() - started
            assert (await stored(services, held["id"]))["status"] == "pending"
    finally:
        await other.close()
    assert waited < 1.0
    assert expired >= 1
    assert (await stored(services, free["id"]))["status"] == "expired"
    await sweep(services)
    assert (await stored(services, held["id"]))["status"] == "expired"


TRICKY_TEXT = 'a "quoted" \\ back\tslash\nline\x01\x1f\x7f é € 😀 \u2028 </script>'


async def test_a_swept_event_is_byte_for_byte_what_change_data_writes(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    """The sweep builds its events in the database on PostgreSQL (change_data_sql) and
    in Python on SQLite: each is the very text change_data gives for the expired
    payment, for strings that need escaping, instants with and without fractions, a
    reference and label or none, metadata or none."""
    await sweep(services)
    async with services.db.read() as conn:
        app = await conn.fetch_one(
            "SELECT id, client_id FROM applications WHERE account_id = :a AND environment = :e",
            {"a": uuid.UUID(merchant.credentials.account_id), "e": merchant.credentials.environment},
        )
    assert app is not None
    now = services.clock()
    whole_second = now.replace(microsecond=0)
    shapes = [
        (whole_second, TRICKY_TEXT, TRICKY_TEXT, {'k"ey': TRICKY_TEXT, "é": "", "z": "1"}),
        (now, None, None, None),
        (whole_second.replace(microsecond=1), "ref-1", "Order #1", {"order": "1"}),
        (now, "", "😀", None),
    ]
    payments = [
        Payment(
            id=uuid.uuid4(),
            account_id=uuid.UUID(merchant.credentials.account_id),
            environment=merchant.credentials.environment,
            application_id=app["id"],
            application_client_id=app["client_id"],
            status=Status.PENDING,
            amount=123_456_789_012,
            currency="EUR",
            redirect_url=f"https://shop.example/thanks?q={TRICKY_TEXT}",
            reference_id=reference,
            reference_label=label,
            metadata=metadata,
            created_at=created,
            expires_at=created + timedelta(seconds=60),
        )
        for created, reference, label, metadata in shapes
    ]
    async with services.db.transaction() as conn:
        for payment in payments:  # stored without their events: the sweep's are the only ones
            for _, statement in repository.creation(payment):
                await statement.execute(conn)
    clock.advance(61)

    assert await Worker(services).run_once() >= len(payments)

    tenant = Tenant(payments[0].account_id, payments[0].environment)
    for payment in payments:
        rows = await events(services, str(payment.id))
        assert [r["type"] for r in rows] == ["payment.expired"]
        async with services.db.read() as conn:
            stored_payment = await repository.get(conn, tenant, payment.id)
        assert stored_payment is not None and stored_payment.status is Status.EXPIRED
        assert stored_payment == payment.as_seen(services.clock())
        expected = change_data(stored_payment, base_url=services.payments.base_url, previous=Status.PENDING)
        assert rows[0]["data"] == expected
