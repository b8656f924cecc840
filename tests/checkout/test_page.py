"""``GET /checkout/{id}``: what the payer sees. Merchant and application, the amount in
the currency's minor unit and the payer's locale, the reference label, time left, the
methods the application offers there, a cancel button; nothing of the merchant's
settings or other payments; no external asset; an HTML 404 for unknown ids."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from payreq.method import creditor_reference
from payreq.services import Services
from tests.application.conftest import new_application, new_token
from tests.checkout.conftest import open_page, read_page
from tests.fixtures.factories import Merchant
from tests.method.conftest import (
    REDIRECT,
    bank_application,
    event_types,
    instructions,
    new_payment,
    transfer_reference,
)
from tests.payment.conftest import stored

MakeMerchant = Callable[..., Awaitable[Merchant]]
NBSP = "\u00a0"


async def test_the_page_shows_who_is_paid_how_much_for_what_and_how(merchant: Merchant) -> None:
    client_id = await bank_application(merchant, "sandbox", "bank_transfer", name="Web shop")
    payment = await new_payment(merchant, client_id, 10000, "USD", referenceLabel="Order #123")
    answer, page = await open_page(merchant.http, payment["id"], **{"Accept-Language": "en-US,en;q=0.9"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "Demo merchant" in page.text and "Web shop" in page.text
    assert "$100.00" in page.text and "Order #123" in page.text
    assert re.search(r"Time left: 23 hours 59 minutes", page.text)
    assert "Sandbox" in page.text
    assert re.search(r"<title>Pay \$100\.00 to Demo merchant</title>", answer.text)
    headings = re.findall(r"<h2 [^>]*>([^<]+)</h2>", answer.text)
    assert headings == ["Sandbox test payment", "Bank transfer"]
    sandbox = page.form(f"/checkout/{payment['id']}/pay/sandbox")
    assert sandbox.method == "post"
    assert [(value, label) for _, value, label in sandbox.buttons] == [
        ("paid", "Simulate a successful payment"),
        ("cancelled", "Simulate a cancelled payment"),
        ("expired", "Simulate an expired payment"),
    ]
    cancel = page.form(f"/checkout/{payment['id']}/cancel")
    assert [label for _, _, label in cancel.buttons] == ["Cancel payment and return to Demo merchant"]
    reference = await transfer_reference(merchant, payment["id"])
    assert creditor_reference.display_form(reference) in page.text
    assert "DE89 3704 0044 0532 0130 00" in page.text and "COBADEFFXXX" in page.text


@pytest.mark.parametrize(
    ("amount", "currency", "language", "shown"),
    [
        ("10000", "USD", "en-US", "$100.00"),
        ("500", "JPY", "en-US", "¥500"),
        ("500", "KWD", "en-US", f"KWD{NBSP}0.500"),
        ("500", "KWD", "de-DE", f"0,500{NBSP}KWD"),
        ("10000", "USD", "de-DE,de;q=0.9,en;q=0.8", f"100,00{NBSP}$"),
        ("12345", "EUR", "fr-FR", f"123,45{NBSP}€"),
        ("123456789", "INR", "en-IN", "₹12,34,567.89"),
        ("10000", "USD", "xx-invalid, *", "$100.00"),
    ],
)
async def test_the_amount_follows_the_currency_and_the_payers_language(
    merchant: Merchant, amount: str, currency: str, language: str, shown: str
) -> None:
    payment = await merchant.create_payment(amount=amount, currency=currency)
    answer, _ = await open_page(merchant.http, payment["id"], **{"Accept-Language": language})
    found = re.search(r'<span class="amount[^"]*" lang="([^"]+)">([^<]+)</span>', answer.text)
    assert found is not None
    assert found.group(2) == shown


async def test_only_the_methods_valid_for_the_environment_currency_and_settings_are_offered(
    make_merchant: MakeMerchant,
) -> None:
    production = await make_merchant(environment="production")
    # the default production application offers bank_transfer but has no bank details yet
    payment = await production.create_payment()
    answer, page = await open_page(production.http, payment["id"])
    assert answer.status_code == 200
    assert "No payment method available" in page.text
    assert "Sandbox" not in page.text
    assert [f.action.rsplit("/", 1)[-1] for f in page.forms] == ["cancel"]
    client_id = await bank_application(production, name="Shop")
    token = (await new_token(production, ["*"], client_id))["token"]
    created = await production.http.post(
        "/api/payment/checkout",
        json={
            "amount": 100,
            "currencyCode": "EUR",
            "reference": "R",
            "referenceLabel": "R",
            "clientId": client_id,
            "redirectUrl": "https://shop.example/r",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    _, page = await open_page(production.http, created.json()["id"])
    assert "Bank transfer" in page.text and "No payment method available" not in page.text
    assert [f.action.rsplit("/", 1)[-1] for f in page.forms] == ["cancel"]


async def test_the_page_shows_nothing_of_the_merchants_settings_or_other_payments(
    merchant: Merchant, services: Services
) -> None:
    app = await new_application(merchant, webhookUrl="https://shop.example/hooks", name="Shop")
    token = (await new_token(merchant, ["*"], app["clientId"]))["token"]
    other = await merchant.create_payment(reference_id="OTHER-1")
    payment = await merchant.create_payment(
        metadata={"internal_customer": "cust-secret-42"}, reference_id="INT-7"
    )
    answer, _ = await open_page(merchant.http, payment["id"])
    for secret in (
        app["webhookSecret"],
        token,
        merchant.credentials.client_secret,
        merchant.credentials.client_token,
        merchant.credentials.client_id,
        merchant.credentials.account_id,
        merchant.credentials.application_client_id,
        merchant.credentials.dashboard_email,
        "cust-secret-42",
        "internal_customer",
        "shop.example/hooks",
        other["id"],
        "OTHER-1",
    ):
        assert secret not in answer.text, secret


async def test_the_page_needs_no_external_asset_and_no_inline_script_or_style(merchant: Merchant) -> None:
    client_id = await bank_application(merchant, "sandbox", "bank_transfer")
    payment = await new_payment(merchant, client_id)
    answer, page = await open_page(merchant.http, payment["id"])
    assert sorted(a.split("?")[0] for a in page.assets) == [
        "/checkout/static/checkout.css",
        "/checkout/static/checkout.js",
        "/checkout/static/favicon.svg",
    ]
    assert page.inline_scripts == 0 and page.style_attributes == 0
    assert "<style" not in answer.text
    # links stay on the checkout, but for the way back to the merchant's own redirect URL
    assert all(link.startswith(("/checkout/", f"{REDIRECT}?")) for link in page.links), page.links
    for asset, media_type in zip(
        sorted(page.assets),
        ["text/css; charset=utf-8", "text/javascript; charset=utf-8", "image/svg+xml"],
        strict=True,
    ):
        served = await merchant.http.get(asset)
        assert served.status_code == 200
        assert served.headers["content-type"] == media_type  # one charset, not two
        assert served.headers["x-content-type-options"] == "nosniff"
        fetched = re.sub(r'xmlns="[^"]*"', "", served.text)  # a namespace name, never fetched
        assert not re.search(r"https?://|//[a-z]|@import|url\(", fetched), asset
    assert (await merchant.http.get("/checkout/static/../../config.py")).status_code == 404
    assert (await merchant.http.get("/checkout/static/other.js")).status_code == 404


@pytest.mark.parametrize("payment_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_an_unknown_checkout_is_an_html_404_page(http: httpx.AsyncClient, payment_id: str) -> None:
    answer = await http.get(f"/checkout/{payment_id}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Payment request not found" in read_page(answer.text).text
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    status = await http.get(f"/checkout/{payment_id}/status")
    assert status.status_code == 404


@pytest.mark.parametrize("path", ["/checkout", "/checkout/", "/checkout/a/b/c", "/checkout/x/status/more"])
async def test_an_unknown_checkout_path_is_an_html_page_too(http: httpx.AsyncClient, path: str) -> None:
    """A payer who mistypes or truncates a checkout link reads a page, not JSON."""
    answer = await http.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Payment request not found" in read_page(answer.text).text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


async def test_a_wrong_method_on_the_checkout_is_an_html_405_with_allow(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    answer = await merchant.http.delete(f"/checkout/{payment['id']}")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
    assert "GET" in answer.headers["allow"]


async def test_the_status_endpoint_says_only_the_status(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    answer = await merchant.http.get(f"/checkout/{payment['id']}/status")
    assert answer.status_code == 200
    assert answer.json() == {"status": "pending"}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("outcome", "headline"),
    [
        ("paid", "Payment received"),
        ("cancelled", "Payment cancelled"),
        ("expired", "Payment request expired"),
    ],
)
async def test_a_settled_payment_shows_its_state_and_the_way_back(
    merchant: Merchant, outcome: str, headline: str
) -> None:
    payment = await merchant.create_payment(
        reference_id="ORDER-5", redirect_url="https://shop.example/back?cart=9"
    )
    simulated = await merchant.http.post(
        f"/api/sandbox/payment/{payment['id']}/simulate",
        json={"outcome": outcome},
        headers=await merchant.headers(),
    )
    assert simulated.status_code == 200
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    assert headline in page.text and "Return to Demo merchant" in page.text
    assert page.forms == []
    assert page.links == [
        f"https://shop.example/back?cart=9&payment_request_id={payment['id']}&status={outcome}&reference_id=ORDER-5"
    ]
    assert (await merchant.http.get(f"/checkout/{payment['id']}/status")).json() == {"status": outcome}


async def test_a_payment_past_its_deadline_shows_expired_and_is_persisted_once(
    merchant: Merchant, services: Services, clock: object
) -> None:
    payment = await merchant.create_payment(expires_in=60)
    clock.advance(61)  # type: ignore[attr-defined]
    for _ in range(2):
        _, page = await open_page(merchant.http, payment["id"])
        assert "Payment request expired" in page.text
    assert (await stored(services, payment["id"]))["status"] == "expired"
    assert await event_types(services, payment["id"]) == ["payment.created", "payment.expired"]


async def test_time_left_counts_down(merchant: Merchant, clock: object) -> None:
    payment = await merchant.create_payment(expires_in=2 * 86400 + 3 * 3600 + 30)
    _, page = await open_page(merchant.http, payment["id"])
    assert "Time left: 2 days 3 hours" in page.text
    clock.advance(2 * 86400 + 3 * 3600)  # type: ignore[attr-defined]
    _, page = await open_page(merchant.http, payment["id"])
    assert "Time left: less than a minute" in page.text


async def test_merchant_supplied_text_is_escaped(merchant: Merchant) -> None:
    attack = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"
    client_id = await bank_application(merchant, "sandbox", "bank_transfer", name=f"Shop {attack}")
    payment = await new_payment(merchant, client_id, referenceLabel=f"Order {attack}", reference=attack)
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and "<img src=x" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert page.inline_scripts == 0
    assert f"Order {attack}" in page.text


SENT = "I've sent the transfer: return to Demo merchant"


async def test_returning_after_sending_a_bank_transfer_leaves_the_payment_pending(
    merchant: Merchant, services: Services
) -> None:
    """The only way back used to be the cancel button: a payer who had sent the transfer
    cancelled the payment, and their money then met a cancelled request."""
    client_id = await bank_application(merchant, "bank_transfer")
    payment = await new_payment(merchant, client_id, redirectUrl="https://shop.example/back?cart=9")
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    sent = re.search(r'<a class="button secondary" href="([^"]+)">([^<]+)</a>', answer.text)
    assert sent is not None and sent.group(2) == SENT
    assert sent.group(1).replace("&amp;", "&") == (
        f"https://shop.example/back?cart=9&payment_request_id={payment['id']}&status=pending"
        f"&reference_id={payment['reference']}"
    )
    assert "returning does not cancel it" in page.text
    assert (
        "Already sent the bank transfer? Do not cancel: a transfer to a cancelled request is not applied."
        in (page.text)
    )
    # a plain link out: no form posts to the cancel path for it, and nothing changes
    assert [f.action.rsplit("/", 1)[-1] for f in page.forms] == ["cancel"]
    assert "/cancel" not in sent.group(1)
    assert (await stored(services, payment["id"]))["status"] == "pending"
    assert await event_types(services, payment["id"]) == ["payment.created"]


async def test_a_sandbox_only_page_has_no_transfer_link(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    assert "I've sent the transfer" not in page.text and "Already sent" not in page.text


NO_MONEY = {
    "cancelled": "This payment request was cancelled, so it can no longer be paid. No money was taken.",
    "expired": "This payment request expired before it was paid, so it can no longer be paid. No money was taken.",
}
TRANSFER = {
    "cancelled": (
        "This payment request was cancelled, so it can no longer be paid. If you already sent a bank "
        "transfer for it, contact Demo merchant: it is not applied to a cancelled request by itself, and "
        "Demo merchant decides whether to accept or refund it."
    ),
    "expired": (
        "This payment request expired before Demo merchant received a payment, so it can no longer be "
        "paid. If you sent a bank transfer on or before the day it expired, it still counts: it is "
        "matched when Demo merchant's bank statement arrives, and this page then shows the payment as "
        "received. If you sent it later, contact Demo merchant."
    ),
}


@pytest.mark.parametrize("outcome", ["cancelled", "expired"])
async def test_cancelled_and_expired_say_no_money_was_taken_where_none_could_be(
    merchant: Merchant, outcome: str
) -> None:
    """In the sandbox (and where no transfer was offered) nothing can have been paid."""
    client_id = await bank_application(merchant, "sandbox", "bank_transfer")
    payment = await new_payment(merchant, client_id)
    simulated = await merchant.http.post(
        f"/api/sandbox/payment/{payment['id']}/simulate",
        json={"outcome": outcome},
        headers=await merchant.headers(),
    )
    assert simulated.status_code == 200
    _, page = await open_page(merchant.http, payment["id"])
    assert NO_MONEY[outcome] in page.text
    assert "contact" not in page.text


@pytest.mark.parametrize("outcome", ["cancelled", "expired"])
async def test_a_production_bank_transfer_that_ended_does_not_claim_no_money_moved(
    make_merchant: MakeMerchant, clock: object, outcome: str
) -> None:
    production = await make_merchant(environment="production")
    client_id = await bank_application(production)
    payment = await new_payment(production, client_id, expiresIn=60)
    if outcome == "cancelled":
        cancelled = await production.http.post(
            f"/payment/request/{payment['id']}/cancel", headers=await production.headers()
        )
        assert cancelled.status_code == 200, cancelled.text
    else:
        clock.advance(61)  # type: ignore[attr-defined]
    _, page = await open_page(production.http, payment["id"])
    assert TRANSFER[outcome] in page.text
    assert "No money was taken" not in page.text


async def test_the_iban_is_printed_in_groups_of_four_and_copied_without_spaces(merchant: Merchant) -> None:
    """ISO 13616's print format wherever the payer reads the IBAN (the first step and the
    details), the electronic format (no spaces) for the copy button and the API."""
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 12500, "EUR")
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    assert "to Example Shop GmbH, IBAN DE89 3704 0044 0532 0130 00." in page.text
    assert "DE89370400440532013000" not in page.text
    copied = dict(re.findall(r'data-copy="([^"]+)" data-copy-value="([^"]+)"', answer.text))
    labels = dict(re.findall(r'<dt id="([^"]+)-label">([^<]+)</dt>', answer.text))
    by_label = {labels[detail_id]: value for detail_id, value in copied.items()}
    reference = await transfer_reference(merchant, payment["id"])
    assert by_label == {"IBAN": "DE89370400440532013000", "Transfer reference": reference}
    body = (await instructions(merchant, payment["id"])).json()
    assert body["bankDetails"]["iban"] == "DE89370400440532013000"
    assert (
        body["steps"][0] == "Send exactly 125.00 EUR to Example Shop GmbH, IBAN DE89 3704 0044 0532 0130 00."
    )


HIDDEN = "\u202e\u2066\u200b\n\x1b"
"""Characters the display-text rule refuses: written straight into old rows below."""


async def test_names_stored_before_the_display_rule_show_a_replacement_character(
    merchant: Merchant, services: Services
) -> None:
    """Rows written before ``check_display_text`` existed may hold bidi overrides and
    control characters: the page shows each as U+FFFD (the templates' ``visible``
    filter), so none can reorder or hide what the payer reads."""
    client_id = await bank_application(merchant, name="Books")
    payment = await new_payment(merchant, client_id, 12500, "EUR")
    async with services.db.transaction() as conn:
        row = await conn.fetch_one(
            "SELECT bank_details FROM applications WHERE client_id = :c", {"c": client_id}
        )
        assert row is not None
        bank = json.loads(row["bank_details"])
        holder = next(k for k, v in bank.items() if v == "Example Shop GmbH")
        bank[holder] = "Example\nShop\u200bGmbH"
        await conn.execute(
            "UPDATE applications SET name = :name, bank_details = :bank WHERE client_id = :c",
            {"name": "Books \u202enoino", "bank": json.dumps(bank), "c": client_id},
        )
        await conn.execute(
            "UPDATE payments SET reference_label = :label WHERE id = :id",
            {"label": "Order\x1b[2J #7", "id": uuid.UUID(payment["id"])},
        )
        await conn.execute(
            "UPDATE accounts SET name = :name WHERE id = :id",
            {"name": "Demo\u2066merchant", "id": uuid.UUID(merchant.credentials.account_id)},
        )
    answer, page = await open_page(merchant.http, payment["id"])
    assert answer.status_code == 200
    body = answer.text.split("<body", 1)[1]
    assert not any(ch in body.replace("\n", "") for ch in HIDDEN) and "Shop\nGmbH" not in body
    for shown in (
        "Books \ufffdnoino",
        "Example\ufffdShop\ufffdGmbH",
        "Order\ufffd[2J #7",
        "Demo\ufffdmerchant",
    ):
        assert shown in page.text, shown
    assert "to Example\ufffdShop\ufffdGmbH, IBAN" in page.text  # the first step too
    assert "<title>Pay €125.00 to Demo\ufffdmerchant</title>" in answer.text
