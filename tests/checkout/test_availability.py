"""A checkout whose account is closed or whose application is archived is shut: the
page, its status and its forms answer the 410 page ("no longer available") and change
nothing; over the API, instructions and a simulated outcome answer 409
``application_archived``. The payment itself stays readable for the merchant."""

from __future__ import annotations

import httpx
from litestar import Litestar

from payreq.services import Services
from tests.checkout.conftest import open_page, read_page, submit
from tests.dashboard.conftest import DashboardClient, new_client
from tests.fixtures.factories import PASSWORD, Merchant
from tests.method.conftest import bank_application, event_types, instructions, new_payment, status_of
from tests.payment.conftest import error_of, stored

UNAVAILABLE = "This payment request is no longer available"
EXPLANATION = (
    "This checkout link has been closed: the payment can no longer be made or cancelled here. "
    "If you have already paid or sent a bank transfer, contact the merchant directly."
)


def assert_unavailable(answer: httpx.Response) -> None:
    """The payer's 410 page: honest, with no amount, no button and no way to pay."""
    assert answer.status_code == 410, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page = read_page(answer.text)
    assert f"<title>{UNAVAILABLE}</title>" in answer.text
    assert UNAVAILABLE in page.text and EXPLANATION in page.text
    assert page.forms == [] and page.links == []
    assert "€" not in page.text and "Example Shop GmbH" not in page.text and "IBAN" not in page.text


async def archive(merchant: Merchant, client_id: str) -> None:
    deleted = await merchant.http.delete(
        f"/api/payment-applications/{client_id}", headers=await merchant.headers()
    )
    assert deleted.status_code == 204, deleted.text


async def test_an_archived_applications_checkout_is_a_410_page_and_its_forms_change_nothing(
    merchant: Merchant, services: Services
) -> None:
    client_id = await bank_application(merchant, "sandbox", "bank_transfer", name="Old shop")
    payment = await new_payment(merchant, client_id, 12500, "EUR")
    opened, page = await open_page(merchant.http, payment["id"])
    assert opened.status_code == 200 and "Old shop" in page.text
    pay, cancel = page.form("/pay/sandbox"), page.form("/cancel")
    await archive(merchant, client_id)

    assert_unavailable((await open_page(merchant.http, payment["id"]))[0])
    assert (await merchant.http.get(f"/checkout/{payment['id']}/status")).status_code == 410
    # forms the payer still holds (valid CSRF tokens) are refused, for every button
    for outcome in ("paid", "cancelled", "expired"):
        assert_unavailable(await submit(merchant.http, pay, button=outcome))
    assert_unavailable(await submit(merchant.http, cancel))
    # the merchant's API: no instructions and no simulated outcome any more
    refused = error_of(await instructions(merchant, payment["id"]), 409, "invalid_state")
    assert refused["code"] == "application_archived"
    assert refused["message"] == "This payment's application is archived: the payment can no longer be paid."
    for outcome in ("paid", "cancelled", "expired"):
        simulated = await merchant.http.post(
            f"/api/sandbox/payment/{payment['id']}/simulate",
            json={"outcome": outcome},
            headers=await merchant.headers(),
        )
        assert error_of(simulated, 409, "invalid_state")["code"] == "application_archived"
    # nothing changed: still pending, still readable, no event but its creation
    assert await status_of(merchant, payment["id"]) == "pending"
    assert (await stored(services, payment["id"]))["status"] == "pending"
    assert await event_types(services, payment["id"]) == ["payment.created"]


async def test_a_settled_or_overdue_payment_of_an_archived_application_is_shut_too(
    merchant: Merchant, services: Services, clock: object
) -> None:
    client_id = await bank_application(merchant, "sandbox", "bank_transfer")
    paid = await new_payment(merchant, client_id)
    simulated = await merchant.http.post(
        f"/api/sandbox/payment/{paid['id']}/simulate",
        json={"outcome": "paid"},
        headers=await merchant.headers(),
    )
    assert simulated.status_code == 200
    overdue = await new_payment(merchant, client_id, expiresIn=60)
    await archive(merchant, client_id)
    clock.advance(61)  # type: ignore[attr-defined]
    assert_unavailable((await open_page(merchant.http, paid["id"]))[0])
    assert_unavailable((await open_page(merchant.http, overdue["id"]))[0])
    # the shut page writes nothing; the merchant's own read still expires it as before
    assert (await stored(services, overdue["id"]))["status"] == "pending"
    assert await status_of(merchant, overdue["id"]) == "expired"


async def test_a_payment_cannot_be_created_for_an_archived_application(merchant: Merchant) -> None:
    client_id = await bank_application(merchant, "sandbox")
    await archive(merchant, client_id)
    created = await merchant.http.post(
        "/api/payment/checkout",
        json={
            "amount": 100,
            "currencyCode": "EUR",
            "reference": "R",
            "referenceLabel": "R",
            "clientId": client_id,
        },
        headers=await merchant.headers(),
    )
    assert error_of(created, 404, "not_found")["message"] == "No such payment application."


async def close_account(app_client: DashboardClient, merchant: Merchant) -> None:
    """The owner signs in to the dashboard and closes the account, as a person would."""
    signed = await app_client.post(
        "/dashboard/login",
        {"email": merchant.credentials.dashboard_email, "password": PASSWORD},
        csrf_from="/dashboard/login",
    )
    assert signed.status_code == 303, signed.text[:300]
    closed = await app_client.post(
        "/dashboard/team/close", {"confirm_name": "Demo merchant"}, csrf_from="/dashboard/team"
    )
    assert closed.status_code == 303, closed.text[:300]


async def test_a_closed_accounts_checkout_is_a_410_page_and_its_forms_change_nothing(
    merchant: Merchant, services: Services, app: Litestar
) -> None:
    payment = await merchant.create_payment()
    opened, page = await open_page(merchant.http, payment["id"])
    assert opened.status_code == 200 and "Demo merchant" in page.text
    pay, cancel = page.form("/pay/sandbox"), page.form("/cancel")
    async with new_client(app) as browser:  # the owner's own browser, with its cookies
        await close_account(DashboardClient(browser), merchant)

    assert_unavailable((await open_page(merchant.http, payment["id"]))[0])
    assert (await merchant.http.get(f"/checkout/{payment['id']}/status")).status_code == 410
    assert_unavailable(await submit(merchant.http, pay, button="paid"))
    assert_unavailable(await submit(merchant.http, cancel))
    # the closed account's credentials are refused before any payment is reached
    refused = await merchant.http.post(
        f"/api/sandbox/payment/{payment['id']}/simulate",
        json={"outcome": "paid"},
        headers={"Authorization": f"Bearer {merchant.credentials.client_token}"},
    )
    error_of(refused, 401, "authentication_error")
    assert (await stored(services, payment["id"]))["status"] == "pending"
    assert await event_types(services, payment["id"]) == ["payment.created"]
