"""A redelivery asked for while a worker is sending the event: the attempt in flight
runs to its end, then the event is sent exactly once more (never two attempts of
one event at once, never the request lost when the first attempt's result lands)."""

from __future__ import annotations

import asyncio
import threading
import uuid

from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of
from tests.webhook.conftest import delivering, event_ids, eventually
from tests.webhook.receiver import Answer, Receiver


async def _delivery(services: Services, event_id: str) -> dict[str, object]:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status, attempts, redelivery_requested_at FROM webhook_deliveries WHERE event_id = :e",
            {"e": uuid.UUID(event_id)},
        )
    assert row is not None
    return dict(row)


async def _redeliver(merchant: Merchant, event_id: str) -> None:
    answer = await merchant.http.post(f"/api/events/{event_id}/redeliver", headers=await merchant.headers())
    assert answer.status_code == 202, answer.text


async def test_a_redelivery_during_the_attempt_sends_once_more_after_it(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    held = threading.Event()
    receiver.answers = [Answer(200, b"first", hold=held)]
    try:
        async with delivering(services, timeout=10.0, lease=30.0):
            payment = await hooked.create_payment()
            created_id = (await event_ids(services, payment["id"]))["payment.created"]
            await eventually(lambda: len(receiver.of(created_id)) == 1)  # held by the receiver

            await _redeliver(hooked, created_id)
            await _redeliver(hooked, created_id)  # twice: still one more attempt
            await asyncio.sleep(0.5)
            assert len(receiver.of(created_id)) == 1  # the worker still holds it: no overlap

            held.set()
            await eventually(lambda: len(receiver.of(created_id)) == 2)
            await eventually(lambda: _settled(services, created_id))
            await asyncio.sleep(0.5)  # time for a third attempt, which must not come
    finally:
        held.set()
    assert len(receiver.of(created_id)) == 2
    assert receiver.overlaps == []
    delivery = await _delivery(services, created_id)
    assert (delivery["status"], delivery["attempts"], delivery["redelivery_requested_at"]) == (
        "delivered",
        2,
        None,
    )
    view = await hooked.http.get(f"/api/events/{created_id}", headers=await hooked.headers())
    assert [a["statusCode"] for a in view.json()["attempts"]] == [200, 200]


async def test_a_redelivery_of_an_idle_event_sends_it_once(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    async with delivering(services):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _settled(services, created_id))
        await _redeliver(hooked, created_id)
        await eventually(lambda: len(receiver.of(created_id)) == 2)
        await eventually(lambda: _settled(services, created_id))
        await asyncio.sleep(0.3)
    assert len(receiver.of(created_id)) == 2
    assert (await _delivery(services, created_id))["redelivery_requested_at"] is None


async def _settled(services: Services, event_id: str) -> bool:
    delivery = await _delivery(services, event_id)
    return delivery["status"] == "delivered" and delivery["redelivery_requested_at"] is None


async def test_redeliveries_past_30_a_minute_per_application_are_429_and_change_nothing(
    services: Services, hooked: Merchant
) -> None:
    payment = await hooked.create_payment()
    created_id = (await event_ids(services, payment["id"]))["payment.created"]
    for _ in range(30):
        await _redeliver(hooked, created_id)
    async with services.db.read() as conn:
        before = await conn.fetch_one(
            "SELECT next_attempt_at FROM webhook_deliveries WHERE event_id = :e", {"e": uuid.UUID(created_id)}
        )
    refused = await hooked.http.post(f"/api/events/{created_id}/redeliver", headers=await hooked.headers())
    error = error_of(refused, 429, "rate_limited")
    assert error["code"] == "redelivery_rate_limited"
    assert error["message"].startswith(
        "More than 30 redeliveries per minute for this application; retry after "
    )
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    async with services.db.read() as conn:
        after = await conn.fetch_one(
            "SELECT next_attempt_at FROM webhook_deliveries WHERE event_id = :e", {"e": uuid.UUID(created_id)}
        )
    assert before == after
