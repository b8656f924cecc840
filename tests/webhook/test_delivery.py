"""Deliveries to a real HTTP receiver on 127.0.0.1: signed per Standard Webhooks and
verified with the `standardwebhooks` library, retried on the (compressed) schedule
with the same webhook-id, every attempt visible over the API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from payreq.audit.models import Actor
from payreq.kit.clock import instant
from payreq.payment.lifecycle import Status
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.webhook.conftest import delivering, event_ids, eventually, settle, tenant_of
from tests.webhook.receiver import Answer, Receiver


async def event_view(merchant: Merchant, event_id: str) -> dict:  # type: ignore[type-arg]
    answer = await merchant.http.get(f"/api/events/{event_id}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_receiver_gets_payment_paid_within_seconds_and_verifies_it(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    async with delivering(services):
        payment = await hooked.create_payment()
        await settle(services, hooked, payment["id"], Status.PAID)
        committed = time.time()
        paid_id = (await event_ids(services, payment["id"]))["payment.paid"]
        await eventually(lambda: paid_id in receiver.ids(), timeout=5)
    [request] = receiver.of(paid_id)
    assert request.at - committed < 5
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    event = Webhook(hooked.credentials.webhook_secret).verify(request.body, request.headers)
    assert event["type"] == "payment.paid"
    assert event["data"]["id"] == payment["id"]
    assert event["data"]["status"] == "paid"
    assert event["data"]["paidAt"] is not None
    assert set(event) == {"type", "timestamp", "data"}
    assert request.headers["webhook-id"] == paid_id
    assert abs(int(request.headers["webhook-timestamp"]) - committed) < 5

    tampered = request.body.replace(b'"paid"', b'"pending"', 1)
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(hooked.credentials.webhook_secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


async def test_every_status_change_is_delivered_once(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    async with delivering(services):
        paid = await hooked.create_payment()
        cancelled = await hooked.create_payment()
        await settle(services, hooked, paid["id"], Status.PAID)
        await settle(services, hooked, cancelled["id"], Status.CANCELLED)
        expected = {**{v: k for k, v in (await event_ids(services, paid["id"])).items()}}
        expected |= {v: k for k, v in (await event_ids(services, cancelled["id"])).items()}
        await eventually(lambda: set(receiver.ids()) == set(expected))
    assert sorted(receiver.ids()) == sorted(expected)
    types = {json.loads(r.body)["type"] for r in receiver.received}
    assert types == {"payment.created", "payment.paid", "payment.cancelled"}


async def test_500_twice_then_200_same_webhook_id_fresh_timestamp_attempts_listed(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.answers = [Answer(500, b"boom 1"), Answer(500, b"boom 2"), Answer(200, b"thanks")]
    async with delivering(services, schedule=(0, 1.1, 1.1, 1.1), loopback_is_public=True):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _is(services, created_id, "delivered"), timeout=10)

    first, second, third = receiver.of(created_id)
    assert first.webhook_id == second.webhook_id == third.webhook_id == created_id
    stamps = [int(r.headers["webhook-timestamp"]) for r in (first, second, third)]
    assert stamps[0] < stamps[1] < stamps[2]
    assert first.body == second.body == third.body
    for request in (first, second, third):
        Webhook(hooked.credentials.webhook_secret).verify(request.body, request.headers)

    view = await event_view(hooked, created_id)
    assert view["delivery"]["status"] == "delivered"
    assert view["delivery"]["attempts"] == 3
    assert [a["statusCode"] for a in view["attempts"]] == [500, 500, 200]
    assert [a["succeeded"] for a in view["attempts"]] == [False, False, True]
    assert [a["responseBody"] for a in view["attempts"]] == ["boom 1", "boom 2", "thanks"]
    assert all(a["latencyMs"] >= 0 and a["url"] == receiver.url() for a in view["attempts"])
    assert all(a["error"] is None for a in view["attempts"])


async def test_answer_bodies_are_kept_to_the_first_kib(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.default = Answer(200, b"x" * 5000)
    async with delivering(services, loopback_is_public=True):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
    await eventually(lambda: _delivered(services, created_id))
    [attempt] = (await event_view(hooked, created_id))["attempts"]
    assert attempt["responseBody"] == "x" * 1024


async def test_answers_from_an_allowed_private_network_are_neither_stored_nor_shown(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    """The operator allowed loopback; a merchant aiming at it must not read what the
    gateway's own host answers (SPEC §6)."""
    receiver.default = Answer(500, b"internal admin page: secrets")
    async with delivering(services, schedule=(0, 30)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
        await eventually(lambda: _attempted(services, created_id))
    [attempt] = (await event_view(hooked, created_id))["attempts"]
    assert attempt["statusCode"] == 500
    assert attempt["responseBody"] is None
    async with services.db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT response_body FROM webhook_attempts WHERE event_id = :e", {"e": uuid.UUID(created_id)}
        )
    assert [r["response_body"] for r in rows] == [None]


async def _attempted(services: Services, event_id: str) -> bool:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM webhook_attempts WHERE event_id = :e", {"e": uuid.UUID(event_id)}
        )
    return row is not None and row["n"] >= 1


async def _delivered(services: Services, event_id: str) -> bool:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status FROM webhook_deliveries WHERE event_id = :e", {"e": uuid.UUID(event_id)}
        )
    return row is not None and row["status"] == "delivered"


async def _settled(services: Services, event_id: str) -> bool:
    """Delivered or failed: no attempt is left."""
    return await _status(services, event_id) in {"delivered", "failed"}


async def _status(services: Services, event_id: str) -> str | None:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT status FROM webhook_deliveries WHERE event_id = :e", {"e": uuid.UUID(event_id)}
        )
    return None if row is None else str(row["status"])


async def test_a_result_after_the_lease_passed_to_another_worker_changes_nothing(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    """Two attempts in flight; meanwhile another worker claims one of the deliveries (its
    lease ran out). When both answers arrive, the results are written together: the
    delivery still held is delivered, the other is left as the other worker holds it."""
    hold = threading.Event()
    receiver.answers = [Answer(200, hold=hold), Answer(200, hold=hold)]
    async with delivering(services) as dispatcher:
        kept, lost = (await hooked.create_payment(), await hooked.create_payment())
        kept_id = (await event_ids(services, kept["id"]))["payment.created"]
        lost_id = (await event_ids(services, lost["id"]))["payment.created"]
        await eventually(lambda: len(receiver.of(kept_id)) == len(receiver.of(lost_id)) == 1)
        other, later = uuid.uuid4(), services.clock() + timedelta(minutes=5)
        async with services.db.transaction() as conn:
            await conn.execute(
                "UPDATE webhook_deliveries SET claim_token = :other, claimed_until = :later WHERE event_id = :e",
                {"other": other, "later": later, "e": uuid.UUID(lost_id)},
            )
        hold.set()
        # both attempts succeeded (the receiver has both); one lease was lost
        await eventually(lambda: (dispatcher.stats.delivered, dispatcher.stats.lost_leases) == (2, 1))
    async with services.db.read() as conn:
        rows = {
            str(row["event_id"]): row
            for row in await conn.fetch_all(
                "SELECT event_id, status, attempts, claim_token, claimed_until FROM webhook_deliveries"
                " WHERE event_id IN (:a, :b)",
                {"a": uuid.UUID(kept_id), "b": uuid.UUID(lost_id)},
            )
        }
    assert (rows[kept_id]["status"], rows[kept_id]["attempts"], rows[kept_id]["claim_token"]) == (
        "delivered",
        1,
        None,
    )
    assert (rows[lost_id]["status"], rows[lost_id]["attempts"], rows[lost_id]["claim_token"]) == (
        "pending",
        0,
        other,
    )
    assert instant(rows[lost_id]["claimed_until"]) == later


async def test_redirects_are_not_followed_and_count_as_failures(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.answers = [Answer(302, b"", {"location": receiver.url("/elsewhere")})]
    async with delivering(services, schedule=(0, 0.3)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: len(receiver.of(created_id)) == 2)
    assert [r.path for r in receiver.of(created_id)] == ["/hooks", "/hooks"]
    attempts = (await event_view(hooked, created_id))["attempts"]
    assert attempts[0]["statusCode"] == 302
    assert attempts[0]["succeeded"] is False
    assert attempts[0]["error"] == "redirect (not followed): HTTP 302"
    assert attempts[1]["statusCode"] == 200


async def test_a_slow_receiver_times_out_and_is_retried(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    """The first answer comes after the time-out; a retry gets the quick one. (Three
    retries, not one: on a loaded machine a quick answer on loopback can take half a
    second too, and the attempts say so if the test fails.)"""
    receiver.answers = [Answer(200, b"late", delay=1.5)]
    async with delivering(services, timeout=0.5, schedule=(0, 0.2, 0.2, 0.2)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _settled(services, created_id), timeout=10)
    view = await event_view(hooked, created_id)
    attempts = view["attempts"]
    assert view["delivery"]["status"] == "delivered", attempts
    assert attempts[0]["statusCode"] is None
    assert attempts[0]["error"] == "timed out after 0.5 s"
    assert attempts[-1]["statusCode"] == 200


async def test_a_refused_connection_is_retried_then_failed_then_replayed(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.stop()
    async with delivering(services, schedule=(0, 0.1, 0.1)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: _is(services, created_id, "failed"))
        view = await event_view(hooked, created_id)
        assert view["delivery"]["status"] == "failed"
        assert view["delivery"]["attempts"] == 3
        assert view["delivery"]["failedAt"] is not None
        assert all(a["statusCode"] is None and a["error"] for a in view["attempts"])

        receiver.start()
        answer = await hooked.http.post(
            "/api/events/replay", json={"since": payment["created_at"]}, headers=await hooked.headers()
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"replayed": 1}
        await eventually(lambda: _is(services, created_id, "delivered"))
    assert receiver.ids() == [created_id]
    assert (await event_view(hooked, created_id))["delivery"]["attempts"] == 4


async def _is(services: Services, event_id: str, status: str) -> bool:
    return await _status(services, event_id) == status


async def test_retry_after_of_a_429_is_honoured(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.answers = [Answer(429, b"slow down", {"retry-after": "2"})]
    async with delivering(services, schedule=(0, 0.1, 0.1)):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: len(receiver.of(created_id)) == 2, timeout=10)
    first, second = receiver.of(created_id)
    assert second.at - first.at >= 1.9


async def test_410_disables_the_endpoint_until_a_redelivery(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    receiver.answers = [Answer(410, b"gone")]
    app_url = f"/api/payment-applications/{hooked.credentials.application_client_id}"
    async with delivering(services):
        first = await hooked.create_payment()
        first_id = (await event_ids(services, first["id"]))["payment.created"]
        await eventually(lambda: _is(services, first_id, "failed"))
        app = (await http.get(app_url, headers=await hooked.headers())).json()
        assert app["webhookDisabledAt"] is not None

        second = await hooked.create_payment()
        second_id = (await event_ids(services, second["id"]))["payment.created"]
        await eventually(lambda: _is(services, second_id, "failed"))
        view = await event_view(hooked, second_id)
        assert view["delivery"]["lastError"] == "the webhook endpoint is disabled"
        assert view["attempts"] == []
        assert receiver.ids() == [first_id]

        answer = await http.post(f"/api/events/{second_id}/redeliver", headers=await hooked.headers())
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivery"]["status"] == "pending"
        await eventually(lambda: _is(services, second_id, "delivered"))
    assert receiver.ids() == [first_id, second_id]
    app = (await http.get(app_url, headers=await hooked.headers())).json()
    assert app["webhookDisabledAt"] is None


async def test_an_endpoint_failing_for_the_whole_period_is_disabled(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    receiver.default = Answer(500, b"down")
    app_url = f"/api/payment-applications/{hooked.credentials.application_client_id}"
    async with delivering(services, schedule=(0, 0.2, 0.2, 0.2, 0.2, 0.2), disable_after=0.5):
        await hooked.create_payment()
        await eventually(lambda: _disabled(http, hooked, app_url), timeout=10)
    assert len(receiver.received) >= 3


async def _disabled(http: httpx.AsyncClient, merchant: Merchant, url: str) -> bool:
    return (await http.get(url, headers=await merchant.headers())).json()["webhookDisabledAt"] is not None


async def test_an_endpoint_that_succeeds_now_and_then_is_not_disabled(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    """Only an endpoint that failed *everything* for the period is disabled: here
    payment.created always fails (2 s of retries) while payment.paid succeeds every 0.2 s."""
    receiver.script = lambda r: Answer(200) if json.loads(r.body)["type"] == "payment.paid" else Answer(500)
    app_url = f"/api/payment-applications/{hooked.credentials.application_client_id}"
    async with delivering(services, schedule=(0, *[0.25] * 8), disable_after=0.6):
        for _ in range(10):
            payment = await hooked.create_payment()
            await settle(services, hooked, payment["id"], Status.PAID)
            await asyncio.sleep(0.2)
    assert sum(r.headers["webhook-id"] is not None for r in receiver.received) > 20
    assert not await _disabled(http, hooked, app_url)


async def test_after_a_rotation_both_secrets_sign(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    rotated = await http.post(
        f"/api/payment-applications/{hooked.credentials.application_client_id}/webhook-secret",
        headers=await hooked.headers(),
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["webhookSecret"]
    async with delivering(services):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
    [request] = receiver.of(created_id)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (new_secret, hooked.credentials.webhook_secret):
        Webhook(secret).verify(request.body, request.headers)


async def test_the_previous_secret_stops_signing_when_it_expires(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    rotated = await http.post(
        f"/api/payment-applications/{hooked.credentials.application_client_id}/webhook-secret",
        headers=await hooked.headers(),
    )
    new_secret = rotated.json()["webhookSecret"]
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE applications SET previous_webhook_secret_expires_at = :at WHERE client_id = :c",
            {"at": services.clock(), "c": hooked.credentials.application_client_id},
        )
    async with delivering(services):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
    [request] = receiver.of(created_id)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(hooked.credentials.webhook_secret).verify(request.body, request.headers)


async def test_a_rolled_back_change_has_no_event_and_sends_nothing(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    payment = await hooked.create_payment()
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as conn:
            await services.payments.settle(
                conn, tenant_of(hooked), uuid.UUID(payment["id"]), Status.PAID, actor=Actor.cli("test")
            )
            raise RuntimeError("the unit of work fails after the change")
    assert set(await event_ids(services, payment["id"])) == {"payment.created"}
    async with delivering(services):
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
        await asyncio.sleep(0.3)
    assert receiver.ids() == [created_id]


async def test_receiver_down_while_50_events_happen_gets_all_50_when_back(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.stop()
    async with delivering(services, schedule=(0, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1, 1)):
        payments = [await hooked.create_payment() for _ in range(50)]
        await asyncio.sleep(1.0)
        assert receiver.received == []
        receiver.start()
        expected = set()
        for payment in payments:
            expected.add((await event_ids(services, payment["id"]))["payment.created"])
        await eventually(lambda: set(receiver.ids()) == expected, timeout=15)
    assert len(receiver.ids()) == 50
    assert receiver.overlaps == []


async def test_shutdown_waits_for_deliveries_in_flight(
    services: Services, hooked: Merchant, receiver: Receiver
) -> None:
    receiver.default = Answer(200, b"ok", delay=0.8)
    async with delivering(services):
        payment = await hooked.create_payment()
        created_id = (await event_ids(services, payment["id"]))["payment.created"]
        await eventually(lambda: bool(receiver.of(created_id)))
    # the block ended (stop) while the receiver was still answering
    assert await _status(services, created_id) == "delivered"
