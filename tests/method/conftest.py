"""Helpers for the payment-method tests: applications that take bank transfers,
their payments and transfer references, statement imports, all over the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from payreq.services import Services
from payreq.webhook.repository import events_for_payment
from tests.application.conftest import new_application
from tests.fixtures.factories import Merchant

BANK = {
    "accountHolder": "Example Shop GmbH",
    "bankName": "Example Bank",
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX",
}
REDIRECT = "https://shop.example/thanks"


async def bank_application(merchant: Merchant, *methods: str, **fields: Any) -> str:
    """A new application offering ``methods`` (default: bank_transfer); its Client ID."""
    created = await new_application(
        merchant, methods=list(methods or ["bank_transfer"]), bankDetails=BANK, **fields
    )
    client_id: str = created["clientId"]
    return client_id


async def new_payment(
    merchant: Merchant, client_id: str, amount: int = 12500, currency: str = "EUR", **fields: Any
) -> dict[str, Any]:
    body = {
        "amount": amount,
        "currencyCode": currency,
        "reference": f"ORDER-{uuid.uuid4().hex[:6]}",
        "referenceLabel": "Order",
        "clientId": client_id,
        "redirectUrl": REDIRECT,
        **fields,
    }
    answer = await merchant.http.post("/api/payment/checkout", json=body, headers=await merchant.headers())
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def instructions(merchant: Merchant, payment_id: str, method: str = "bank_transfer") -> httpx.Response:
    return await merchant.http.get(
        f"/api/payment/{payment_id}/instructions?method={method}", headers=await merchant.headers()
    )


async def transfer_reference(merchant: Merchant, payment_id: str) -> str:
    answer = await instructions(merchant, payment_id)
    assert answer.status_code == 200, answer.text
    reference: str = answer.json()["transferReference"]
    return reference


async def import_statement(
    merchant: Merchant, body: bytes, content_type: str = "text/csv", query: str = ""
) -> httpx.Response:
    headers = {**(await merchant.headers()), "Content-Type": content_type}
    return await merchant.http.post(f"/api/statements{query}", content=body, headers=headers)


async def imported(merchant: Merchant, body: bytes, content_type: str = "text/csv") -> dict[str, Any]:
    answer = await import_statement(merchant, body, content_type)
    assert answer.status_code == 201, answer.text
    report: dict[str, Any] = answer.json()
    return report


async def status_of(merchant: Merchant, payment_id: str) -> str:
    answer = await merchant.http.get(f"/api/payment/{payment_id}", headers=await merchant.headers())
    assert answer.status_code == 200, answer.text
    status: str = answer.json()["status"]
    return status


async def event_types(services: Services, payment_id: str) -> list[str]:
    async with services.db.read() as conn:
        rows = await events_for_payment(conn, uuid.UUID(payment_id))
    return [str(row["type"]) for row in rows]


def outcomes(report: dict[str, Any]) -> list[tuple[int, str]]:
    return [(line["line"], line["outcome"]) for line in report["lines"]]
