"""payreq.webhooks.verify: Standard Webhooks signatures as the server makes them,
timestamp tolerance, rotation, and events of types it does not know."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from payreq.client import PaymentStatus
from payreq.testing import sign_webhook
from payreq.webhook import signing
from payreq.webhooks import PaymentEvent, WebhookEvent, WebhookVerificationError, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhlIHNob3A="
PAYMENT = {
    "id": "0d9a6c0e-1d6f-4bb0-9a57-3c6f2f0c1a11",
    "status": "paid",
    "amount": 10000,
    "currencyCode": "USD",
    "reference": "ORDER-123",
    "referenceLabel": "Order #123",
    "clientId": "a" * 32,
    "checkoutUrl": "http://x/checkout/1",
    "redirectUrl": "https://shop.example/thanks",
    "environment": "sandbox",
    "createdAt": "2026-12-01T08:00:00Z",
    "expiresAt": "2026-12-02T08:00:00Z",
    "paidAt": "2026-12-01T08:05:00Z",
    "cancelledAt": None,
    "expiredAt": None,
    "metadata": None,
}


def server_delivery(
    event_type: str = "payment.paid", secrets: list[str] | None = None
) -> tuple[str, dict[str, str]]:
    """Body and headers exactly as the server's worker signs them (payreq.webhook.signing)."""
    now = datetime.now(UTC)
    body = signing.body(event_type, now, json.dumps(PAYMENT))
    return body, signing.headers("evt-1", now, body, secrets or [SECRET])


def test_a_delivery_signed_by_the_server_verifies_into_a_payment_event() -> None:
    body, headers = server_delivery()
    event = verify(body.encode(), headers, SECRET)
    assert isinstance(event, PaymentEvent)
    assert (event.id, event.type) == ("evt-1", "payment.paid")
    assert event.payment.status is PaymentStatus.PAID
    assert event.payment.amount == 10000
    assert event.data["reference"] == "ORDER-123"


def test_header_names_are_case_insensitive_and_str_bodies_work() -> None:
    body, headers = server_delivery()
    event = verify(body, {k.upper(): v for k, v in headers.items()}, SECRET)
    assert event.id == "evt-1"


def test_a_rotated_secret_verifies_with_either_secret() -> None:
    body, headers = server_delivery(secrets=[SECRET, OLD])
    assert verify(body, headers, OLD).id == "evt-1"
    body, headers = server_delivery(secrets=[OLD])
    assert verify(body, headers, [SECRET, OLD]).type == "payment.paid"
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(body, headers, SECRET)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b, h: (b.replace("10000", "1"), h),
        lambda b, h: (b, {**h, "webhook-id": "evt-2"}),
        lambda b, h: (b, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
        lambda b, h: (b, {**h, "webhook-signature": "v1,AAAA"}),
        lambda b, h: (b, {**h, "webhook-signature": "v2," + h["webhook-signature"].split(",", 1)[1]}),
        lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}),
        lambda b, h: (b, {**h, "webhook-timestamp": "soon"}),
    ],
    ids=["body", "id", "timestamp", "signature", "version", "missing", "not-a-number"],
)
def test_anything_changed_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    body, headers = server_delivery()
    body, headers = tamper(body, headers)
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, SECRET)


def test_the_timestamp_tolerance_is_five_minutes_and_configurable() -> None:
    body, headers = server_delivery()
    sent = int(headers["webhook-timestamp"])
    assert verify(body, headers, SECRET, now=sent + 299).id == "evt-1"
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(body, headers, SECRET, now=sent + 301)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(body, headers, SECRET, now=sent - 301)
    assert verify(body, headers, SECRET, now=sent + 3000, tolerance=3600).id == "evt-1"


def test_an_unknown_event_type_still_parses_as_a_generic_event() -> None:
    signed = sign_webhook(
        {
            "type": "payout.sent",
            "timestamp": "2026-12-01T09:00:00Z",
            "data": {"payoutId": "po_1", "amount": 5},
        },
        SECRET,
        id="evt-9",
    )
    event = verify(signed.body, signed.headers, SECRET)
    assert type(event) is WebhookEvent
    assert (event.id, event.type, event.data) == ("evt-9", "payout.sent", {"payoutId": "po_1", "amount": 5})
    assert event.timestamp == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_sign_webhook_matches_the_reference_implementation() -> None:
    signed = sign_webhook(
        {"type": "payment.paid", "timestamp": "2026-12-01T09:00:00Z", "data": PAYMENT}, [SECRET, OLD]
    )
    headers = dict(signed.headers)
    assert Webhook(OLD).verify(signed.body.decode(), headers) is not None
    assert len(headers["webhook-signature"].split()) == 2
    event = verify(signed.body, headers, SECRET)
    assert isinstance(event, PaymentEvent)
    resigned = sign_webhook(event, SECRET, timestamp=int(time.time()))
    assert verify(resigned.body, resigned.headers, SECRET).data == event.data


def test_the_secret_comes_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    body, headers = server_delivery()
    monkeypatch.delenv("PAYREQ_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        verify(body, headers)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    assert verify(body, headers).id == "evt-1"


def test_a_malformed_secret_is_a_value_error() -> None:
    body, headers = server_delivery()
    with pytest.raises(ValueError, match="base64"):
        verify(body, headers, "whsec_not base64!")
