"""What a merchant's editor and mypy see: ``make lint`` runs ``mypy --strict`` on this
file, so every method's parameters and every model's fields are typed and complete
(``assert_type`` fails the check if a type degrades to ``Any``). Never run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_type

from payreq.client import (
    ApplicationWithSecret,
    AsyncClient,
    Client,
    Event,
    Instructions,
    NewClientToken,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StatementImport,
    ValidationError,
)
from payreq.testing import LocalServer, SignedWebhook, sign_webhook
from payreq.webhooks import PaymentEvent, WebhookEvent, verify


def sync_usage(payreq: Client) -> None:
    created = payreq.create_payment_request(
        amount=10000,
        currency="USD",
        redirect_url="https://shop.example/thanks",
        reference_id="order-42",
        metadata={"cart": "42"},
        idempotency_key="order-42",
        timeout=5.0,
        max_retries=2,
        extra_headers={"X-Trace": "1"},
    )
    assert_type(created, PaymentRequest)
    assert_type(created.amount, int)
    assert_type(created.created_at, datetime)
    assert_type(created.paid_at, datetime | None)
    assert_type(created.status, PaymentStatus)
    assert_type(payreq.get_payment_request(created.id, timeout=1.0), PaymentRequest)
    assert_type(payreq.cancel_payment_request(created.id, idempotency_key="k"), PaymentRequest)
    assert_type(payreq.wait_for_payment(created.id, timeout=60, request_timeout=5), PaymentRequest)
    for request in payreq.list_payment_requests(status="paid", limit=50):
        assert_type(request, PaymentRequest)
    for page in payreq.list_payment_requests().pages():
        assert_type(page, Page[PaymentRequest])
        assert_type(page.has_more, bool)

    checkout = payreq.create_checkout(
        amount=10000, currency_code="USD", reference="ORDER-123", reference_label="Order #123"
    )
    assert_type(checkout, Payment)
    assert_type(checkout.currency_code, str)
    assert_type(payreq.get_payment(checkout.id), Payment)
    assert_type(payreq.get_instructions(checkout.id, "bank_transfer"), Instructions)
    assert_type(payreq.simulate_payment(checkout.id, "paid"), Payment)
    for payment in payreq.list_payments(status="paid", created_from=datetime(2026, 1, 1, tzinfo=UTC)):
        assert_type(payment, Payment)

    app = payreq.create_application(
        name="Web shop", currencies=["USD"], webhook_url="https://shop.example/hooks"
    )
    assert_type(app, ApplicationWithSecret)
    assert_type(app.webhook_secret, str)
    assert_type(payreq.update_application(app.client_id, webhook_url=None).webhook_url, str | None)
    token = payreq.create_client_token(app.client_id, label="checkout", scopes=["payments.create"])
    assert_type(token, NewClientToken)
    payreq.revoke_client_token(app.client_id, token.id)
    for event in payreq.list_events(type="payment.paid"):
        assert_type(event, Event)
        assert_type(event.data, Payment)
    assert_type(payreq.replay_events(datetime(2026, 11, 1, tzinfo=UTC)), int)
    assert_type(payreq.import_statement(b"...", content_type="text/csv"), StatementImport)

    try:
        payreq.create_payment_request(amount=0, currency="USD", redirect_url="x")
    except ValidationError as exc:
        assert_type(exc.param, str | None)
        assert_type(exc.status, int)
        assert_type(exc.request_id, str | None)


async def async_usage(payreq: AsyncClient) -> None:
    created = await payreq.create_payment_request(
        amount=100, currency="EUR", redirect_url="https://s.example"
    )
    assert_type(created, PaymentRequest)
    assert_type(await payreq.wait_for_payment(created.id, timeout=30), PaymentRequest)
    async for payment in payreq.list_payments(status="pending"):
        assert_type(payment, Payment)
    async for page in payreq.list_events().pages():
        assert_type(page, Page[Event])


def webhook_usage(body: bytes, headers: dict[str, str]) -> None:
    event = verify(body, headers, ["whsec_new", "whsec_old"], tolerance=600)
    assert_type(event, WebhookEvent)
    if isinstance(event, PaymentEvent):
        assert_type(event.payment, Payment)
    signed = sign_webhook(
        {"type": "payment.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {}}, "whsec_x"
    )
    assert_type(signed, SignedWebhook)
    assert_type(signed.body, bytes)


def testing_usage() -> None:
    with LocalServer() as server:
        assert_type(server.client, Client)
        assert_type(server.pay("id"), Payment)
