"""Access tokens on the resource routes: lifetime and RFC 6750 bearer handling (SPEC §2,
security.md T9, T11-T13)."""

from __future__ import annotations

import httpx
import pytest

from tests import conftest
from tests.fixtures.factories import Merchant
from tests.oauth.support import assert_envelope

PAYMENT = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}


def assert_unauthenticated(answer: httpx.Response, *, token_sent: bool) -> str:
    """401, the envelope with "Unauthenticated", and a Bearer challenge; ``error="invalid_token"``
    only when a token was sent (RFC 6750 §3.1)."""
    error = assert_envelope(answer, 401, "Unauthenticated")
    assert error["type"] == "authentication_error"
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'realm="payreq"' in challenge
    if token_sent:
        assert 'error="invalid_token"' in challenge
    else:
        assert "error=" not in challenge
    return challenge


async def test_token_works_one_second_before_it_expires(
    http: httpx.AsyncClient, merchant: Merchant, clock: conftest.MovableClock
) -> None:
    headers = await merchant.headers()
    clock.advance(3599)
    assert (await http.get("/payment/request", headers=headers)).status_code == 200
    created = await http.post("/payment/request", json=PAYMENT, headers=headers)
    assert created.status_code == 201, created.text


async def test_expired_token_returns_401_invalid_token(
    http: httpx.AsyncClient, merchant: Merchant, clock: conftest.MovableClock
) -> None:
    headers = await merchant.headers()
    clock.advance(3601)
    answer = await http.get("/payment/request", headers=headers)
    assert_unauthenticated(answer, token_sent=True)
    created = await http.post("/payment/request", json=PAYMENT, headers=headers)
    assert_unauthenticated(created, token_sent=True)


async def test_new_token_works_after_the_old_one_expired(
    http: httpx.AsyncClient, merchant: Merchant, clock: conftest.MovableClock
) -> None:
    old = await merchant.headers()
    clock.advance(3601)
    assert (await http.get("/payment/request", headers=old)).status_code == 401
    answer = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=merchant.basic)
    assert answer.status_code == 200
    fresh = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert (await http.get("/payment/request", headers=fresh)).status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_is_case_insensitive(
    http: httpx.AsyncClient, merchant: Merchant, scheme: str
) -> None:
    token = await merchant.token()
    answer = await http.get("/payment/request", headers={"Authorization": f"{scheme} {token}"})
    assert answer.status_code == 200, answer.text


MALFORMED = {
    "tab": "Bearer\t{token}",
    "no-space": "Bearer{token}",
    "lowercase-tab": "bearer\t{token}",
    "space-tab": "Bearer \t{token}",
    "two-words": "Bearer {token} {token}",
    "scheme-only": "Bearer",
    "empty-token": "Bearer ",
}
"""Bearer headers that break ``Bearer 1*SP b64token`` (RFC 6750 §2.1), by name."""


@pytest.mark.parametrize("header", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_bearer_header_is_401_invalid_token(
    http: httpx.AsyncClient, merchant: Merchant, header: str
) -> None:
    """RFC 6750 §2.1: ``Bearer 1*SP b64token``. A bearer token sent otherwise is
    refused as an invalid token on every route (contract A, its lean read, contract
    B), never as a missing one nor another error."""
    token = await merchant.token()
    existing = await merchant.create_payment()
    sent = {"Authorization": header.format(token=token)}
    for answer in (
        await http.get("/payment/request", headers=sent),
        await http.get(f"/payment/request/{existing['id']}", headers=sent),
        await http.post("/payment/request", json=PAYMENT, headers=sent),
        await http.get(f"/api/payment/{existing['id']}", headers=sent),
        await http.get("/api/payments", headers=sent),
    ):
        assert_unauthenticated(answer, token_sent=True)
        assert answer.json()["error"]["code"] == "invalid_token"
        assert answer.headers["www-authenticate"] == 'Bearer realm="payreq", error="invalid_token"'


@pytest.mark.parametrize("header", ["Bearer  {token}", "bearer {token}", "BEARER   {token}"])
async def test_one_or_more_spaces_after_the_scheme_are_well_formed(
    http: httpx.AsyncClient, merchant: Merchant, header: str
) -> None:
    """``1*SP``: two spaces are still a well-formed bearer header; the scheme is
    case-insensitive (RFC 7235 §2.1)."""
    sent = {"Authorization": header.format(token=await merchant.token())}
    assert (await http.get("/payment/request", headers=sent)).status_code == 200
    assert (await http.get("/api/payments", headers=sent)).status_code == 200


async def test_missing_authorization_returns_401_challenge_without_error(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    existing = await merchant.create_payment()
    for answer in (
        await http.get("/payment/request"),
        await http.get(f"/payment/request/{existing['id']}"),
        await http.post("/payment/request", json=PAYMENT),
    ):
        challenge = assert_unauthenticated(answer, token_sent=False)
        assert challenge == 'Bearer realm="payreq"'


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("prq_at_sbx_" + "Z" * 32, id="well-formed-unknown"),
        pytest.param("prq_at_live_" + "Z" * 32, id="unknown-live"),
        pytest.param("not-a-payreq-token", id="garbage"),
        pytest.param("prq_cs_sbx_" + "Z" * 32, id="client-secret-kind"),
    ],
)
async def test_unknown_token_returns_401_invalid_token(http: httpx.AsyncClient, token: str) -> None:
    answer = await http.get("/payment/request", headers={"Authorization": f"Bearer {token}"})
    assert_unauthenticated(answer, token_sent=True)


async def test_client_secret_is_not_a_bearer_token(http: httpx.AsyncClient, merchant: Merchant) -> None:
    answer = await http.get(
        "/payment/request", headers={"Authorization": f"Bearer {merchant.credentials.client_secret}"}
    )
    assert_unauthenticated(answer, token_sent=True)


async def test_basic_credentials_on_a_resource_route_return_401(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    answer = await http.get("/payment/request", auth=merchant.basic)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ")


async def test_token_in_query_string_is_refused(http: httpx.AsyncClient, merchant: Merchant) -> None:
    token = await merchant.token()
    existing = await merchant.create_payment()
    listed = await http.get("/payment/request", params={"access_token": token})
    assert_unauthenticated(listed, token_sent=True)
    one = await http.get(f"/payment/request/{existing['id']}", params={"access_token": token})
    assert_unauthenticated(one, token_sent=True)
    assert token not in listed.text
    assert token not in one.text
