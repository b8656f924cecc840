"""Contract B's payment routes (SPEC §3): ``POST /api/payment/checkout``,
``GET /api/payment/{id}``, ``GET /api/payment/{id}/instructions`` and ``GET /api/payments``,
over the same payment service as contract A."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from payreq.services import Services
from tests.application.conftest import (
    CHECKOUT,
    REDIRECT,
    bearer,
    checkout,
    checkout_ok,
    default_client_id,
    new_application,
    new_token,
)
from tests.conftest import MovableClock
from tests.fixtures.factories import Merchant, second_key
from tests.fixtures.paging import walk
from tests.payment.conftest import error_of, event_types, pay, without_request_id

MakeMerchant = Callable[..., Awaitable[Merchant]]
PAYMENT_B_KEYS = {
    "id",
    "status",
    "amount",
    "currencyCode",
    "reference",
    "referenceLabel",
    "clientId",
    "checkoutUrl",
    "redirectUrl",
    "environment",
    "createdAt",
    "expiresAt",
    "paidAt",
    "cancelledAt",
    "expiredAt",
    "metadata",
}


# -- checkout -----------------------------------------------------------------------


# seeds/api-authentication.txt, "Creating a Payment (Client Token)", byte for byte but
# for the placeholder: it names no redirectUrl
SEEDS_CHECKOUT = """{
    "amount": 10000,
    "currencyCode": "USD",
    "reference": "ORDER-123",
    "referenceLabel": "Order #123",
    "clientId": "your_client_id"
  }"""


async def test_the_seeds_literal_checkout_body_answers_422_until_the_application_has_a_redirect_url(
    merchant: Merchant, http: httpx.AsyncClient, services: Services
) -> None:
    """The README's contract-B section: redirectUrl falls back to the application's
    defaultRedirectUrl; with neither, 422 missing_redirect_url naming redirectUrl (the
    payer must have somewhere to return to). With a default, the seed's body is 201."""
    client_id = merchant.credentials.application_client_id
    content = SEEDS_CHECKOUT.replace("your_client_id", client_id).encode()
    headers = {
        "Authorization": f"Bearer {merchant.credentials.client_token}",
        "Content-Type": "application/json",
    }
    refused = await http.post("/api/payment/checkout", content=content, headers=headers)
    assert refused.status_code == 422, refused.text
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == (
        "missing_redirect_url",
        "redirectUrl",
    )

    patched = await http.patch(
        f"/api/payment-applications/{client_id}",
        json={"defaultRedirectUrl": REDIRECT},
        headers=await merchant.headers(),
    )
    assert patched.status_code == 200, patched.text
    answer = await http.post("/api/payment/checkout", content=content, headers=headers)
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert (payment["amount"], payment["currencyCode"], payment["reference"], payment["clientId"]) == (
        10000,
        "USD",
        "ORDER-123",
        client_id,
    )
    assert payment["redirectUrl"] == REDIRECT
    assert await event_types(services, payment["id"]) == ["payment.created"]


async def test_checkout_with_the_seeds_fields_and_a_redirect_url_answers_201_with_the_payment(
    merchant: Merchant, http: httpx.AsyncClient, services: Services
) -> None:
    client_id = merchant.credentials.application_client_id
    before = services.clock()
    answer = await checkout(http, merchant.credentials.client_token, client_id)
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert set(payment) == PAYMENT_B_KEYS
    assert payment["status"] == "pending"
    assert payment["amount"] == 10000
    assert payment["currencyCode"] == "USD"
    assert payment["reference"] == "ORDER-123"
    assert payment["referenceLabel"] == "Order #123"
    assert payment["clientId"] == client_id
    assert payment["redirectUrl"] == REDIRECT
    assert payment["environment"] == "sandbox"
    assert payment["checkoutUrl"] == f"http://testserver/checkout/{payment['id']}"
    assert payment["paidAt"] is payment["cancelledAt"] is payment["expiredAt"] is None
    created = datetime.fromisoformat(payment["createdAt"])
    assert before <= created <= services.clock()
    assert datetime.fromisoformat(payment["expiresAt"]) - created == timedelta(hours=24)
    assert await event_types(services, payment["id"]) == ["payment.created"]


async def test_checkout_accepts_the_amount_as_a_string_of_digits_and_metadata(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    payment = await checkout_ok(
        http,
        merchant.credentials.client_token,
        merchant.credentials.application_client_id,
        amount="250",
        currencyCode="jpy",
        expiresIn=600,
        metadata={"order": "42"},
    )
    assert payment["amount"] == 250
    assert payment["currencyCode"] == "JPY"
    assert payment["metadata"] == {"order": "42"}
    created, expires = (
        datetime.fromisoformat(payment["createdAt"]),
        datetime.fromisoformat(payment["expiresAt"]),
    )
    assert expires - created == timedelta(seconds=600)


async def test_an_access_token_may_name_any_application_of_its_account(merchant: Merchant) -> None:
    app = await new_application(merchant)
    payment = await checkout_ok(merchant.http, await merchant.token(), app["clientId"])
    assert payment["clientId"] == app["clientId"]


async def test_a_client_token_naming_another_application_is_403(
    merchant: Merchant, make_merchant: MakeMerchant, http: httpx.AsyncClient
) -> None:
    own = await new_application(merchant, name="X")
    sibling = await new_application(merchant, name="Y")
    token = (await new_token(merchant, ["payments.create"], own["clientId"]))["token"]
    other = await make_merchant()
    for client_id in (
        sibling["clientId"],
        merchant.credentials.application_client_id,
        other.credentials.application_client_id,
        "0" * 32,
    ):
        answer = await checkout(http, token, client_id)
        error = error_of(answer, 403, "permission_error")
        assert error["message"] == "Insufficient permissions"
    assert (await checkout(http, token, own["clientId"])).status_code == 201


@pytest.mark.parametrize("client_id", ["theirs", "unknown", "other-environment"])
async def test_an_access_token_naming_an_application_outside_its_account_and_environment_is_404(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services, client_id: str
) -> None:
    if client_id == "theirs":
        client_id = (await make_merchant()).credentials.application_client_id
    elif client_id == "unknown":
        client_id = "0" * 32
    else:
        client_id = await default_client_id(await second_key(services, merchant, "production"))
    answer = await checkout(merchant.http, await merchant.token(), client_id)
    error = error_of(answer, 404, "not_found")
    assert error["param"] == "clientId"
    assert error["message"] == "No such payment application."


FIELD_ERRORS: list[tuple[dict[str, Any], int, str]] = [
    ({"amount": -1}, 422, "amount"),
    ({"amount": 0}, 422, "amount"),
    ({"amount": 1.5}, 422, "amount"),
    ({"amount": "1e3"}, 422, "amount"),
    ({"amount": True}, 422, "amount"),
    ({"amount": 10**12 + 1}, 422, "amount"),
    ({"currencyCode": "XXX"}, 422, "currencyCode"),
    ({"currencyCode": 840}, 422, "currencyCode"),
    ({"redirectUrl": "http://shop.example/back"}, 422, "redirectUrl"),
    ({"redirectUrl": "https://user@shop.example/"}, 422, "redirectUrl"),
    ({"expiresIn": 59}, 422, "expiresIn"),
    ({"expiresIn": 2_592_001}, 422, "expiresIn"),
    ({"reference": ""}, 422, "reference"),
    ({"reference": "r" * 256}, 422, "reference"),
    ({"referenceLabel": "l" * 256}, 422, "referenceLabel"),
    ({"reference": "a\x00b"}, 422, "reference"),
    ({"clientId": "TOO-SHORT"}, 422, "clientId"),
    ({"metadata": {"k": 1}}, 422, "metadata"),
    ({"amount": None}, 422, "amount"),
]


@pytest.mark.parametrize(
    ("fields", "status", "param"), FIELD_ERRORS, ids=[f"{p}-{i}" for i, (_, _, p) in enumerate(FIELD_ERRORS)]
)
async def test_checkout_errors_name_the_contract_b_field(
    merchant: Merchant, http: httpx.AsyncClient, fields: dict[str, Any], status: int, param: str
) -> None:
    answer = await checkout(
        http, merchant.credentials.client_token, merchant.credentials.application_client_id, **fields
    )
    assert error_of(answer, status, "validation_error")["param"] == param


@pytest.mark.parametrize("missing", ["amount", "currencyCode", "reference", "referenceLabel", "clientId"])
async def test_checkout_without_a_required_field_is_400_naming_it(
    merchant: Merchant, http: httpx.AsyncClient, missing: str
) -> None:
    body = {**CHECKOUT, "clientId": merchant.credentials.application_client_id, "redirectUrl": REDIRECT}
    del body[missing]
    answer = await http.post(
        "/api/payment/checkout", json=body, headers=bearer(merchant.credentials.client_token)
    )
    assert error_of(answer, 400, "invalid_request")["param"] == missing


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b"\xff\xfe"])
async def test_checkout_body_that_is_not_a_json_object_is_400(
    merchant: Merchant, http: httpx.AsyncClient, body: bytes
) -> None:
    headers = {**bearer(merchant.credentials.client_token), "Content-Type": "application/json"}
    answer = await http.post("/api/payment/checkout", content=body, headers=headers)
    error_of(answer, 400, "invalid_request")


async def test_checkout_without_redirect_url_needs_the_applications_default(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    body = {**CHECKOUT, "clientId": merchant.credentials.application_client_id}
    answer = await http.post(
        "/api/payment/checkout", json=body, headers=bearer(merchant.credentials.client_token)
    )
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "redirectUrl"
    assert error["code"] == "missing_redirect_url"


# -- read ---------------------------------------------------------------------------


async def test_get_answers_the_payment_as_created(merchant: Merchant, http: httpx.AsyncClient) -> None:
    token = merchant.credentials.client_token
    created = await checkout_ok(http, token, merchant.credentials.application_client_id)
    answer = await http.get(f"/api/payment/{created['id']}", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json() == created


async def test_get_of_an_unknown_malformed_foreign_or_other_environment_payment_is_the_same_404(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    other = await make_merchant()
    theirs = await other.create_payment()
    production = await second_key(services, merchant, "production")
    in_production = await checkout_ok(
        merchant.http, await production.token(), await default_client_id(production)
    )
    mine_in_sandbox = await merchant.create_payment()

    bodies = []
    for credential in (await merchant.token(), merchant.credentials.client_token):
        for payment_id in (str(uuid.uuid4()), "abc", theirs["id"], in_production["id"]):
            answer = await merchant.http.get(f"/api/payment/{payment_id}", headers=bearer(credential))
            error_of(answer, 404, "not_found")
            bodies.append(without_request_id(answer))
    assert all(body == bodies[0] for body in bodies)
    # and the production credential does not see the sandbox payment of its own account
    answer = await merchant.http.get(
        f"/api/payment/{mine_in_sandbox['id']}", headers=await production.headers()
    )
    assert without_request_id(answer) == bodies[0]


async def test_a_payment_read_past_its_deadline_is_expired_and_recorded(
    merchant: Merchant, http: httpx.AsyncClient, services: Services, clock: MovableClock
) -> None:
    token = merchant.credentials.client_token
    created = await checkout_ok(http, token, merchant.credentials.application_client_id, expiresIn=60)
    clock.advance(61)
    answer = await http.get(f"/api/payment/{created['id']}", headers=bearer(token))
    payment = answer.json()
    assert payment["status"] == "expired"
    assert payment["expiredAt"] == created["expiresAt"]
    assert await event_types(services, created["id"]) == ["payment.created", "payment.expired"]


# -- one service, two faces --------------------------------------------------------


async def test_a_contract_a_payment_reads_on_contract_b(merchant: Merchant, http: httpx.AsyncClient) -> None:
    a = await merchant.create_payment(
        amount="1234", currency="eur", reference_id="order-7", metadata={"k": "v"}
    )
    for credential in (await merchant.token(), merchant.credentials.client_token):
        answer = await http.get(f"/api/payment/{a['id']}", headers=bearer(credential))
        assert answer.status_code == 200, answer.text
        b = answer.json()
        assert b["id"] == a["id"]
        assert b["amount"] == 1234
        assert b["currencyCode"] == a["currency"] == "EUR"
        assert b["reference"] == "order-7"
        assert b["referenceLabel"] is None
        assert b["clientId"] == merchant.credentials.application_client_id  # the default application
        for a_key, b_key in [
            ("status", "status"),
            ("redirect_url", "redirectUrl"),
            ("checkout_url", "checkoutUrl"),
            ("created_at", "createdAt"),
            ("expires_at", "expiresAt"),
            ("environment", "environment"),
            ("metadata", "metadata"),
        ]:
            assert b[b_key] == a[a_key], a_key


async def test_a_contract_b_payment_reads_and_cancels_on_contract_a(
    merchant: Merchant, http: httpx.AsyncClient, services: Services
) -> None:
    app = await new_application(merchant)
    b = await checkout_ok(http, await merchant.token(), app["clientId"], reference="B-1")
    headers = await merchant.headers()
    answer = await http.get(f"/payment/request/{b['id']}", headers=headers)
    assert answer.status_code == 200
    a = answer.json()
    assert (a["amount"], a["currency"], a["reference_id"], a["status"]) == ("10000", "USD", "B-1", "pending")
    cancelled = await http.post(f"/payment/request/{b['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    again = (await http.get(f"/api/payment/{b['id']}", headers=headers)).json()
    assert again["status"] == "cancelled"
    assert again["cancelledAt"] == cancelled.json()["cancelled_at"]
    listed_a = (await http.get("/payment/request?reference_id=B-1", headers=headers)).json()["data"]
    listed_b = (await http.get("/api/payments?reference=B-1", headers=headers)).json()["data"]
    assert [p["id"] for p in listed_a] == [p["id"] for p in listed_b] == [b["id"]]
    assert await event_types(services, b["id"]) == ["payment.created", "payment.cancelled"]


# -- instructions -------------------------------------------------------------------


async def instructions(
    http: httpx.AsyncClient, token: str, payment_id: str, method: str | None
) -> httpx.Response:
    query = "" if method is None else f"?method={method}"
    return await http.get(f"/api/payment/{payment_id}/instructions{query}", headers=bearer(token))


async def test_sandbox_instructions_send_the_payer_to_checkout(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    token = merchant.credentials.client_token
    payment = await checkout_ok(http, token, merchant.credentials.application_client_id)
    answer = await instructions(http, token, payment["id"], "sandbox")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["paymentId"] == payment["id"]
    assert body["method"] == "sandbox"
    assert body["status"] == "pending"
    assert (body["amount"], body["currencyCode"], body["reference"]) == (10000, "USD", "ORDER-123")
    assert body["checkoutUrl"] == payment["checkoutUrl"]
    assert body["expiresAt"] == payment["expiresAt"]
    assert body["steps"] and payment["checkoutUrl"] in body["steps"][0]


@pytest.mark.parametrize("method", ["bank_transfer", "card", "", "SANDBOX"])
async def test_instructions_for_a_method_without_instructions_is_422_naming_method(
    merchant: Merchant, http: httpx.AsyncClient, method: str
) -> None:
    token = merchant.credentials.client_token
    payment = await checkout_ok(http, token, merchant.credentials.application_client_id)
    error = error_of(await instructions(http, token, payment["id"], method), 422, "validation_error")
    assert error["param"] == "method"
    assert error["code"] == "unsupported_method"


async def test_instructions_without_a_method_is_400(merchant: Merchant, http: httpx.AsyncClient) -> None:
    token = merchant.credentials.client_token
    payment = await checkout_ok(http, token, merchant.credentials.application_client_id)
    error = error_of(await instructions(http, token, payment["id"], None), 400, "invalid_request")
    assert (error["code"], error["message"]) == (
        "missing_parameter",
        "Missing required query parameter: method.",
    )
    assert error["param"] == "method"
    # checked after the credential: without one it is 401 (tests/test_openapi.py, every route)
    anonymous = await http.get(f"/api/payment/{payment['id']}/instructions")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "missing_token")


async def test_the_list_checks_the_credential_before_its_filters(http: httpx.AsyncClient) -> None:
    """Without a token, bad filters are 401, not 422: the filters wait for the credential
    (they once ran beside it, and whichever failed first answered)."""
    for _ in range(10):
        for path in ("/api/payments", "/api/payments/export"):
            answer = await http.get(path, params={"limit": "x", "status": "nope", "createdFrom": "then"})
            assert (answer.status_code, answer.json()["error"]["code"]) == (401, "missing_token"), answer.text


async def test_instructions_for_a_method_the_application_does_not_offer_is_422(merchant: Merchant) -> None:
    app = await new_application(
        merchant,
        methods=["bank_transfer"],
        bankDetails={"accountHolder": "A", "bankName": "B", "accountNumber": "1234"},
    )
    token = (await new_token(merchant, ["*"], app["clientId"]))["token"]
    payment = await checkout_ok(merchant.http, token, app["clientId"])
    error = error_of(
        await instructions(merchant.http, token, payment["id"], "sandbox"), 422, "validation_error"
    )
    assert error["param"] == "method"
    assert "does not offer" in error["message"]


async def test_instructions_in_production_have_no_sandbox(make_merchant: MakeMerchant) -> None:
    production = await make_merchant(environment="production")
    token = await production.token()
    payment = await checkout_ok(production.http, token, production.credentials.application_client_id)
    error = error_of(
        await instructions(production.http, token, payment["id"], "sandbox"), 422, "validation_error"
    )
    assert error["param"] == "method"


async def test_instructions_for_a_settled_payment_is_409(
    merchant: Merchant, http: httpx.AsyncClient, services: Services
) -> None:
    token = merchant.credentials.client_token
    payment = await checkout_ok(http, token, merchant.credentials.application_client_id)
    await pay(services, merchant, payment["id"])
    error = error_of(await instructions(http, token, payment["id"], "sandbox"), 409, "invalid_state")
    assert "paid" in error["message"]


async def test_instructions_for_an_unknown_or_foreign_payment_is_404(
    merchant: Merchant, make_merchant: MakeMerchant, http: httpx.AsyncClient
) -> None:
    theirs = await (await make_merchant()).create_payment()
    for payment_id in (theirs["id"], str(uuid.uuid4()), "nope"):
        error_of(
            await instructions(http, merchant.credentials.client_token, payment_id, "sandbox"),
            404,
            "not_found",
        )


# -- listing ------------------------------------------------------------------------


async def make_payments(
    merchant: Merchant, count: int, clock: MovableClock, **fields: Any
) -> list[dict[str, Any]]:
    client_id = fields.pop("clientId", merchant.credentials.application_client_id)
    made = []
    for i in range(count):
        made.append(
            await checkout_ok(merchant.http, await merchant.token(), client_id, reference=f"L-{i}", **fields)
        )
        clock.advance(1)
    return made


async def list_b(merchant: Merchant, query: str = "") -> httpx.Response:
    return await merchant.http.get(f"/api/payments{query}", headers=await merchant.headers())


async def test_list_pages_newest_first_with_a_cursor(merchant: Merchant, clock: MovableClock) -> None:
    made = await make_payments(merchant, 5, clock)
    seen, pages = await walk(
        lambda query: list_b(merchant, query), limit=2, check=lambda p: set(p) == PAYMENT_B_KEYS
    )
    assert pages == 3
    assert seen == [p["id"] for p in reversed(made)]


async def test_list_filters_by_status_application_reference_and_created_range(
    merchant: Merchant, services: Services, clock: MovableClock
) -> None:
    app = await new_application(merchant)
    early = await make_payments(merchant, 2, clock)
    middle = services.clock()
    clock.advance(1)
    late = await make_payments(merchant, 2, clock, clientId=app["clientId"])
    await pay(services, merchant, late[0]["id"])

    def ids(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["data"]]

    assert ids(await list_b(merchant, "?status=paid")) == [late[0]["id"]]
    assert ids(await list_b(merchant, "?status=pending")) == [late[1]["id"], early[1]["id"], early[0]["id"]]
    assert ids(await list_b(merchant, f"?clientId={app['clientId']}")) == [late[1]["id"], late[0]["id"]]
    assert ids(await list_b(merchant, "?reference=L-0")) == [late[0]["id"], early[0]["id"]]
    stamp = middle.isoformat().replace("+00:00", "Z")
    assert ids(await list_b(merchant, f"?createdFrom={stamp}")) == [late[1]["id"], late[0]["id"]]
    assert ids(await list_b(merchant, f"?createdTo={stamp}")) == [early[1]["id"], early[0]["id"]]
    exact = early[1]["createdAt"]
    assert ids(await list_b(merchant, f"?createdFrom={exact}&createdTo={exact}")) == []
    assert ids(await list_b(merchant, f"?clientId={app['clientId']}&status=pending&reference=L-1")) == [
        late[1]["id"]
    ]
    assert ids(await list_b(merchant, "?clientId=" + "0" * 32)) == []


async def test_list_shows_neither_another_account_nor_another_environment(
    merchant: Merchant, make_merchant: MakeMerchant, services: Services
) -> None:
    other = await make_merchant()
    await other.create_payment()
    production = await second_key(services, merchant, "production")
    await checkout_ok(merchant.http, await production.token(), await default_client_id(production))
    mine = await merchant.create_payment()
    page = (await list_b(merchant, "?limit=100")).json()
    assert [p["id"] for p in page["data"]] == [mine["id"]]
    assert (await list_b(merchant, f"?clientId={other.credentials.application_client_id}")).json()[
        "data"
    ] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?status=done", "status"),
        ("?createdFrom=yesterday", "createdFrom"),
        ("?createdFrom=2026-01-01", "createdFrom"),
        ("?createdTo=2026-01-01T00:00:00", "createdTo"),
        ("?limit=abc", "limit"),
        ("?cursor=" + str(uuid.uuid4()), "cursor"),
        ("?cursor=nope", "cursor"),
    ],
)
async def test_list_refuses_a_bad_parameter_with_422_naming_it(
    merchant: Merchant, query: str, param: str
) -> None:
    assert error_of(await list_b(merchant, query), 422, "validation_error")["param"] == param


async def test_list_clamps_the_limit(merchant: Merchant, clock: MovableClock) -> None:
    await make_payments(merchant, 3, clock)
    for limit, count in (("500", 3), ("0", 1), ("-5", 1)):
        assert len((await list_b(merchant, f"?limit={limit}")).json()["data"]) == count


async def test_a_client_token_cannot_list(merchant: Merchant, http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/payments", headers=bearer(merchant.credentials.client_token))
    assert error_of(answer, 403, "permission_error")["message"] == "Insufficient permissions"


@pytest.mark.parametrize("control", ["\u202e", "\u2067", "\u200f", "\u061c"])
async def test_a_reference_label_with_bidi_controls_is_422(
    merchant: Merchant, http: httpx.AsyncClient, control: str
) -> None:
    """The checkout shows the label to the payer: no text that reads backwards."""
    answer = await checkout(
        http,
        merchant.credentials.client_token,
        merchant.credentials.application_client_id,
        referenceLabel=f"Invoice {control}0001 DSU",
    )
    error = error_of(answer, 422, "validation_error")
    assert error["param"] == "referenceLabel"
    assert error["code"] == "bidi_control"
