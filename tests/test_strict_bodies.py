"""Strict bodies (SPEC §4): every write of both contracts refuses a field it does not
know with 400 ``invalid_request``, code ``unknown_field``, ``param`` naming it (as
Stripe does), and changes nothing. ``metadata`` is where a merchant's own data goes.
``/oauth/token`` and ``/oauth/revoke`` are form bodies under RFC 6749 §3.2 / RFC 7009,
which require an authorization server to ignore parameters it does not recognize."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from payreq.http import WRITE_METHODS
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of

A_BODY = {"amount": "100", "currency": "USD", "redirect_url": "https://shop.example/thanks"}


def write_operations(app: Litestar) -> list[tuple[str, str]]:
    """Every documented write of the API, found in the app itself, so that a route
    added later is covered without anyone editing this test."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            for method in sorted(handler.http_methods & WRITE_METHODS):
                if "form" in handler.opt or "raw_body" in handler.opt:
                    continue
                found.append((method, route.path_format))
    return found


def fill(path: str, merchant: Merchant) -> str:
    client_id = merchant.credentials.application_client_id
    path = path.replace("{clientId}", client_id).replace("{client_id}", client_id)
    path = path.replace("{line}", "2")  # a line number (an int path parameter)
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def unknown_field_error(answer: Any, param: str) -> None:
    error = error_of(answer, 400, "invalid_request")
    assert (error["code"], error["param"]) == ("unknown_field", param), error


async def test_every_write_refuses_an_unknown_field(app: Litestar, merchant: Merchant) -> None:
    operations = write_operations(app)
    # the two contracts' creates, the application writes, tokens, cancel, simulate, replay...
    assert len(operations) >= 10, operations
    headers = await merchant.headers()
    for method, path in operations:
        answer = await merchant.http.request(
            method, fill(path, merchant), json={"recurring": True}, headers=headers
        )
        assert answer.status_code == 400, (method, path, answer.text)
        unknown_field_error(answer, "recurring")


async def test_the_faq_case_recurring_is_refused_on_contract_a_and_nothing_is_created(
    merchant: Merchant,
) -> None:
    reference = f"recurring-{uuid.uuid4().hex[:8]}"
    headers = await merchant.headers()
    answer = await merchant.http.post(
        "/payment/request", json={**A_BODY, "reference_id": reference, "recurring": True}, headers=headers
    )
    unknown_field_error(answer, "recurring")
    assert "metadata" in answer.json()["error"]["message"]
    listed = await merchant.http.get("/payment/request", params={"reference_id": reference}, headers=headers)
    assert listed.json()["data"] == []


async def test_contract_b_refuses_an_unknown_field_and_a_snake_case_name(merchant: Merchant) -> None:
    headers = await merchant.headers()
    body = {
        "amount": 1000,
        "currencyCode": "EUR",
        "reference": f"b-{uuid.uuid4().hex[:8]}",
        "referenceLabel": "Order 1",
        "clientId": merchant.credentials.application_client_id,
    }
    unknown_field_error(
        await merchant.http.post("/api/payment/checkout", json={**body, "recurring": True}, headers=headers),
        "recurring",
    )
    # contract A's spelling is not contract B's: it is named, not silently dropped
    unknown_field_error(
        await merchant.http.post(
            "/api/payment/checkout", json={**body, "redirect_url": "https://x.example/"}, headers=headers
        ),
        "redirect_url",
    )
    listed = await merchant.http.get(
        "/api/payments", params={"reference": body["reference"]}, headers=headers
    )
    assert listed.json()["data"] == []


async def test_an_unknown_field_inside_a_nested_object_is_named_by_its_path(merchant: Merchant) -> None:
    body = {
        "name": "Shop",
        "methods": ["bank_transfer"],
        "bankDetails": {
            "accountHolder": "A",
            "bankName": "B",
            "iban": "DE89370400440532013000",
            "swift": "x",
        },
    }
    answer = await merchant.http.post(
        "/api/payment-applications", json=body, headers=await merchant.headers()
    )
    unknown_field_error(answer, "bankDetails.swift")


async def test_the_merchants_own_data_goes_in_metadata(merchant: Merchant) -> None:
    answer = await merchant.http.post(
        "/payment/request",
        json={**A_BODY, "metadata": {"recurring": "true"}},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["metadata"] == {"recurring": "true"}


async def test_a_write_without_a_body_refuses_fields_and_keeps_the_payment_pending(
    merchant: Merchant,
) -> None:
    headers = await merchant.headers()
    payment = await merchant.create_payment()
    cancel = f"/payment/request/{payment['id']}/cancel"
    unknown_field_error(
        await merchant.http.post(cancel, json={"reason": "duplicate"}, headers=headers), "reason"
    )
    assert (await merchant.http.get(f"/payment/request/{payment['id']}", headers=headers)).json()[
        "status"
    ] == "pending"
    refused = await merchant.http.post(cancel, content=b"not json", headers=headers)
    assert error_of(refused, 400, "invalid_request")["code"] == "invalid_json"
    # an empty body and {} are what "no body" means
    assert (await merchant.http.post(cancel, json={}, headers=headers)).json()["status"] == "cancelled"


async def test_a_refusal_comes_after_authentication(merchant: Merchant) -> None:
    answer = await merchant.http.post(
        f"/payment/request/{uuid.uuid4()}/cancel",
        json={"reason": "x"},
        headers={"Authorization": "Bearer nope"},
    )
    assert answer.status_code == 401, answer.text


async def test_oauth_ignores_extension_parameters_as_rfc_6749_requires(merchant: Merchant) -> None:
    token = await merchant.http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "recurring": "true"}, auth=merchant.basic
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    revoke = await merchant.http.post(
        "/oauth/revoke",
        data={"token": token.json()["access_token"], "recurring": "true"},
        auth=merchant.basic,
    )
    assert revoke.status_code == 200, revoke.text
    refused = await merchant.http.get(
        "/payment/request", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert refused.status_code == 401


async def test_the_openapi_document_says_bodies_are_closed(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    bodies = [
        "PaymentRequestCreate",
        "PaymentCheckout",
        "ApplicationCreate",
        "ApplicationUpdate",
        "TokenCreate",
        "BankDetails",
        "SimulateBody",
        "Replay",
    ]
    for name in bodies:
        assert schemas[name]["additionalProperties"] is False, name
