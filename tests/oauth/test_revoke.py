"""``POST /oauth/revoke`` (RFC 7009, SPEC §2): revoke an access token at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.fixtures.factories import Merchant
from tests.oauth.support import assert_envelope, assert_oauth_error, basic

MakeMerchant = Callable[..., Awaitable[Merchant]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_revoked_ok(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {}


async def test_revoked_token_is_refused_on_the_very_next_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    token = await merchant.token()
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200

    assert_revoked_ok(await http.post("/oauth/revoke", data={"token": token}, auth=merchant.basic))

    answer = await http.get("/payment/request", headers=bearer(token))
    assert_envelope(answer, 401, "Unauthenticated")
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


async def test_revoke_with_form_credentials_and_type_hint(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    token = await merchant.token()
    creds = merchant.credentials
    form = {
        "token": token,
        "token_type_hint": "access_token",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    assert_revoked_ok(await http.post("/oauth/revoke", data=form))
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 401


async def test_revoking_one_token_leaves_the_clients_other_tokens_working(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    doomed = await merchant.token(scope="payments.get")
    kept = await merchant.token()
    assert_revoked_ok(await http.post("/oauth/revoke", data={"token": doomed}, auth=merchant.basic))
    assert (await http.get("/payment/request", headers=bearer(doomed))).status_code == 401
    assert (await http.get("/payment/request", headers=bearer(kept))).status_code == 200


async def test_revoking_twice_answers_200_both_times(http: httpx.AsyncClient, merchant: Merchant) -> None:
    token = await merchant.token()
    for _ in range(2):
        assert_revoked_ok(await http.post("/oauth/revoke", data={"token": token}, auth=merchant.basic))
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 401


@pytest.mark.parametrize("token", ["prq_at_sbx_" + "Q" * 32, "whatever"])
async def test_revoking_unknown_token_answers_200(
    http: httpx.AsyncClient, merchant: Merchant, token: str
) -> None:
    assert_revoked_ok(await http.post("/oauth/revoke", data={"token": token}, auth=merchant.basic))


async def test_revoke_with_wrong_secret_returns_403_and_keeps_the_token(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    token = await merchant.token()
    answer = await http.post(
        "/oauth/revoke", data={"token": token}, headers=basic(merchant.credentials.client_id, "wrong")
    )
    assert_oauth_error(answer, 403, "invalid_client")
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200


async def test_revoke_without_client_credentials_returns_403_and_keeps_the_token(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    token = await merchant.token()
    assert_oauth_error(await http.post("/oauth/revoke", data={"token": token}), 403, "invalid_client")
    # the token itself is not a credential for revoking
    answer = await http.post("/oauth/revoke", data={"token": token}, headers=bearer(token))
    assert_oauth_error(answer, 403, "invalid_client")
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200


async def test_client_cannot_revoke_another_clients_token(
    http: httpx.AsyncClient, merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    victim_token = await merchant.token()
    attacker = await make_merchant()
    answer = await http.post("/oauth/revoke", data={"token": victim_token}, auth=attacker.basic)
    # RFC 7009 answers an unknown token with 200; to the attacker the victim's token is unknown
    assert_revoked_ok(answer)
    assert (await http.get("/payment/request", headers=bearer(victim_token))).status_code == 200


async def test_revoke_without_token_parameter_returns_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    assert_oauth_error(await http.post("/oauth/revoke", data={}, auth=merchant.basic), 400, "invalid_request")
    answer = await http.post("/oauth/revoke", data={"token": ""}, auth=merchant.basic)
    assert_oauth_error(answer, 400, "invalid_request")


async def test_revoke_with_json_body_returns_400_invalid_request(
    http: httpx.AsyncClient, merchant: Merchant
) -> None:
    token = await merchant.token()
    answer = await http.post("/oauth/revoke", json={"token": token}, auth=merchant.basic)
    assert_oauth_error(answer, 400, "invalid_request")
    assert (await http.get("/payment/request", headers=bearer(token))).status_code == 200


async def test_get_revoke_endpoint_returns_405_with_allow_post(http: httpx.AsyncClient) -> None:
    answer = await http.get("/oauth/revoke")
    assert_oauth_error(answer, 405, "invalid_request")
    assert "POST" in {m.strip() for m in answer.headers["allow"].split(",")}


async def test_a_client_token_of_the_keys_account_is_revoked_and_another_accounts_is_not(
    http: httpx.AsyncClient, merchant: Merchant, make_merchant: MakeMerchant
) -> None:
    own = merchant.credentials.client_token
    assert (
        await http.get("/api/payment/00000000-0000-4000-8000-000000000000", headers=bearer(own))
    ).status_code == 404
    assert_revoked_ok(await http.post("/oauth/revoke", data={"token": own}, auth=merchant.basic))
    assert (
        await http.get("/api/payment/00000000-0000-4000-8000-000000000000", headers=bearer(own))
    ).status_code == 401
    other = await make_merchant()
    theirs = other.credentials.client_token
    assert_revoked_ok(await http.post("/oauth/revoke", data={"token": theirs}, auth=merchant.basic))
    assert (
        await http.get("/api/payment/00000000-0000-4000-8000-000000000000", headers=bearer(theirs))
    ).status_code == 404
