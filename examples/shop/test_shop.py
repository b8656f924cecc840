"""The shop's own tests, against a real payreq: ``payreq_server`` comes from the
plugin (``pytest -p payreq.testing``), an ephemeral ``payreq serve`` with a sandbox
account; the payer is the sandbox simulator; webhooks are real deliveries."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

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
