"""The shop's own tests, against a real payreq: ``payreq_server`` comes from the
plugin (``pytest -p payreq.testing``), an ephemeral ``payreq serve`` with a sandbox
account; the payer is the sandbox simulator; webhooks are real deliveries."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from payreq.client import Client
from payreq.testing import LocalServer, sign_webhook
from shop import Order, Shop


@pytest.fixture
def shop(payreq_server: LocalServer) -> Shop:
    return Shop(payreq_server.client, payreq_server.webhook_secret)


@pytest.fixture
def deliveries(payreq_server: LocalServer, shop: Shop) -> Iterator[threading.Event]:
    """Point the account's webhooks at the shop; the event is set once one was handled."""
    handled = threading.Event()

    def receive(body: bytes, headers: dict[str, str]) -> int:
        status = shop.webhook(body, headers)
        if b'"payment.paid"' in body:
            handled.set()
        return status

    with payreq_server.receive_webhooks(receive):
        yield handled


def order(amount: int = 4999) -> Order:
    return Order(id=f"order-{uuid.uuid4().hex[:8]}", amount=amount, currency="EUR")


def test_an_order_ships_when_the_webhook_says_paid(
    payreq_server: LocalServer, shop: Shop, deliveries: threading.Event
) -> None:
    bought = order()
    checkout_url = shop.checkout(bought)
    assert checkout_url.startswith(f"{payreq_server.base_url}/checkout/")
    assert not bought.shipped
    payreq_server.pay(bought.payment_id or "")
    assert deliveries.wait(10), payreq_server.log()
    assert bought.shipped


def test_the_thank_you_page_confirms_over_the_api(payreq_server: LocalServer, shop: Shop) -> None:
    bought = order()
    shop.checkout(bought)
    assert (
        shop.thanks({"payment_request_id": bought.payment_id or "", "status": "paid"})
        == "waiting for your payment"
    )
    payreq_server.pay(bought.payment_id or "")
    assert shop.thanks({"payment_request_id": bought.payment_id or "", "status": "paid"}) == "paid"


def test_an_expired_payment_never_ships(payreq_server: LocalServer, shop: Shop) -> None:
    bought = order()
    shop.checkout(bought)
    payreq_server.expire(bought.payment_id or "")
    assert not shop.confirm(bought.payment_id or "")


def test_a_second_checkout_click_reuses_the_payment(shop: Shop) -> None:
    bought = order()
    first = shop.checkout(bought)
    assert shop.checkout(bought) == first


def test_a_forged_webhook_is_refused_and_ships_nothing(payreq_server: LocalServer, shop: Shop) -> None:
    bought = order()
    shop.checkout(bought)
    forged = sign_webhook(
        {"type": "payment.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {"id": bought.payment_id}},
        "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUE=",
    )
    assert shop.webhook(forged.body, forged.headers) == 400
    assert not bought.shipped


class FailsOnce(httpx.HTTPTransport):
    """The shop's network to payreq drops the first read of a payment, then recovers."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.failed and request.method == "GET" and request.url.path.startswith("/payment/request/"):
            self.failed = True
            raise httpx.ConnectError("payreq unreachable for a moment", request=request)
        return super().handle_request(request)


def test_a_webhook_that_failed_to_be_handled_ships_the_order_on_redelivery(
    payreq_server: LocalServer,
) -> None:
    network = FailsOnce()
    payreq = Client(**payreq_server.client_options(), transport=network, max_retries=0)
    shop = Shop(payreq, payreq_server.webhook_secret)
    answers: list[int] = []
    handled = threading.Event()

    def receive(body: bytes, headers: dict[str, str]) -> int:
        status = shop.webhook(body, headers)
        if b'"payment.paid"' in body:
            answers.append(status)
            if status == 204:
                handled.set()
        return status

    bought = order()
    with payreq, payreq_server.receive_webhooks(receive):
        shop.checkout(bought)
        payreq_server.pay(bought.payment_id or "")
        deadline = time.monotonic() + 10
        while not answers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answers == [503], payreq_server.log()  # payreq unreachable: not handled
        events = payreq_server.client.list_events(type="payment.paid", payment_id=bought.payment_id)
        paid = next(iter(events))
        assert not bought.shipped
        assert paid.id not in shop.seen_webhooks
        payreq_server.client.redeliver_event(paid.id)  # or payreq's own retry, later
        assert handled.wait(10), payreq_server.log()
    assert answers == [503, 204]
    assert bought.shipped
    assert paid.id in shop.seen_webhooks
