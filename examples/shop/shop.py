"""A merchant's server, reduced to what touches payreq: start a checkout, take the
payer back, receive the webhook, and ship only what the API confirms as paid.

Framework-free on purpose: wire ``checkout``, ``thanks`` and ``webhook`` to your own
routes (Flask, Django, FastAPI, ...). Its test suite, ``test_shop.py``, runs against a
real payreq started by ``payreq.testing`` (``pytest -p payreq.testing examples/``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from payreq.client import Client, PaymentStatus, PayreqError
from payreq.webhooks import PaymentEvent, WebhookVerificationError, verify


@dataclass
class Order:
    id: str
    amount: int
    currency: str
    payment_id: str | None = None
    shipped: bool = False


@dataclass
class Shop:
    payreq: Client
    webhook_secret: str
    base_url: str = "https://shop.example"
    orders: dict[str, Order] = field(default_factory=dict)
    seen_webhooks: set[str] = field(default_factory=set)

    def checkout(self, order: Order) -> str:
        """Create the payment request; answer the browser with a 303 to this URL."""
        payment = self.payreq.create_payment_request(
            amount=order.amount,
            currency=order.currency,
            redirect_url=f"{self.base_url}/thanks",
            reference_id=order.id,
            idempotency_key=f"checkout-{order.id}",  # a double click never makes two payments
        )
        order.payment_id = payment.id
        self.orders[order.id] = order
        return payment.checkout_url

    def thanks(self, query: Mapping[str, str]) -> str:
        """The payer is back (``?payment_request_id=...&status=...``): the query is only a
        hint, anyone can type it, so confirm over the API."""
        return "paid" if self.confirm(query["payment_request_id"]) else "waiting for your payment"

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> int:
        """POST /webhooks/payreq: verify, deduplicate on webhook-id, confirm, answer 2xx.

        The id is recorded as handled only once it was: if confirming fails (payreq out of
        reach for a moment), the answer is 503, nothing is recorded, and payreq's
        redelivery ships the order. With a database, record the id in the transaction
        that ships the order, so that neither is kept without the other."""
        try:
            event = verify(body, headers, self.webhook_secret)
        except WebhookVerificationError:
            return 400
        if event.id in self.seen_webhooks:
            return 204
        if isinstance(event, PaymentEvent) and event.type == "payment.paid":
            try:
                self.confirm(event.payment.id)
            except PayreqError:
                return 503  # not handled: payreq delivers the event again
        self.seen_webhooks.add(event.id)
        return 204

    def confirm(self, payment_id: str) -> bool:
        """Ship an order once, when payreq says its payment is paid."""
        payment = self.payreq.get_payment_request(payment_id)
        order = self.orders.get(payment.reference_id or "")
        if order is None or order.payment_id != payment.id:
            return False
        if payment.status is PaymentStatus.PAID and payment.amount == order.amount:
            order.shipped = True
        return order.shipped
