"""Answers that show a secret once (SPEC §4, §6): creating an application or rotating
its webhook secret (``whsec_``), creating a client token (``prq_ct_``). With an
Idempotency-Key they are never stored, carry ``Cache-Control: no-store``, and a reused
key answers 409 ``idempotency_key_used``; through the real routes, on both engines."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.idempotency.conftest import key_rows, keyed, new_key
from tests.payment.conftest import error_of

API = "/api/payment-applications"


def create_application(merchant: Merchant) -> tuple[str, dict[str, Any]]:
    return API, {"name": f"Shop {uuid.uuid4().hex[:6]}"}


def rotate_secret(merchant: Merchant) -> tuple[str, dict[str, Any]]:
    return f"{API}/{merchant.credentials.application_client_id}/webhook-secret", {}


def create_client_token(merchant: Merchant) -> tuple[str, dict[str, Any]]:
    return f"{API}/{merchant.credentials.application_client_id}/tokens", {"label": "t", "scopes": ["*"]}


ROUTES: list[tuple[Callable[[Merchant], tuple[str, dict[str, Any]]], str, str]] = [
    (create_application, "webhookSecret", "whsec_"),
    (rotate_secret, "webhookSecret", "whsec_"),
    (create_client_token, "token", "prq_ct_"),
]


@pytest.mark.parametrize(("route", "field", "prefix"), ROUTES, ids=["create", "rotate", "token"])
async def test_a_secret_shown_once_is_never_stored_and_its_key_answers_409(
    services: Services,
    merchant: Merchant,
    route: Callable[[Merchant], tuple[str, dict[str, Any]]],
    field: str,
    prefix: str,
) -> None:
    path, body = route(merchant)
    headers = keyed(await merchant.headers(), new_key())
    first = await merchant.http.post(path, json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    secret = first.json()[field]
    assert secret.startswith(prefix)
    assert first.headers["cache-control"] == "no-store"

    again = await merchant.http.post(path, json=body, headers=headers)
    error = error_of(again, 409, "invalid_state")
    assert error["code"] == "idempotency_key_used"
    assert secret not in again.text
    assert again.headers["cache-control"] == "no-store"

    [row] = await key_rows(services, merchant)
    assert row["status"] == first.status_code
    assert row["body"] is None
    async with services.db.read() as conn:
        stored = await conn.fetch_all("SELECT headers, body FROM idempotency_keys")
    assert all(
        prefix not in (r["headers"] or "") and prefix.encode() not in bytes(r["body"] or b"") for r in stored
    )


async def test_without_a_key_the_secret_answers_are_not_cacheable_either(merchant: Merchant) -> None:
    for route, _, _ in ROUTES:
        path, body = route(merchant)
        answer = await merchant.http.post(path, json=body, headers=await merchant.headers())
        assert answer.status_code in (200, 201), answer.text
        assert answer.headers["cache-control"] == "no-store"
