"""The scope matrix (issue 4): every ``/api/`` operation called with client tokens and
access tokens of each scope. Success only for the operation's scope or ``*``; the
dashboard operations (applications, client tokens, listing payments) refuse every
client token; everything else is 403 ``Insufficient permissions`` with
``WWW-Authenticate: Bearer error="insufficient_scope"``, and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

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
    """After a refusal: what must still be as it was."""


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


async def _redeliver(w: World, h: dict[str, str]) -> httpx.Response:
    await w.http.patch(
        f"{APPS}/{w.default_client_id}",
        json={"webhookUrl": "https://shop.example/hooks"},
        headers=await w.merchant.headers(),
    )
    return await w.http.post(f"{EVENTS}/{await _event_id(w)}/redeliver", headers=h)


STATEMENT = b"id,amount,currency,reference\nM-1,1.00,EUR,nothing\n"


async def _statement_report(w: World, h: dict[str, str]) -> httpx.Response:
    made = await w.http.post(
        "/api/statements",
        content=STATEMENT,
        headers={**(await w.merchant.headers()), "Content-Type": "text/csv"},
    )
    return await w.http.get(f"/api/statements/{made.json()['id']}", headers=h)


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
    "POST /api/events/{event_id}/redeliver": Operation("*", True, 202, _redeliver),
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
    "GET /api/statements/{import_id}": Operation("*", True, 200, _statement_report),
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


@pytest.mark.parametrize("credential_name", CREDENTIALS)
@pytest.mark.parametrize("operation_name", list(OPERATIONS))
async def test_scope_matrix(merchant: Merchant, operation_name: str, credential_name: str) -> None:
    operation = OPERATIONS[operation_name]
    w = await world(merchant)
    token = await credential(merchant, credential_name)
    answer = await operation.call(w, bearer(token))
    if allowed(operation, credential_name):
        assert answer.status_code == operation.success, answer.text
        return
    error = error_of(answer, 403, "permission_error")
    assert error["message"] == "Insufficient permissions"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
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
