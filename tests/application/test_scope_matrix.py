"""The scope matrix (issue 4): every ``/api/`` operation called with client tokens and
access tokens of each scope. Success only for the operation's scope or ``*``; the
dashboard operations (applications, client tokens, listing payments) refuse every
client token; everything else is 403 ``Insufficient permissions`` with
``WWW-Authenticate: Bearer error="insufficient_scope"``, and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from payreq.services import Services
from tests.application.conftest import (
    CHECKOUT,
    REDIRECT,
    bearer,
    new_application,
    new_token,
)
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of

SCOPES = ["payments.create", "payments.get", "payments.user-instructions.get", "*"]
APPS = "/api/payment-applications"


@dataclass
class World:
    """What an operation acts on: the merchant's default application, a second one, a
    pending payment and a spare client token."""

    merchant: Merchant
    default_client_id: str
    spare_client_id: str
    payment_id: str
    spare_token_id: str
    made: dict[str, str] = field(default_factory=dict)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.merchant.http


Call = Callable[[World, dict[str, str]], Awaitable[httpx.Response]]
Check = Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    scope: str
    access_token_only: bool
    success: int
    call: Call
    unchanged: Check | None = None
    """After a refusal: what the API shows must still be as it was (besides the
    whole account's rows, which every refusal compares)."""
    prepare: Check | None = None
    """Set-up the call needs, done before the account's rows are read."""


async def _spare_app_intact(w: World) -> None:
    answer = await w.http.get(f"{APPS}/{w.spare_client_id}", headers=await w.merchant.headers())
    assert answer.status_code == 200
    assert answer.json()["name"] == "Spare"


async def _spare_token_intact(w: World) -> None:
    answer = await w.http.get(f"{APPS}/{w.default_client_id}/tokens", headers=await w.merchant.headers())
    assert w.spare_token_id in [t["id"] for t in answer.json()["data"]]


async def _no_new_payment(w: World) -> None:
    answer = await w.http.get("/api/payments", headers=await w.merchant.headers())
    assert [p["id"] for p in answer.json()["data"]] == [w.payment_id]


EVENTS = "/api/events"


async def _event_id(w: World) -> str:
    """The world's payment.created event (one payment's events are listed at once)."""
    answer = await w.http.get(EVENTS, params={"paymentId": w.payment_id}, headers=await w.merchant.headers())
    return str(answer.json()["data"][0]["id"])


async def _get_event(w: World, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(f"{EVENTS}/{await _event_id(w)}", headers=h)


async def _with_webhook_url(w: World) -> None:
    await w.http.patch(
        f"{APPS}/{w.default_client_id}",
        json={"webhookUrl": "https://shop.example/hooks"},
        headers=await w.merchant.headers(),
    )


async def _redeliver(w: World, h: dict[str, str]) -> httpx.Response:
    return await w.http.post(f"{EVENTS}/{await _event_id(w)}/redeliver", headers=h)


STATEMENT = b"id,amount,currency,reference\nM-1,1.00,EUR,nothing\n"


async def _a_statement_import(w: World) -> None:
    made = await w.http.post(
        "/api/statements",
        content=STATEMENT,
        headers={**(await w.merchant.headers()), "Content-Type": "text/csv"},
    )
    w.made["import_id"] = made.json()["id"]


async def _statement_report(w: World, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(f"/api/statements/{w.made['import_id']}", headers=h)


async def _a_partial_line(w: World) -> None:
    from tests.method.conftest import bank_application, new_payment, transfer_reference

    client_id = await bank_application(w.merchant)
    payment = await new_payment(w.merchant, client_id, 5000)
    reference = await transfer_reference(w.merchant, payment["id"])
    made = await w.http.post(
        "/api/statements",
        content=f"amount,currency,reference\n1.00,EUR,{reference}\n".encode(),
        headers={**(await w.merchant.headers()), "Content-Type": "text/csv"},
    )
    assert made.json()["lines"][0]["outcome"] == "partial", made.text
    w.made["partial_import_id"] = made.json()["id"]


async def _partial_line_resolved(w: World, h: dict[str, str]) -> httpx.Response:
    return await w.http.post(
        f"/api/statements/{w.made['partial_import_id']}/lines/2/resolve",
        json={"action": "refund_due"},
        headers=h,
    )


async def _payment_pending(w: World) -> None:
    answer = await w.http.get(f"/api/payment/{w.payment_id}", headers=await w.merchant.headers())
    assert answer.json()["status"] == "pending"


OPERATIONS: dict[str, Operation] = {
    "GET /api/payment-applications": Operation("*", True, 200, lambda w, h: w.http.get(APPS, headers=h)),
    "POST /api/payment-applications": Operation(
        "*", True, 201, lambda w, h: w.http.post(APPS, json={"name": "New"}, headers=h)
    ),
    "GET /api/payment-applications/{clientId}": Operation(
        "*", True, 200, lambda w, h: w.http.get(f"{APPS}/{w.default_client_id}", headers=h)
    ),
    "PATCH /api/payment-applications/{clientId}": Operation(
        "*",
        True,
        200,
        lambda w, h: w.http.patch(f"{APPS}/{w.spare_client_id}", json={"name": "Changed"}, headers=h),
        _spare_app_intact,
    ),
    "DELETE /api/payment-applications/{clientId}": Operation(
        "*",
        True,
        204,
        lambda w, h: w.http.delete(f"{APPS}/{w.spare_client_id}", headers=h),
        _spare_app_intact,
    ),
    "POST /api/payment-applications/{clientId}/webhook-secret": Operation(
        "*", True, 200, lambda w, h: w.http.post(f"{APPS}/{w.spare_client_id}/webhook-secret", headers=h)
    ),
    "POST /api/payment-applications/{clientId}/tokens": Operation(
        "*",
        True,
        201,
        lambda w, h: w.http.post(
            f"{APPS}/{w.default_client_id}/tokens", json={"label": "more", "scopes": ["*"]}, headers=h
        ),
    ),
    "GET /api/payment-applications/{clientId}/tokens": Operation(
        "*", True, 200, lambda w, h: w.http.get(f"{APPS}/{w.default_client_id}/tokens", headers=h)
    ),
    "DELETE /api/payment-applications/{clientId}/tokens/{tokenId}": Operation(
        "*",
        True,
        204,
        lambda w, h: w.http.delete(f"{APPS}/{w.default_client_id}/tokens/{w.spare_token_id}", headers=h),
        _spare_token_intact,
    ),
    "POST /api/payment/checkout": Operation(
        "payments.create",
        False,
        201,
        lambda w, h: w.http.post(
            "/api/payment/checkout",
            json={**CHECKOUT, "clientId": w.default_client_id, "redirectUrl": REDIRECT},
            headers=h,
        ),
        _no_new_payment,
    ),
    "GET /api/payment/{id}": Operation(
        "payments.get", False, 200, lambda w, h: w.http.get(f"/api/payment/{w.payment_id}", headers=h)
    ),
    "GET /api/payment/{id}/instructions": Operation(
        "payments.user-instructions.get",
        False,
        200,
        lambda w, h: w.http.get(f"/api/payment/{w.payment_id}/instructions?method=sandbox", headers=h),
    ),
    "GET /api/payments": Operation(
        "payments.get", True, 200, lambda w, h: w.http.get("/api/payments", headers=h)
    ),
    "GET /api/events": Operation("payments.get", True, 200, lambda w, h: w.http.get(EVENTS, headers=h)),
    "GET /api/events/{event_id}": Operation("payments.get", True, 200, _get_event),
    "POST /api/events/{event_id}/redeliver": Operation("*", True, 202, _redeliver, prepare=_with_webhook_url),
    "POST /api/events/replay": Operation(
        "*",
        True,
        202,
        lambda w, h: w.http.post(
            f"{EVENTS}/replay", json={"since": (datetime.now(UTC) - timedelta(days=1)).isoformat()}, headers=h
        ),
    ),
    "POST /api/statements": Operation(
        "*",
        True,
        201,
        lambda w, h: w.http.post(
            "/api/statements", content=STATEMENT, headers={**h, "Content-Type": "text/csv"}
        ),
    ),
    "GET /api/statements": Operation("*", True, 200, lambda w, h: w.http.get("/api/statements", headers=h)),
    "GET /api/statements/{import_id}": Operation(
        "*", True, 200, _statement_report, prepare=_a_statement_import
    ),
    "POST /api/statements/{import_id}/lines/{line}/resolve": Operation(
        "*", True, 200, _partial_line_resolved, prepare=_a_partial_line
    ),
    "GET /api/payments/export": Operation(
        "payments.get", True, 200, lambda w, h: w.http.get("/api/payments/export", headers=h)
    ),
    "GET /api/overview": Operation(
        "payments.get", True, 200, lambda w, h: w.http.get("/api/overview", headers=h)
    ),
    "GET /api/audit-log": Operation("*", True, 200, lambda w, h: w.http.get("/api/audit-log", headers=h)),
    "POST /api/sandbox/payment/{id}/simulate": Operation(
        "payments.create",
        False,
        200,
        lambda w, h: w.http.post(
            f"/api/sandbox/payment/{w.payment_id}/simulate", json={"outcome": "paid"}, headers=h
        ),
        _payment_pending,
    ),
}
CREDENTIALS = [f"{kind}:{scope}" for kind in ("client_token", "access_token") for scope in SCOPES]


async def world(merchant: Merchant) -> World:
    default_client_id = merchant.credentials.application_client_id
    spare = await new_application(merchant, name="Spare")
    payment = await merchant.create_payment()
    spare_token = await new_token(merchant, ["payments.get"], label="spare")
    return World(merchant, default_client_id, spare["clientId"], payment["id"], spare_token["id"])


async def credential(merchant: Merchant, name: str) -> str:
    kind, scope = name.split(":")
    if kind == "access_token":
        return await merchant.token(scope)
    return str((await new_token(merchant, [scope], label=f"matrix {scope}"))["token"])


def allowed(operation: Operation, credential_name: str) -> bool:
    kind, scope = credential_name.split(":")
    if operation.access_token_only and kind == "client_token":
        return False
    return scope in (operation.scope, "*")


# every row an operation could change, per table, for one account; the columns that
# merely record a credential's use are left out (the refused call did use one)
ACCOUNT_ROWS = {
    "applications": "SELECT * FROM applications WHERE account_id = :a ORDER BY id",
    "client_tokens": "SELECT t.id, t.label, t.scopes, t.expires_at, t.revoked_at FROM client_tokens t "
    "JOIN applications a ON a.id = t.application_id WHERE a.account_id = :a ORDER BY t.id",
    "payments": "SELECT * FROM payments WHERE account_id = :a ORDER BY id",
    "events": "SELECT * FROM events WHERE account_id = :a ORDER BY id",
    "webhook_deliveries": "SELECT d.* FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
    "WHERE e.account_id = :a ORDER BY d.id",
    "statement_imports": "SELECT * FROM statement_imports WHERE account_id = :a ORDER BY id",
    "idempotency_keys": "SELECT * FROM idempotency_keys WHERE account_id = :a ORDER BY idempotency_key",
}


async def account_rows(services: Services, merchant: Merchant) -> dict[str, list[dict[str, Any]]]:
    account = uuid.UUID(merchant.credentials.account_id)
    async with services.db.read() as conn:
        return {
            table: [dict(row) for row in await conn.fetch_all(sql, {"a": account})]
            for table, sql in ACCOUNT_ROWS.items()
        }


@pytest.mark.parametrize("credential_name", CREDENTIALS)
@pytest.mark.parametrize("operation_name", list(OPERATIONS))
async def test_scope_matrix(
    merchant: Merchant, services: Services, operation_name: str, credential_name: str
) -> None:
    operation = OPERATIONS[operation_name]
    w = await world(merchant)
    if operation.prepare is not None:
        await operation.prepare(w)
    token = await credential(merchant, credential_name)
    before = await account_rows(services, merchant)
    answer = await operation.call(w, bearer(token))
    if allowed(operation, credential_name):
        assert answer.status_code == operation.success, answer.text
        return
    error = error_of(answer, 403, "permission_error")
    assert error["message"] == "Insufficient permissions"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    # a refusal changed nothing: not one row of the account, and the API agrees
    assert await account_rows(services, merchant) == before
    if operation.unchanged is not None:
        await operation.unchanged(w)


def test_the_matrix_covers_every_api_operation(app: Litestar) -> None:
    """A new /api/ route must join the matrix."""
    declared = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/"):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    if method not in ("OPTIONS", "HEAD"):
                        declared.add(f"{method} {route.path_format}")
    normalised = {
        name.replace("{clientId}", "{client_id}")
        .replace("{tokenId}", "{token_id}")
        .replace("{id}", "{payment_id}")
        for name in OPERATIONS
    }
    assert declared == normalised
