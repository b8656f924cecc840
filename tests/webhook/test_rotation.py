"""Webhook secret rotation (SPEC §6): a rotated-out secret keeps signing for 24 hours,
every one of them, not only the last; receivers see one ``v1,`` signature per secret
that still signs. At most five rotated-out secrets sign at once: a sixth rotation
within their 24 hours is refused (409) rather than cutting one's promise short."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from payreq.services import Services
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of
from tests.webhook.conftest import delivering, event_ids, eventually
from tests.webhook.receiver import Receiver

HOUR = 3600.0


async def _rotate(http: httpx.AsyncClient, merchant: Merchant) -> httpx.Response:
    return await http.post(
        f"/api/payment-applications/{merchant.credentials.application_client_id}/webhook-secret",
        headers=await merchant.headers("*"),  # a fresh token: the tests move the clock
    )


def _signed_by(request_headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Whether one of the request's signatures is ``secret``'s (Standard Webhooks' own
    signing; its ``verify`` would refuse a timestamp hours from the real clock)."""
    stamp = datetime.fromtimestamp(int(request_headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(request_headers["webhook-id"], stamp, body.decode())
    return expected in request_headers["webhook-signature"].split(" ")


async def _delivered_headers(
    services: Services, merchant: Merchant, receiver: Receiver, *, after: float = 0.0
) -> tuple[dict[str, str], bytes]:
    """A new event's delivery, sent ``after`` seconds from now on the clock."""
    merchant._token = None  # the cached access token may have expired on the moved clock
    payment = await merchant.create_payment()
    created_id = (await event_ids(services, payment["id"]))["payment.created"]
    clock = services.clock
    assert isinstance(clock, MovableClock)
    clock.advance(after)
    async with delivering(services):
        await eventually(lambda: bool(receiver.of(created_id)))
    [request] = receiver.of(created_id)
    return request.headers, request.body


async def test_two_rotations_in_a_row_leave_all_three_secrets_signing_each_for_its_24_hours(
    services: Services, hooked: Merchant, receiver: Receiver, http: httpx.AsyncClient, clock: MovableClock
) -> None:
    original = hooked.credentials.webhook_secret
    first = await _rotate(http, hooked)
    assert first.status_code == 200, first.text
    clock.advance(0.5 * HOUR)
    second = await _rotate(http, hooked)
    assert second.status_code == 200, second.text
    middle, newest = first.json()["webhookSecret"], second.json()["webhookSecret"]
    assert len({original, middle, newest}) == 3

    headers, body = await _delivered_headers(services, hooked, receiver)
    assert len(headers["webhook-signature"].split(" ")) == 3
    assert all(_signed_by(headers, body, s) for s in (newest, middle, original))

    # 24 h after the first rotation the original stops; the middle one signs half an hour more
    headers, body = await _delivered_headers(services, hooked, receiver, after=23.5 * HOUR + 60)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert _signed_by(headers, body, newest) and _signed_by(headers, body, middle)
    assert not _signed_by(headers, body, original)

    headers, body = await _delivered_headers(services, hooked, receiver, after=0.5 * HOUR)
    assert headers["webhook-signature"].split(" ") == [headers["webhook-signature"]]
    assert _signed_by(headers, body, newest)


async def test_a_sixth_rotation_within_24_hours_is_409_until_the_oldest_expires(
    merchant: Merchant, http: httpx.AsyncClient, clock: MovableClock
) -> None:
    for _ in range(5):
        answer = await _rotate(http, merchant)
        assert answer.status_code == 200, answer.text
        clock.advance(60)
    kept = answer.json()["webhookSecret"]
    refused = await _rotate(http, merchant)
    error = error_of(refused, 409, "invalid_state")
    assert error["code"] == "too_many_rotations"
    assert error["message"].startswith(
        "The webhook secret was rotated 5 times in the last 24 hours and every earlier secret still signs;"
        " rotate again after "
    )
    app = await http.get(
        f"/api/payment-applications/{merchant.credentials.application_client_id}",
        headers=await merchant.headers("*"),
    )
    assert app.status_code == 200 and "webhookSecret" not in app.json()

    clock.advance(24 * HOUR - 5 * 60 + 1)  # the first rotated-out secret has just expired
    again = await _rotate(http, merchant)
    assert again.status_code == 200, again.text
    assert again.json()["webhookSecret"] != kept
