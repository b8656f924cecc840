"""Interoperability: a standard OAuth2 client library (Authlib over httpx) against a real
``payreq serve`` over real HTTP (SPEC §2: errors "so that standard OAuth2 client libraries
understand them"; security.md T2)."""

from __future__ import annotations

import warnings

import authlib.deprecate  # noqa: F401  (installs Authlib's global warning filter before ours below)
import pytest

from tests.oauth.conftest import LiveServer

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns, once, on import when it finds httpx
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

PAYMENT = {
    "amount": "2500",
    "currency": "USD",
    "redirect_url": "https://shop.example/thanks",
    "reference_id": "authlib-order",
}


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_authlib_obtains_token_and_creates_payment_request(
    live_server: LiveServer, auth_method: str
) -> None:
    creds = live_server.credentials
    async with AsyncOAuth2Client(
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        token_endpoint_auth_method=auth_method,
        timeout=10.0,
    ) as client:
        token = await client.fetch_token(
            f"{live_server.base_url}/oauth/token", grant_type="client_credentials"
        )
        assert token["token_type"] == "Bearer"
        assert token["access_token"].startswith("prq_at_sbx_")
        assert token["expires_in"] == 3600
        assert token["scope"] == "*"
        assert "refresh_token" not in token
        assert token.is_expired() is False

        # the client now sends the token itself
        created = await client.post(f"{live_server.base_url}/payment/request", json=PAYMENT)
        assert created.status_code == 201, created.text
        payment = created.json()
        assert payment["status"] == "pending"
        assert payment["reference_id"] == "authlib-order"
        assert payment["checkout_url"].startswith(live_server.base_url)

        fetched = await client.get(f"{live_server.base_url}/payment/request/{payment['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["id"] == payment["id"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_authlib_reports_wrong_secret_as_invalid_client(
    live_server: LiveServer, auth_method: str
) -> None:
    async with AsyncOAuth2Client(
        client_id=live_server.credentials["client_id"],
        client_secret="prq_cs_sbx_wrong",
        token_endpoint_auth_method=auth_method,
        timeout=10.0,
    ) as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(f"{live_server.base_url}/oauth/token", grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


async def test_authlib_narrow_scope_token_is_refused_on_create(live_server: LiveServer) -> None:
    creds = live_server.credentials
    async with AsyncOAuth2Client(
        client_id=creds["client_id"], client_secret=creds["client_secret"], scope="payments.get", timeout=10.0
    ) as client:
        token = await client.fetch_token(
            f"{live_server.base_url}/oauth/token", grant_type="client_credentials"
        )
        assert token["scope"] == "payments.get"
        refused = await client.post(f"{live_server.base_url}/payment/request", json=PAYMENT)
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "Insufficient permissions"
        assert (await client.get(f"{live_server.base_url}/payment/request")).status_code == 200


async def test_authlib_unknown_scope_is_reported_as_invalid_scope(live_server: LiveServer) -> None:
    creds = live_server.credentials
    async with AsyncOAuth2Client(
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        scope="payments.refund",
        timeout=10.0,
    ) as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(f"{live_server.base_url}/oauth/token", grant_type="client_credentials")
    assert raised.value.error == "invalid_scope"
