"""Helpers for the contract-B tests: bearer headers, applications and client tokens
made over the API itself, and a second API key of the same account."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import Merchant

CHECKOUT = {"amount": 10000, "currencyCode": "USD", "reference": "ORDER-123", "referenceLabel": "Order #123"}
REDIRECT = "https://shop.example/thanks"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_application(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    """A new application of the merchant's environment (``POST /api/payment-applications``)."""
    body = {"name": "Web shop", **fields}
    answer = await merchant.http.post(
        "/api/payment-applications", json=body, headers=await merchant.headers()
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def new_token(
    merchant: Merchant, scopes: list[str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A client token of ``client_id`` (default: the default application) with ``scopes``."""
    client_id = client_id or merchant.credentials.application_client_id
    answer = await merchant.http.post(
        f"/api/payment-applications/{client_id}/tokens",
        json={"label": "test", "scopes": scopes, **fields},
        headers=await merchant.headers(),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def checkout(http: httpx.AsyncClient, token: str, client_id: str, **fields: Any) -> httpx.Response:
    body = {**CHECKOUT, "clientId": client_id, "redirectUrl": REDIRECT, **fields}
    return await http.post("/api/payment/checkout", json=body, headers=bearer(token))


async def checkout_ok(http: httpx.AsyncClient, token: str, client_id: str, **fields: Any) -> dict[str, Any]:
    answer = await checkout(http, token, client_id, **fields)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def default_client_id(merchant: Merchant) -> str:
    """The Client ID of the default application of the merchant's current environment."""
    answer = await merchant.http.get("/api/payment-applications", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    (default,) = [a for a in answer.json()["data"] if a["isDefault"]]
    client_id: str = default["clientId"]
    return client_id
