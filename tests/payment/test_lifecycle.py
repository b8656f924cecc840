"""The status lifecycle (SPEC §1, ARCHITECTURE rule 5): the transition table, pair by
pair, and the same rules seen through the API, with the outbox events they write."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from payreq.errors import Conflict
from payreq.payment.lifecycle import TERMINAL, Cause, InvalidTransition, Status, can_transition, transition
from payreq.services import Services
from payreq.worker.runner import Worker
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of, event_data, event_types, events, pay, stored, ts

if TYPE_CHECKING:
    from tests.conftest import MovableClock

# written out, not derived from lifecycle.ALLOWED, so that a change to the table fails here:
# (from, to, cause) for every move the lifecycle allows
ALLOWED_MOVES = {
    (Status.PENDING, Status.PAID, Cause.ORDINARY),
    (Status.PENDING, Status.PAID, Cause.BOOKED_IN_TIME),
    (Status.PENDING, Status.PAID, Cause.ACCEPTED),
    (Status.PENDING, Status.EXPIRED, Cause.ORDINARY),
    (Status.PENDING, Status.CANCELLED, Cause.ORDINARY),
    # a bank transfer booked on or before the expiry day, imported later (SPEC §5)
    (Status.EXPIRED, Status.PAID, Cause.BOOKED_IN_TIME),
    # the merchant accepted a late statement line
    (Status.EXPIRED, Status.PAID, Cause.ACCEPTED),
    (Status.CANCELLED, Status.PAID, Cause.ACCEPTED),
}
ALLOWED_PAIRS = {(a, b) for a, b, cause in ALLOWED_MOVES if cause is Cause.ORDINARY}
ALL_PAIRS = list(itertools.product(Status, Status))
ALL_MOVES = list(itertools.product(Status, Status, Cause))


def test_the_table_covers_sixteen_pairs() -> None:
    assert len(ALL_PAIRS) == 16
    assert {s.value for s in Status} == {"pending", "paid", "expired", "cancelled"}


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_transition_allows_only_pending_to_a_terminal_status(current: Status, target: Status) -> None:
    allowed = (current, target) in ALLOWED_PAIRS
    assert can_transition(current, target) is allowed
    if allowed:
        assert transition(current, target) is target
        return
    with pytest.raises(InvalidTransition) as raised:
        transition(current, target)
    error = raised.value
    assert isinstance(error, Conflict)
    assert (error.status, error.type, error.code) == (409, "invalid_state", "invalid_state")
    assert str(current) in error.message and str(target) in error.message


@pytest.mark.parametrize(
    ("current", "target", "cause"), ALL_MOVES, ids=[f"{a}->{b}-by-{c}" for a, b, c in ALL_MOVES]
)
def test_every_pair_and_cause_of_the_table(current: Status, target: Status, cause: Cause) -> None:
    allowed = (current, target, cause) in ALLOWED_MOVES
    assert can_transition(current, target, cause) is allowed
    if allowed:
        assert transition(current, target, cause) is target
        return
    with pytest.raises(InvalidTransition):
        transition(current, target, cause)


def test_nothing_leaves_paid_and_only_paid_is_reached_from_a_terminal_status() -> None:
    assert not any(a is Status.PAID for a, _, _ in ALLOWED_MOVES)
    assert {b for a, b, _ in ALLOWED_MOVES if a in TERMINAL} == {Status.PAID}
    assert len(ALL_MOVES) == 48


def test_terminal_statuses_are_paid_expired_and_cancelled() -> None:
    assert frozenset({Status.PAID, Status.EXPIRED, Status.CANCELLED}) == TERMINAL


# -- through the API -------------------------------------------------------------


async def test_cancel_pending_request_returns_200_with_cancelled_at(merchant: Merchant) -> None:
    created = await merchant.create_payment(reference_id="order-1")
    headers = await merchant.headers()

    answer = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == created["id"]
    assert body["status"] == "cancelled"
    assert body["cancelled_at"] is not None
    assert ts(created["created_at"]) <= ts(body["cancelled_at"]) < ts(created["expires_at"])
    assert body["paid_at"] is None and body["expired_at"] is None
    for unchanged in ("amount", "currency", "redirect_url", "reference_id", "created_at", "expires_at"):
        assert body[unchanged] == created[unchanged], unchanged
    read = await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json() == body


async def test_cancel_cancelled_request_returns_409_and_leaves_it_unchanged(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment()
    headers = await merchant.headers()
    first = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
    assert first.status_code == 200

    second = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)

    error = error_of(second, 409, "invalid_state")
    assert error["code"] == "invalid_state"
    read = await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json() == first.json()
    assert await event_types(services, created["id"]) == ["payment.created", "payment.cancelled"]


async def test_cancel_paid_request_returns_409_and_it_stays_paid(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment()
    paid = await pay(services, merchant, created["id"])
    assert paid.status is Status.PAID
    headers = await merchant.headers()

    answer = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)

    error = error_of(answer, 409, "invalid_state")
    assert error["code"] == "invalid_state"
    assert "paid" in error["message"]
    read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
    assert read["status"] == "paid"
    assert read["paid_at"] is not None
    assert ts(read["paid_at"]) == paid.paid_at
    assert read["cancelled_at"] is None and read["expired_at"] is None
    assert await event_types(services, created["id"]) == ["payment.created", "payment.paid"]


async def test_paying_twice_or_paying_a_cancelled_request_is_refused(
    merchant: Merchant, services: Services
) -> None:
    paid = await merchant.create_payment()
    await pay(services, merchant, paid["id"])
    with pytest.raises(InvalidTransition):
        await pay(services, merchant, paid["id"])

    cancelled = await merchant.create_payment()
    headers = await merchant.headers()
    assert (
        await merchant.http.post(f"/payment/request/{cancelled['id']}/cancel", headers=headers)
    ).is_success
    with pytest.raises(InvalidTransition):
        await pay(services, merchant, cancelled["id"])

    assert await event_types(services, paid["id"]) == ["payment.created", "payment.paid"]
    assert await event_types(services, cancelled["id"]) == ["payment.created", "payment.cancelled"]
    assert (await stored(services, cancelled["id"]))["status"] == "cancelled"


async def test_terminal_request_stays_terminal_after_its_deadline(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    cancelled = await merchant.create_payment(expires_in=60)
    paid = await merchant.create_payment(expires_in=60)
    headers = await merchant.headers()
    assert (
        await merchant.http.post(f"/payment/request/{cancelled['id']}/cancel", headers=headers)
    ).is_success
    await pay(services, merchant, paid["id"])

    clock.advance(120)
    while await Worker(services).run_once():
        pass

    for created, status in ((cancelled, "cancelled"), (paid, "paid")):
        read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
        assert read["status"] == status
        assert read["expired_at"] is None
        assert (await stored(services, created["id"]))["status"] == status
        assert await event_types(services, created["id"]) == ["payment.created", f"payment.{status}"]


# -- the outbox ---------------------------------------------------------------------


async def test_create_writes_one_created_event_in_contract_b_shape(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment(amount="2500", currency="eur", reference_id="order-7")

    rows = await events(services, created["id"])

    assert [row["type"] for row in rows] == ["payment.created"]
    data = event_data(rows[0])
    assert data["id"] == created["id"]
    assert data["status"] == "pending"
    assert data["amount"] == 2500
    assert data["currencyCode"] == "EUR"
    assert data["reference"] == "order-7"
    assert data["clientId"] == merchant.credentials.application_client_id
    assert data["checkoutUrl"] == created["checkout_url"]
    assert data["redirectUrl"] == created["redirect_url"]
    assert data["environment"] == "sandbox"
    assert data["createdAt"] == created["created_at"]
    assert data["expiresAt"] == created["expires_at"]
    assert data["paidAt"] is None and data["cancelledAt"] is None and data["expiredAt"] is None
    assert not {key for key in data if "_" in key}, "event data must be camelCase"


async def test_cancel_writes_one_cancelled_event_and_a_refused_cancel_writes_none(
    merchant: Merchant, services: Services
) -> None:
    created = await merchant.create_payment()
    headers = await merchant.headers()
    cancelled = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200

    rows = await events(services, created["id"])
    assert [row["type"] for row in rows] == ["payment.created", "payment.cancelled"]
    data = event_data(rows[1])
    assert data["status"] == "cancelled"
    assert data["cancelledAt"] == cancelled.json()["cancelled_at"]

    refused = await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
    assert refused.status_code == 409
    assert [row["id"] for row in await events(services, created["id"])] == [row["id"] for row in rows]


async def test_paying_writes_one_paid_event(merchant: Merchant, services: Services) -> None:
    created = await merchant.create_payment()
    await pay(services, merchant, created["id"])
    headers = await merchant.headers()
    assert (
        await merchant.http.post(f"/payment/request/{created['id']}/cancel", headers=headers)
    ).status_code == 409

    rows = await events(services, created["id"])

    assert [row["type"] for row in rows] == ["payment.created", "payment.paid"]
    read = (await merchant.http.get(f"/payment/request/{created['id']}", headers=headers)).json()
    data = event_data(rows[1])
    assert data["status"] == "paid"
    assert data["paidAt"] == read["paid_at"]
