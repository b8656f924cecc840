"""The event log over the API (SPEC §3, §6): GET /api/events?type=&after= for merchants
who poll, GET /api/events/{id} with its delivery attempts, redelivery and replay; one
account and environment only, access tokens only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from payreq.payment.lifecycle import Status
from payreq.services import Services
from tests.application.conftest import bearer, new_token
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant, second_key
from tests.payment.conftest import error_of
from tests.webhook.conftest import delivering, event_ids, eventually, set_webhook_url, settle
from tests.webhook.receiver import Answer, Receiver

MakeMerchant = Callable[..., Awaitable[Merchant]]
LOG_DELAY = 5


async def events(merchant: Merchant, **params: Any) -> dict[str, Any]:
    answer = await merchant.http.get("/api/events", params=params, headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_the_log_lists_events_oldest_first_with_the_payment_as_it_was(
    services: Services, merchant: Merchant, clock: MovableClock
) -> None:
    payment = await merchant.create_payment(reference_id="order-1")
    await settle(services, merchant, payment["id"], Status.PAID)
    clock.advance(LOG_DELAY + 1)
    page = await events(merchant)
    assert [e["type"] for e in page["data"]] == ["payment.created", "payment.paid"]
    created, paid = page["data"]
    assert created["data"]["status"] == "pending"
    assert paid["data"]["status"] == "paid"
    assert paid["data"]["reference"] == "order-1"
    assert paid["paymentId"] == payment["id"] == paid["data"]["id"]
    assert paid["clientId"] == merchant.credentials.application_client_id
    assert paid["delivery"] is None  # the application has no webhook URL
    assert set(paid) == {"id", "type", "createdAt", "clientId", "paymentId", "data", "delivery"}
    assert page["hasMore"] is False
    assert page["nextCursor"] == paid["id"]


async def test_events_have_time_ordered_ids_and_payments_random_ones(
    merchant: Merchant, clock: MovableClock
) -> None:
    """An event's id is a version 7 UUID (its indexes grow at one edge: bench/inprocess.py,
    a fifth fewer bytes written per creation); the payment's stays a random version 4
    one, as SPEC §1 says: its checkout URL is the payer's only key to the page."""
    payments = [await merchant.create_payment() for _ in range(3)]
    clock.advance(LOG_DELAY + 1)
    listed = (await events(merchant))["data"]
    assert [uuid.UUID(event["id"]).version for event in listed] == [7, 7, 7]
    assert [event["paymentId"] for event in listed] == [payment["id"] for payment in payments]
    assert sorted(event["id"] for event in listed) == [event["id"] for event in listed]
    assert [uuid.UUID(payment["id"]).version for payment in payments] == [4, 4, 4]


async def test_events_appear_in_the_log_at_once(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    assert [e["type"] for e in (await events(merchant))["data"]] == ["payment.created"]
    assert [e["type"] for e in (await events(merchant, paymentId=payment["id"]))["data"]] == [
        "payment.created"
    ]


async def _event(services: Services, conn: Any, payment_id: str, *, created_at: Any) -> str:
    """One more event of the payment, as the outbox writes it, in ``conn``'s transaction."""
    from payreq.webhook import repository

    row = await conn.fetch_one(
        "SELECT account_id, environment, application_id, data FROM events WHERE payment_id = :p",
        {"p": uuid.UUID(payment_id)},
    )
    event_id = uuid.uuid4()
    await repository.insert_event(
        conn,
        id=event_id,
        account_id=row["account_id"],
        environment=row["environment"],
        application_id=row["application_id"],
        payment_id=uuid.UUID(payment_id),
        type="payment.paid",
        data=row["data"],
        created_at=created_at,
    )
    return str(event_id)


async def test_an_event_committed_long_after_its_timestamp_is_not_skipped_by_a_poller(
    services: Services, merchant: Merchant, clock: MovableClock, backend: str
) -> None:
    """The log is in commit order: a transaction that commits well past the old 5 s delay
    after its event's timestamp still lands after a poller's cursor, never behind it."""
    import asyncio

    payment = await merchant.create_payment()
    first = await events(merchant)
    seen = [e["id"] for e in first["data"]]
    cursor = first["nextCursor"]
    late_created_at = clock()
    inserted, release = asyncio.Event(), asyncio.Event()
    late_id: list[str] = []

    async def late_transaction() -> None:
        async with services.db.transaction() as conn:
            late_id.append(await _event(services, conn, payment["id"], created_at=late_created_at))
            inserted.set()
            await release.wait()

    if backend == "postgres":  # hold a transaction open with its event inside, truly in flight
        holder = asyncio.create_task(late_transaction())
        await inserted.wait()
    clock.advance(10)
    async with services.db.transaction() as conn:
        on_time = await _event(services, conn, payment["id"], created_at=clock())
    clock.advance(10)  # both past any delay
    try:
        polled = await events(merchant, after=cursor)
    finally:
        release.set()
    seen += [e["id"] for e in polled["data"]]
    cursor = polled["nextCursor"] or cursor
    if backend == "postgres":
        await holder
        assert polled["data"] == []  # nothing shown above a transaction still in flight
    else:  # SQLite: the late one takes its timestamp, then the write lock after the other commit
        assert [e["id"] for e in polled["data"]] == [on_time]
        await late_transaction()
    rest = await events(merchant, after=cursor)
    seen += [e["id"] for e in rest["data"]]
    assert late_id[0] in seen
    assert sorted(seen) == sorted({*seen})  # each once
    assert len(seen) == 3


async def test_polling_with_after_walks_every_event_once(
    services: Services, merchant: Merchant, clock: MovableClock
) -> None:
    payments = [await merchant.create_payment() for _ in range(7)]
    for payment in payments[:3]:
        await settle(services, merchant, payment["id"], Status.CANCELLED)
    clock.advance(LOG_DELAY + 1)
    seen: list[str] = []
    cursor = None
    while True:
        page = await events(merchant, limit=4, **({"after": cursor} if cursor else {}))
        seen += [e["id"] for e in page["data"]]
        cursor = page["nextCursor"] or cursor
        if not page["hasMore"]:
            break
    assert len(seen) == len(set(seen)) == 10
    # nothing new: an empty page, and the cursor stays where it was
    assert await events(merchant, after=cursor) == {"data": [], "hasMore": False, "nextCursor": None}
    later = await merchant.create_payment()
    clock.advance(LOG_DELAY + 1)
    newer = await events(merchant, after=cursor)
    assert [e["paymentId"] for e in newer["data"]] == [later["id"]]


async def test_type_filters_the_log(services: Services, merchant: Merchant, clock: MovableClock) -> None:
    first, second = await merchant.create_payment(), await merchant.create_payment()
    await settle(services, merchant, first["id"], Status.PAID)
    await settle(services, merchant, second["id"], Status.CANCELLED)
    clock.advance(LOG_DELAY + 1)
    paid = await events(merchant, type="payment.paid")
    assert [(e["type"], e["paymentId"]) for e in paid["data"]] == [("payment.paid", first["id"])]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"type": "payment.refunded"}, "type"),
        ({"after": "nope"}, "after"),
        ({"after": str(uuid.uuid4())}, "after"),
    ],
)
async def test_bad_filters_are_422(merchant: Merchant, params: dict[str, str], param: str) -> None:
    answer = await merchant.http.get("/api/events", params=params, headers=await merchant.headers())
    assert error_of(answer, 422, "validation_error")["param"] == param


async def test_another_accounts_event_is_404_and_never_listed(
    services: Services, merchant: Merchant, make_merchant: MakeMerchant, clock: MovableClock
) -> None:
    other = await make_merchant()
    theirs = await other.create_payment()
    their_event = (await event_ids(services, theirs["id"]))["payment.created"]
    await set_webhook_url(other, "https://shop.example/hooks")
    headers = await merchant.headers()
    unknown = await merchant.http.get(f"/api/events/{uuid.uuid4()}", headers=headers)
    for path in (f"/api/events/{their_event}", f"/api/events/{their_event}/redeliver"):
        call = merchant.http.get if path.endswith(their_event) else merchant.http.post
        answer = await call(path, headers=headers)
        assert error_of(answer, 404, "not_found")["message"] == "No such event."
        assert answer.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert error_of(await merchant.http.get("/api/events/abc", headers=headers), 404, "not_found")
    clock.advance(LOG_DELAY + 1)
    assert their_event not in str(await events(merchant))
    cursor = await merchant.http.get("/api/events", params={"after": their_event}, headers=headers)
    error_of(cursor, 422, "validation_error")


async def test_another_environment_of_the_same_account_is_404(
    services: Services, merchant: Merchant, clock: MovableClock
) -> None:
    production = await second_key(services, merchant, "production")
    payment = await merchant.create_payment()
    event_id = (await event_ids(services, payment["id"]))["payment.created"]
    answer = await production.http.get(f"/api/events/{event_id}", headers=await production.headers())
    error_of(answer, 404, "not_found")
    clock.advance(LOG_DELAY + 1)
    assert (await events(production))["data"] == []


async def test_client_tokens_cannot_read_the_log(merchant: Merchant) -> None:
    token = (await new_token(merchant, ["*"]))["token"]
    answer = await merchant.http.get("/api/events", headers=bearer(token))
    error_of(answer, 403, "permission_error")


async def test_redelivery_needs_a_webhook_url(services: Services, merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    event_id = (await event_ids(services, payment["id"]))["payment.created"]
    answer = await merchant.http.post(f"/api/events/{event_id}/redeliver", headers=await merchant.headers())
    error = error_of(answer, 409, "invalid_state")
    assert error["code"] == "no_webhook_url"


async def test_an_event_from_before_the_url_was_set_can_be_redelivered(
    services: Services, merchant: Merchant, receiver: Receiver, fence: None
) -> None:
    payment = await merchant.create_payment()
    event_id = (await event_ids(services, payment["id"]))["payment.created"]
    assert (await set_webhook_url(merchant, receiver.url())).status_code == 200
    async with delivering(services):
        answer = await merchant.http.post(
            f"/api/events/{event_id}/redeliver", headers=await merchant.headers()
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivery"]["status"] == "pending"
        await eventually(lambda: event_id in receiver.ids())


async def test_a_delivered_event_is_redelivered_with_the_same_webhook_id(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    async with delivering(services):
        payment = await hooked.create_payment()
        event_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: event_id in receiver.ids())
        await eventually(lambda: _status(hooked, event_id, "delivered"))
        answer = await hooked.http.post(f"/api/events/{event_id}/redeliver", headers=await hooked.headers())
        assert answer.status_code == 202
        await eventually(lambda: len(receiver.of(event_id)) == 2)
        await eventually(lambda: _status(hooked, event_id, "delivered"))
    view = await hooked.http.get(f"/api/events/{event_id}", headers=await hooked.headers())
    assert [a["statusCode"] for a in view.json()["attempts"]] == [200, 200]


async def _status(merchant: Merchant, event_id: str, status: str) -> bool:
    view = await merchant.http.get(f"/api/events/{event_id}", headers=await merchant.headers())
    return bool(view.json()["delivery"]["status"] == status)


async def test_replay_sends_failed_events_since_a_time_and_only_those(
    services: Services, hooked: Merchant, receiver: Receiver, make_merchant: MakeMerchant, clock: MovableClock
) -> None:
    receiver.default = Answer(500)
    async with delivering(services, schedule=(0,)):
        old = await hooked.create_payment()
        old_id = (await event_ids(services, old["id"]))["payment.created"]
        await eventually(lambda: _status(hooked, old_id, "failed"))
        clock.advance(60)
        since = clock().isoformat()
        new = await hooked.create_payment()
        new_id = (await event_ids(services, new["id"]))["payment.created"]
        await eventually(lambda: _status(hooked, new_id, "failed"))

        receiver.default = Answer(200)
        other = await make_merchant()
        nothing = await other.http.post(
            "/api/events/replay", json={"since": since}, headers=await other.headers()
        )
        assert nothing.json() == {"replayed": 0}
        answer = await hooked.http.post(
            "/api/events/replay", json={"since": since}, headers=await hooked.headers()
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"replayed": 1}
        await eventually(lambda: _status(hooked, new_id, "delivered"))
    assert await _status(hooked, old_id, "failed")
    assert receiver.ids().count(new_id) == 2
    assert receiver.ids().count(old_id) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ([], 400, "invalid_body"),
        ({"since": "yesterday"}, 422, "invalid_value"),
        ({"since": "2026-01-01T00:00:00"}, 422, "invalid_value"),
    ],
)
async def test_replay_needs_a_time_with_an_offset(
    merchant: Merchant, body: object, status: int, code: str
) -> None:
    answer = await merchant.http.post("/api/events/replay", json=body, headers=await merchant.headers())
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    if code != "invalid_body":
        assert answer.json()["error"]["param"] == "since"


async def test_replay_requeues_in_bounded_batches_and_counts_them_all(
    services: Services, merchant: Merchant, clock: MovableClock
) -> None:
    from payreq.webhook.service import REPLAY_BATCH

    assert (await set_webhook_url(merchant, "http://127.0.0.1:9/hooks")).status_code == 200
    payment = await merchant.create_payment()
    total = REPLAY_BATCH * 2 + 7  # three batches
    async with services.db.transaction() as conn:
        for _ in range(total):
            await _event(services, conn, payment["id"], created_at=clock())
        row = await conn.fetch_one(
            "SELECT application_id FROM events WHERE payment_id = :p LIMIT 1", {"p": uuid.UUID(payment["id"])}
        )
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, event_id, application_id, status, attempts, step, created_at, "
            "failed_at) SELECT e.id, e.id, e.application_id, 'failed', 11, 11, e.created_at, e.created_at "
            "FROM events e WHERE e.payment_id = :p AND NOT EXISTS "
            "(SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)",
            {"p": uuid.UUID(payment["id"])},
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed' WHERE application_id = :a",
            {"a": row["application_id"]},
        )
    since = (clock() - timedelta(minutes=1)).isoformat()
    answer = await merchant.http.post(
        "/api/events/replay", json={"since": since}, headers=await merchant.headers()
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"replayed": total + 1}  # and the payment's own payment.created
    async with services.db.read() as conn:
        left = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE application_id = :a AND status = 'failed'",
            {"a": row["application_id"]},
        )
    assert left is not None and left["n"] == 0


async def test_replay_reaches_back_at_most_30_days(merchant: Merchant, clock: MovableClock) -> None:
    old = (clock() - timedelta(days=31)).isoformat()
    answer = await merchant.http.post(
        "/api/events/replay", json={"since": old}, headers=await merchant.headers()
    )
    error = error_of(answer, 422, "validation_error")
    assert (error["code"], error["param"]) == ("replay_window", "since")
    recent = (clock() - timedelta(days=29)).isoformat()
    answer = await merchant.http.post(
        "/api/events/replay", json={"since": recent}, headers=await merchant.headers()
    )
    assert answer.status_code == 202
