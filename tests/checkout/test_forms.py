"""The checkout's forms: the payer pays in the sandbox or cancels and is sent (303) to
the stored redirect URL with ``payment_request_id``, ``status`` and ``reference_id``;
every form needs its CSRF token; nothing in the request changes where the payer goes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from payreq.services import Services
from tests.checkout.conftest import Form, open_page, submit
from tests.fixtures.factories import Merchant
from tests.method.conftest import (
    bank_application,
    event_types,
    import_statement,
    new_payment,
    status_of,
    transfer_reference,
)

MakeMerchant = Callable[..., Awaitable[Merchant]]


async def forms(merchant: Merchant, payment_id: str, query: str = "") -> tuple[Form, Form]:
    answer, page = await open_page(merchant.http, payment_id + query)
    assert answer.status_code == 200, answer.text
    return page.form("/pay/sandbox"), page.form("/cancel")


def query_of(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("button", "status"), [("paid", "paid"), ("cancelled", "cancelled"), ("expired", "expired")]
)
async def test_a_sandbox_button_settles_and_sends_the_payer_back_with_the_status(
    merchant: Merchant, services: Services, button: str, status: str
) -> None:
    payment = await merchant.create_payment(
        reference_id="ORDER-1", redirect_url="https://shop.example/return?cart=7"
    )
    sandbox, _ = await forms(merchant, payment["id"])
    answer = await submit(merchant.http, sandbox, button=button)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("https://shop.example/return?")
    assert query_of(location) == [
        ("cart", "7"),
        ("payment_request_id", payment["id"]),
        ("status", status),
        ("reference_id", "ORDER-1"),
    ]
    assert await status_of(merchant, payment["id"]) == status
    assert await event_types(services, payment["id"]) == ["payment.created", f"payment.{status}"]


async def test_cancel_sends_the_payer_back_cancelled_without_a_reference_when_none_was_set(
    merchant: Merchant,
) -> None:
    payment = await merchant.create_payment(redirect_url="https://shop.example/r#top")
    _, cancel = await forms(merchant, payment["id"])
    answer = await submit(merchant.http, cancel)
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == f"https://shop.example/r?payment_request_id={payment['id']}&status=cancelled#top"
    )
    assert await status_of(merchant, payment["id"]) == "cancelled"


async def test_the_merchants_own_parameters_of_our_names_are_replaced_not_repeated(
    merchant: Merchant,
) -> None:
    payment = await merchant.create_payment(
        redirect_url="https://shop.example/r?status=x&keep=1&payment_request_id=y&keep=2",
        reference_id="R 1&2",
    )
    sandbox, _ = await forms(merchant, payment["id"])
    location = (await submit(merchant.http, sandbox, button="paid")).headers["location"]
    assert query_of(location) == [
        ("keep", "1"),
        ("keep", "2"),
        ("payment_request_id", payment["id"]),
        ("status", "paid"),
        ("reference_id", "R 1&2"),
    ]


INJECTED = (
    "?redirect=https://evil.example/&return_to=//evil.example&redirect_url=https://evil.example&next=//evil"
)


async def test_injected_redirect_parameters_never_change_where_the_payer_goes(merchant: Merchant) -> None:
    payment = await merchant.create_payment(redirect_url="https://shop.example/thanks")
    sandbox, cancel = await forms(merchant, payment["id"], INJECTED)
    assert "evil" not in sandbox.action + cancel.action
    answer = await merchant.http.post(
        sandbox.action + INJECTED,
        data={**sandbox.fields, "action": "paid", "redirect": "https://evil.example", "return_to": "//evil"},
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert urlsplit(location).netloc == "shop.example" and "evil" not in location
    _, page = await open_page(merchant.http, payment["id"] + INJECTED)
    assert page.links == [location]


async def test_a_second_submission_lands_where_the_first_did_and_pays_once(
    merchant: Merchant, services: Services
) -> None:
    payment = await merchant.create_payment()
    sandbox, cancel = await forms(merchant, payment["id"])
    first, second, third = await asyncio.gather(
        submit(merchant.http, sandbox, button="paid"),
        submit(merchant.http, sandbox, button="paid"),
        submit(merchant.http, cancel),
    )
    locations = {r.headers["location"] for r in (first, second, third)}
    assert [r.status_code for r in (first, second, third)] == [303, 303, 303]
    statuses = {dict(query_of(location))["status"] for location in locations}
    assert len(statuses) == 1  # whoever won, everyone is sent to the same outcome
    (status,) = statuses
    assert await event_types(services, payment["id"]) == ["payment.created", f"payment.{status}"]


async def test_forms_without_a_valid_csrf_token_are_refused_and_change_nothing(
    merchant: Merchant, services: Services
) -> None:
    payment = await merchant.create_payment()
    other = await merchant.create_payment()
    sandbox, cancel = await forms(merchant, payment["id"])
    other_sandbox, other_cancel = await forms(merchant, other["id"])
    token = sandbox.fields["csrf"]
    nonce, mac = token.split(".")
    bad_tokens = {
        "missing": None,
        "empty": "",
        "garbage": "abc",
        "another payment's": other_sandbox.fields["csrf"],
        "another form's": cancel.fields["csrf"],
        "a forged mac": f"{nonce}.{mac[:-2]}AA",
        "another nonce": f"AAAA{nonce[4:]}.{mac}",
    }
    for name, bad in bad_tokens.items():
        data = {"action": "paid"} if bad is None else {"action": "paid", "csrf": bad}
        answer = await merchant.http.post(sandbox.action, data=data)
        assert answer.status_code == 403, name
        assert answer.headers["content-type"].startswith("text/html"), name
        assert "refused" in answer.text
        assert answer.headers["cache-control"] == "no-store"
    for bad in (None, sandbox.fields["csrf"], other_cancel.fields["csrf"]):
        data = {} if bad is None else {"csrf": bad}
        assert (await merchant.http.post(cancel.action, data=data)).status_code == 403
    assert await status_of(merchant, payment["id"]) == "pending"
    assert await event_types(services, payment["id"]) == ["payment.created"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_a_form_sent_from_another_site_is_refused_even_with_a_valid_token(
    merchant: Merchant, headers: dict[str, str]
) -> None:
    payment = await merchant.create_payment()
    sandbox, _ = await forms(merchant, payment["id"])
    answer = await merchant.http.post(
        sandbox.action, data={**sandbox.fields, "action": "paid"}, headers=headers
    )
    assert answer.status_code == 403
    assert await status_of(merchant, payment["id"]) == "pending"


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, {"Origin": "null"}],
)
async def test_a_form_from_this_page_is_accepted(merchant: Merchant, headers: dict[str, str]) -> None:
    """Under ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` with a form."""
    payment = await merchant.create_payment()
    sandbox, _ = await forms(merchant, payment["id"])
    answer = await merchant.http.post(
        sandbox.action, data={**sandbox.fields, "action": "paid"}, headers=headers
    )
    assert answer.status_code == 303


async def test_a_method_the_application_does_not_offer_cannot_be_used(make_merchant: MakeMerchant) -> None:
    production = await make_merchant(environment="production")
    payment = await production.create_payment()
    _, page = await open_page(production.http, payment["id"])
    assert [f.action for f in page.forms] == [f"/checkout/{payment['id']}/cancel"]
    # a sandbox form's token for this payment cannot be had, and a made-up one is refused
    answer = await production.http.post(
        f"/checkout/{payment['id']}/pay/sandbox", data={"action": "paid", "csrf": "x.y"}
    )
    assert answer.status_code == 403
    assert await status_of(production, payment["id"]) == "pending"


async def test_an_unknown_action_is_refused(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    sandbox, _ = await forms(merchant, payment["id"])
    answer = await submit(merchant.http, sandbox, action="refund")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert await status_of(merchant, payment["id"]) == "pending"


async def test_a_form_for_a_settled_payment_sends_the_payer_back_with_its_status(merchant: Merchant) -> None:
    payment = await merchant.create_payment(redirect_url="https://shop.example/r")
    sandbox, cancel = await forms(merchant, payment["id"])
    assert (await submit(merchant.http, cancel)).status_code == 303
    again = await submit(merchant.http, sandbox, button="paid")
    assert again.status_code == 303
    assert dict(query_of(again.headers["location"]))["status"] == "cancelled"


async def test_a_matched_bank_transfer_moves_the_page_on(merchant: Merchant) -> None:
    client_id = await bank_application(merchant)
    payment = await new_payment(merchant, client_id, 2500, "EUR")
    reference = await transfer_reference(merchant, payment["id"])
    status_url = f"/checkout/{payment['id']}/status"
    assert (await merchant.http.get(status_url)).json() == {"status": "pending"}
    body = f"id,amount,currency,reference\nP-1,25.00,EUR,{reference}\n".encode()
    assert (await import_statement(merchant, body)).status_code == 201
    assert (await merchant.http.get(status_url)).json() == {"status": "paid"}
    _, page = await open_page(merchant.http, payment["id"])
    assert "Payment received" in page.text


async def test_forms_are_post_only(http: httpx.AsyncClient, merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    answer = await http.get(f"/checkout/{payment['id']}/cancel")
    assert answer.status_code == 405
    assert await status_of(merchant, payment["id"]) == "pending"


async def test_a_form_with_more_fields_than_any_checkout_form_is_a_400_page(merchant: Merchant) -> None:
    payment = await merchant.create_payment()
    sandbox, _ = await forms(merchant, payment["id"])
    extra = {f"f{i}": "x" for i in range(11)}
    answer = await submit(merchant.http, sandbox, button="paid", **extra)
    assert answer.status_code == 400
    assert "text/html" in answer.headers["content-type"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert await status_of(merchant, payment["id"]) == "pending"


async def test_checkout_forms_are_limited_per_address_and_per_payment(
    services: Services, merchant: Merchant
) -> None:
    from litestar import Litestar

    from payreq.app import create_app

    limited = services.settings.model_copy(
        update={"checkout_form_rate_limit": 4, "checkout_payment_rate_limit": 2}
    )
    app: Litestar = create_app(limited, db=services.db, clock=services.clock, run_worker=False)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=str(merchant.http.base_url))

    payments = [await merchant.create_payment() for _ in range(3)]
    async with client("203.0.113.9") as payer, client("198.51.100.4") as other:
        cancel_forms = []
        for payment in payments:
            _, cancel = await forms(merchant, payment["id"])
            cancel_forms.append(cancel)
        # per payment: a third post of one payment within a second is refused, from anywhere
        first = await submit(payer, cancel_forms[0], csrf="wrong")
        second = await submit(other, cancel_forms[0], csrf="wrong")
        third = await submit(payer, cancel_forms[0])
        assert [first.status_code, second.status_code, third.status_code] == [403, 403, 429]
        assert int(third.headers["retry-after"]) >= 1
        assert "Too many attempts" in third.text
        assert await status_of(merchant, payments[0]["id"]) == "pending"
        # per address: this payer's fifth post within the second is refused (a refused
        # post spends nothing: the payer has spent one so far)...
        statuses = [(await submit(payer, form, csrf="wrong")).status_code for form in cancel_forms[1:2] * 2]
        statuses.append((await submit(payer, cancel_forms[2], csrf="wrong")).status_code)
        statuses.append((await submit(payer, cancel_forms[2], csrf="wrong")).status_code)
        assert statuses == [403, 403, 403, 429]
        # ... while another address may still pay its own
        assert (await submit(other, cancel_forms[2])).status_code == 303
        assert await status_of(merchant, payments[2]["id"]) == "cancelled"


async def test_only_the_spelling_of_the_id_payreq_gave_is_a_checkout_page(merchant: Merchant) -> None:
    """Every other spelling of the same UUID is 404, forms included: each would have
    had its own per-payment form budget."""
    payment = await merchant.create_payment()
    id_ = payment["id"]
    _, cancel = await forms(merchant, id_)
    for spelling in (id_.upper(), id_.replace("-", ""), f"urn:uuid:{id_}", f"{{{id_}}}"):
        assert (await merchant.http.get(f"/checkout/{spelling}")).status_code == 404, spelling
        assert (await merchant.http.get(f"/checkout/{spelling}/status")).status_code == 404, spelling
        moved = Form(cancel.action.replace(id_, spelling), cancel.method, cancel.fields, cancel.buttons)
        assert (await submit(merchant.http, moved)).status_code == 404, spelling
    assert await status_of(merchant, id_) == "pending"
    assert (await merchant.http.get(f"/checkout/{id_}")).status_code == 200


async def test_a_redirect_url_outside_latin_1_is_normalised_and_the_payer_gets_back(
    merchant: Merchant,
) -> None:
    """IDNA host and UTF-8 percent-encoding when the payment is created; the payer's
    return (after the payment changed state) is a 303, never a 500."""
    payment = await merchant.create_payment(redirect_url="https://bücher.example/danke/感谢?für=€#oben")
    assert payment["redirect_url"] == (
        "https://xn--bcher-kva.example/danke/%E6%84%9F%E8%B0%A2?f%C3%BCr=%E2%82%AC#oben"
    )
    answer, _ = await open_page(merchant.http, payment["id"])
    assert "form-action 'self' https://xn--bcher-kva.example;" in answer.headers["content-security-policy"]
    sandbox, _ = await forms(merchant, payment["id"])
    back = await submit(merchant.http, sandbox, button="paid")
    assert back.status_code == 303
    assert back.headers["location"].startswith("https://xn--bcher-kva.example/danke/%E6%84%9F%E8%B0%A2?")
    assert await status_of(merchant, payment["id"]) == "paid"


async def test_a_redirect_url_with_an_unencodable_host_is_422(merchant: Merchant) -> None:
    answer = await merchant.http.post(
        "/payment/request",
        json={"amount": "1000", "currency": "USD", "redirect_url": "https://xn--a.example/back"},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["param"] == "redirect_url"
