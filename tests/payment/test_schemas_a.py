"""Contract A's view of one payment (schemas_a.PaymentRequestView): the poll reads it
through ``current`` (a narrow row, no ``Payment`` between), and every field is what
the general view of ``PaymentService.get`` shows, in every state, on both engines."""

from __future__ import annotations

import msgspec

from payreq.payment.schemas_a import PaymentRequestView
from payreq.services import Services
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant
from tests.payment.conftest import pay, stored


async def _general(services: Services, merchant: Merchant, payment_id: str) -> bytes:
    """The view as every other route builds it: ``get``'s Payment, then ``of``."""
    subject = await services.authenticator.authenticate(f"Bearer {await merchant.token()}")
    async with services.db.read() as conn:
        payment = await services.payments.get(conn, subject, payment_id)
    return msgspec.json.encode(PaymentRequestView.of(payment, base_url=services.settings.base_url))


async def _polled(merchant: Merchant, payment_id: str) -> bytes:
    answer = await merchant.http.get(f"/payment/request/{payment_id}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    return answer.content


async def test_the_poll_shows_what_the_general_view_shows_in_every_state(
    merchant: Merchant, services: Services
) -> None:
    pending = await merchant.create_payment(
        reference_id="order-7", metadata={"cart": "42", "note": "ünïcode \u2603"}, expires_in=3600
    )
    bare = await merchant.create_payment()
    paid = await merchant.create_payment(reference_id="paid-1")
    await pay(services, merchant, paid["id"])
    cancelled = await merchant.create_payment()
    answer = await merchant.http.post(
        f"/payment/request/{cancelled['id']}/cancel", headers=await merchant.headers()
    )
    assert answer.status_code == 200
    for created in (pending, bare, paid, cancelled):
        polled = await _polled(merchant, created["id"])
        assert polled == await _general(services, merchant, created["id"])
    assert msgspec.json.decode(await _polled(merchant, paid["id"]))["status"] == "paid"
    assert msgspec.json.decode(await _polled(merchant, cancelled["id"]))["status"] == "cancelled"


async def test_an_overdue_payment_is_polled_expired_and_persisted(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    created = await merchant.create_payment(expires_in=60)
    clock.advance(61)
    assert (await stored(services, created["id"]))["status"] == "pending"
    polled = await _polled(merchant, created["id"])
    assert msgspec.json.decode(polled)["status"] == "expired"
    assert (await stored(services, created["id"]))["status"] == "expired"
    assert polled == await _general(services, merchant, created["id"])


async def test_an_unknown_or_malformed_id_is_not_found(merchant: Merchant) -> None:
    """(Other tenants' and other applications' ids: tests/payment/test_tenancy.py.)"""
    for missing in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        answer = await merchant.http.get(f"/payment/request/{missing}", headers=await merchant.headers())
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "resource_missing"
