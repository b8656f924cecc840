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


ROUTES: list[tuple[Callable[[Merchant], tuple[str, dict[str, Any]]], str, str, int]] = [
    (create_application, "webhookSecret", "whsec_", 201),
    (rotate_secret, "webhookSecret", "whsec_", 200),
    (create_client_token, "token", "prq_ct_", 201),
]


@pytest.mark.parametrize(("route", "field", "prefix", "status"), ROUTES, ids=["create", "rotate", "token"])
async def test_a_secret_shown_once_is_never_stored_and_its_key_answers_409(
    services: Services,
    merchant: Merchant,
    route: Callable[[Merchant], tuple[str, dict[str, Any]]],
    field: str,
    prefix: str,
    status: int,
) -> None:
    path, body = route(merchant)
    headers = keyed(await merchant.headers(), new_key())
    first = await merchant.http.post(path, json=body, headers=headers)
    assert first.status_code == status, first.text
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
    for route, _, _, status in ROUTES:
        path, body = route(merchant)
        answer = await merchant.http.post(path, json=body, headers=await merchant.headers())
        assert answer.status_code == status, answer.text
        assert answer.headers["cache-control"] == "no-store"


# -- keys on large bodies (a statement: up to 10 MiB) --------------------------------


def large_statement(tail: str) -> bytes:
    """A CSV statement over 64 KiB whose lines differ from another's only at the end."""
    from tests.method.statements import csv_text

    rows = [f"bank-{i:05d},2026-11-30,1.00,EUR,NOREF{i:05d},Payer {i} {'x' * 240}" for i in range(300)]
    rows.append(f"bank-last,2026-11-30,1.00,EUR,{tail},Payer last")
    return csv_text(*rows)


async def test_a_key_on_a_statement_over_64_kib_fingerprints_the_whole_body(
    services: Services, merchant: Merchant
) -> None:
    body = large_statement("TAIL-A")
    assert len(body) > 64 * 1024
    headers = {**keyed(await merchant.headers(), new_key()), "Content-Type": "text/csv"}
    first = await merchant.http.post("/api/statements", content=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await merchant.http.post("/api/statements", content=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # the same first 64 KiB and another ending is another request
    other = await merchant.http.post("/api/statements", content=large_statement("TAIL-B"), headers=headers)
    assert error_of(other, 422, "validation_error")["code"] == "idempotency_key_reused"
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM statement_imports WHERE account_id = :a",
            {"a": uuid.UUID(merchant.credentials.account_id)},
        )
    assert row is not None and row["n"] == 1  # the retry created no second import
