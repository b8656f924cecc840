"""``POST /api/sandbox/payment/{id}/simulate``: any sandbox credential of the account
settles a pending payment as paid, cancelled or expired, through the lifecycle's own
rules; production has no such route (404)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
import pytest

from payreq.services import Services
from tests.application.conftest import checkout_ok, new_application, new_token
from tests.fixtures.factories import Merchant
from tests.method.conftest import event_types, instructions
from tests.payment.conftest import error_of, stored

MakeMerchant = Callable[..., Awaitable[Merchant]]


async def simulate(
    merchant: Merchant, payment_id: str, body: object, token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else await merchant.headers()
    return await merchant.http.post(f"/api/sandbox/payment/{payment_id}/simulate", json=body, headers=headers)


@pytest.mark.parametrize(
    ("outcome", "reached"), [("paid", "paidAt"), ("cancelled", "cancelledAt"), ("expired", "expiredAt")]
)
async def test_each_outcome_settles_the_payment_with_its_event(
    merchant: Merchant, services: Services, outcome: str, reached: str
) -> None:
    payment = await merchant.create_payment(reference_id="ORDER-9")
    answer = await simulate(merchant, payment["id"], {"outcome": outcome})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["id"], body["status"], body["reference"]) == (payment["id"], outcome, "ORDER-9")
    assert body[reached] is not None
    read = await merchant.http.get(f"/payment/request/{payment['id']}", headers=await merchant.headers())
    assert read.json()["status"] == outcome
    assert await event_types(services, payment["id"]) == ["payment.created", f"payment.{outcome}"]


async def test_simulated_expiry_is_persisted_before_the_deadline_and_reads_as_expired(
    merchant: Merchant, services: Services
) -> None:
    payment = await merchant.create_payment(expires_in=3600)
    body = (await simulate(merchant, payment["id"], {"outcome": "expired"})).json()
    row = await stored(services, payment["id"])
    assert row["status"] == "expired"
    assert row["expired_at"] is not None and row["expires_at"] <= row["expired_at"]
    assert datetime.fromisoformat(body["expiresAt"]) < datetime.fromisoformat(payment["expires_at"])
    assert body["expiredAt"] == body["expiresAt"]


@pytest.mark.parametrize("outcome", ["paid", "cancelled", "expired"])
async def test_a_settled_payment_answers_409_and_stays_as_it_was(
    merchant: Merchant, services: Services, outcome: str
) -> None:
    payment = await merchant.create_payment()
    assert (await simulate(merchant, payment["id"], {"outcome": "paid"})).status_code == 200
    error = error_of(await simulate(merchant, payment["id"], {"outcome": outcome}), 409, "invalid_state")
    assert "paid" in error["message"]
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.paid"]


async def test_any_sandbox_credential_of_the_account_may_simulate(merchant: Merchant) -> None:
    by_client_token = await merchant.create_payment()
    answer = await simulate(
        merchant, by_client_token["id"], {"outcome": "paid"}, merchant.credentials.client_token
    )
    assert answer.status_code == 200, answer.text


async def test_a_client_token_reaches_only_its_own_applications_payments(merchant: Merchant) -> None:
    other_app = await new_application(merchant)
    other_token = (await new_token(merchant, ["*"], other_app["clientId"]))["token"]
    payment = await merchant.create_payment()
    error_of(await simulate(merchant, payment["id"], {"outcome": "paid"}, other_token), 404, "not_found")
    mine = await checkout_ok(merchant.http, other_token, other_app["clientId"])
    assert (await simulate(merchant, mine["id"], {"outcome": "paid"}, other_token)).status_code == 200


async def test_production_has_no_simulation(make_merchant: MakeMerchant) -> None:
    production = await make_merchant(environment="production")
    payment = await production.create_payment()
    error = error_of(await simulate(production, payment["id"], {"outcome": "paid"}), 404, "not_found")
    assert error["code"] == "route_not_found"
    read = await production.http.get(f"/payment/request/{payment['id']}", headers=await production.headers())
    assert read.json()["status"] == "pending"


async def test_another_accounts_or_an_unknown_payment_is_404(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    theirs = await (await make_merchant()).create_payment()
    for payment_id in (theirs["id"], "00000000-0000-4000-8000-000000000000", "nope"):
        error_of(await simulate(merchant, payment_id, {"outcome": "paid"}), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"outcome": "refunded"}, 422, "outcome"),
        ({"outcome": 1}, 422, "outcome"),
        ({}, 400, "outcome"),
        ([], 400, None),
    ],
)
async def test_a_bad_outcome_is_refused(
    merchant: Merchant, body: object, status: int, param: str | None
) -> None:
    payment = await merchant.create_payment()
    answer = await simulate(merchant, payment["id"], body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].get("param") == param


async def test_simulation_needs_a_token_with_payments_create(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    error_of(
        await merchant.http.post(f"/api/sandbox/payment/{payment['id']}/simulate", json={"outcome": "paid"}),
        401,
        "authentication_error",
    )
    read_only = await merchant.token("payments.get")
    error_of(await simulate(merchant, payment["id"], {"outcome": "paid"}, read_only), 403, "permission_error")


async def test_the_instructions_name_the_payments_own_read_paths_and_both_answer(merchant: Merchant) -> None:
    """The third step used to say ``GET /api/payment/{id}`` with the placeholder left in."""
    payment = await merchant.create_payment(reference_id="ORDER-7")
    answer = await instructions(merchant, payment["id"], "sandbox")
    assert answer.status_code == 200, answer.text
    steps = answer.json()["steps"]
    assert steps[2] == (
        f"The payment takes that status at once: read it with GET /api/payment/{payment['id']} "
        f"(or GET /payment/request/{payment['id']}) or from the webhook."
    )
    assert "{" not in " ".join(steps)
    paths = re.findall(r"GET (/[^ )]+)", steps[2])
    assert paths == [f"/api/payment/{payment['id']}", f"/payment/request/{payment['id']}"]
    for path in paths:
        read = await merchant.http.get(path, headers=await merchant.headers())
        assert read.status_code == 200, read.text
        assert (read.json()["id"], read.json()["status"]) == (payment["id"], "pending")
