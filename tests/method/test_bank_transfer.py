"""``GET /api/payment/{id}/instructions?method=bank_transfer``: the application's bank
details and the payment's own transfer reference (ISO 11649), the same one the
checkout page shows; refused where the method is not set up."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from payreq.method import creditor_reference
from tests.application.conftest import new_application
from tests.fixtures.factories import Merchant
from tests.method.conftest import bank_application, instructions, new_payment, transfer_reference
from tests.payment.conftest import error_of

MakeMerchant = Callable[..., Awaitable[Merchant]]


async def test_instructions_give_the_bank_details_and_a_valid_transfer_reference(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 12500, "EUR")
    answer = await instructions(merchant, payment["id"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["method"], body["status"], body["amount"], body["currencyCode"]) == (
        "bank_transfer",
        "pending",
        12500,
        "EUR",
    )
    assert body["bankDetails"] == {
        "accountHolder": "Example Shop GmbH",
        "bankName": "Example Bank",
        "iban": "DE89370400440532013000",
        "accountNumber": None,
        "bic": "COBADEFFXXX",
        "routingNumber": None,
    }
    reference = body["transferReference"]
    assert re.fullmatch(r"RF[0-9]{2}[0-9A-Z]{8}", reference) and creditor_reference.is_valid(reference)
    shown = {d["label"]: d["value"] for d in body["details"]}
    # values for programs: the electronic forms, as bankDetails.iban and transferReference
    # (the checkout page and the steps print them grouped, for people)
    assert shown["Transfer reference"] == reference
    assert shown["IBAN"] == "DE89370400440532013000" == body["bankDetails"]["iban"]
    assert any("125.00 EUR" in step for step in body["steps"])
    assert any(creditor_reference.display_form(reference) in step for step in body["steps"])


async def test_the_reference_is_issued_once_and_kept(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id)
    concurrent = await asyncio.gather(*(transfer_reference(merchant, payment["id"]) for _ in range(5)))
    assert len(set(concurrent)) == 1
    assert await transfer_reference(merchant, payment["id"]) == concurrent[0]
    page = await merchant.http.get(f"/checkout/{payment['id']}")
    assert creditor_reference.display_form(concurrent[0]) in page.text


async def test_every_payment_has_its_own_reference(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payments = [await new_payment(merchant, client_id) for _ in range(10)]
    references = {await transfer_reference(merchant, p["id"]) for p in payments}
    assert len(references) == 10


async def test_a_domestic_account_shows_its_account_and_routing_numbers(merchant: Merchant) -> None:
    app = await new_application(
        merchant,
        methods=["bank_transfer"],
        bankDetails={
            "accountHolder": "Shop Inc",
            "bankName": "First Bank",
            "accountNumber": "000123456789",
            "routingNumber": "021000021",
        },
    )
    payment = await new_payment(merchant, app["clientId"], 10000, "USD")
    body = (await instructions(merchant, payment["id"])).json()
    shown = {d["label"]: d["value"] for d in body["details"]}
    assert shown["Account number"] == "000123456789" and shown["Routing number"] == "021000021"
    assert "IBAN" not in shown and any("100.00 USD" in s for s in body["steps"])


async def test_an_application_without_bank_details_cannot_give_transfer_instructions(
    make_merchant: MakeMerchant,
) -> None:
    # production's default application offers bank_transfer before any bank details exist
    production = await make_merchant(environment="production")
    payment = await production.create_payment()
    error = error_of(await instructions(production, payment["id"]), 422, "validation_error")
    assert (error["param"], error["code"]) == ("method", "unsupported_method")
    assert "bank details" in error["message"]


async def test_an_application_that_does_not_offer_bank_transfer_is_422(merchant: Merchant) -> None:
    payment = await merchant.create_payment()  # the sandbox default application: sandbox only
    error = error_of(await instructions(merchant, payment["id"]), 422, "validation_error")
    assert "does not offer bank_transfer" in error["message"]


async def test_a_settled_payment_has_no_instructions_left(merchant: Merchant) -> None:
    client_id = await bank_application(merchant, "bank_transfer", "sandbox")
    payment = await new_payment(merchant, client_id)
    simulated = await merchant.http.post(
        f"/api/sandbox/payment/{payment['id']}/simulate",
        json={"outcome": "paid"},
        headers=await merchant.headers(),
    )
    assert simulated.status_code == 200
    error_of(await instructions(merchant, payment["id"]), 409, "invalid_state")


async def test_bank_details_never_reach_another_account(
    merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id)
    other = await make_merchant()
    error_of(await instructions(other, payment["id"]), 404, "not_found")
