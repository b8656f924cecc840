"""The OpenAPI document's ``security`` is written from the route's own guard
(``requires(scope)``), so it says what the server enforces: every operation that asks
for a bearer token names it with its scope, and no other does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import BASE_URL
from tests.fixtures.factories import new_merchant

CONTRACT_A = {
    ("post", "/payment/request"): "payments.create",
    ("get", "/payment/request"): "payments.get",
    ("get", "/payment/request/{payment_id}"): "payments.get",
    ("post", "/payment/request/{payment_id}/cancel"): "payments.create",
}


async def test_contract_a_operations_state_their_bearer_scope(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    for (method, path), scope in CONTRACT_A.items():
        assert document["paths"][path][method]["security"] == [{"bearerAuth": [scope]}], (method, path)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Every operation but /oauth/*'s (client credentials, RFC 6749's own answers) as
    (method, path, a URL with its ids filled in, the operation)."""
    some_id = str(uuid.uuid4())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "patch", "delete"}:
                continue
            if operation.get("security") == [{"basicAuth": []}]:
                continue
            url = path
            for name in ("payment_id", "client_id", "token_id", "event_id", "import_id", "line"):
                url = url.replace("{" + name + "}", "1" if name == "line" else some_id)
            yield method, path, url, operation


def _asks_for_bearer(operation: dict[str, Any]) -> bool:
    security = operation.get("security")
    return security is not None and "bearerAuth" in security[0]


async def _anonymous(app: Litestar, n: int, method: str, url: str, params: dict[str, str]) -> httpx.Response:
    """The request without a token, from an address of its own (failed authentications
    are limited per address)."""
    transport = httpx.ASGITransport(app=app, client=(f"10.0.{n // 250}.{n % 250 + 1}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        return await client.request(method.upper(), url, params=params)


async def test_an_operation_asks_for_a_bearer_token_exactly_when_the_server_does(
    http_once: httpx.AsyncClient, app_once: Litestar
) -> None:
    document = (await http_once.get("/openapi.json")).json()
    checked = 0
    for method, path, url, operation in _operations(document):
        required = {
            parameter["name"]: "sandbox"
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query" and parameter.get("required")
        }
        answer = await _anonymous(app_once, checked, method, url, required)
        bearer = _asks_for_bearer(operation)
        assert (answer.status_code == 401) is bearer, (
            method,
            path,
            answer.status_code,
            operation.get("security"),
        )
        if bearer:
            assert answer.headers["www-authenticate"].startswith("Bearer"), (method, path)
        checked += 1
    assert checked > 30


async def test_authentication_comes_before_validating_the_query(
    http_once: httpx.AsyncClient, app_once: Litestar
) -> None:
    """A caller without a token learns nothing about the query first: every operation
    that asks for a token answers 401, with its required parameters left out and with
    every parameter it takes set to a value no parameter accepts."""
    document = (await http_once.get("/openapi.json")).json()
    checked = 0
    for method, path, url, operation in _operations(document):
        if not _asks_for_bearer(operation):
            continue
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for params in ({}, dict.fromkeys(names, "-1.5x")):
            answer = await _anonymous(app_once, checked, method, url, params)
            assert answer.status_code == 401, (method, path, params, answer.text[:200])
            assert answer.json()["error"]["code"] == "missing_token", (method, path)
            checked += 1
    assert checked > 50


async def test_the_oauth_operations_document_every_answer_they_give(http_once: httpx.AsyncClient) -> None:
    document = (await http_once.get("/openapi.json")).json()
    for path in ("/oauth/token", "/oauth/revoke"):
        responses = document["paths"][path]["post"]["responses"]
        assert sorted(responses) == ["200", "400", "403", "413", "429", "500", "503"], path
        body = responses["413"]["content"]["application/json"]["schema"]["$ref"]
        assert body.endswith("/OAuthErrorBody"), path
        # and the server does answer so
        big = await http_once.post(path, content=b"grant_type=client_credentials&x=" + b"a" * 70_000)
        assert (big.status_code, big.json()["error"]) == (413, "invalid_request"), path


async def test_the_document_names_the_headers_the_answers_carry(
    http_once: httpx.AsyncClient, app_once: Litestar
) -> None:
    """Each header a real answer carries is named on that answer in the document."""
    document = (await http_once.get("/openapi.json")).json()
    assert set(document["components"]["headers"]) >= {"X-Request-ID", "RateLimit", "Retry-After"}

    def named(path: str, method: str, status: int) -> set[str]:
        answer = document["paths"][path][method]["responses"][str(status)]
        return {name.lower() for name in answer.get("headers", {})}

    merchant = await new_merchant(app_once.state.services, http_once)
    bearer = await merchant.headers()
    created = await http_once.post(
        "/payment/request",
        json={"amount": "100", "currency": "EUR", "redirect_url": "https://shop.example/done"},
        headers={**bearer, "Idempotency-Key": "doc-headers-1"},
    )
    replayed = await http_once.post(
        "/payment/request",
        json={"amount": "100", "currency": "EUR", "redirect_url": "https://shop.example/done"},
        headers={**bearer, "Idempotency-Key": "doc-headers-1"},
    )
    missing = await http_once.get(f"/payment/request/{uuid.uuid4()}", headers=bearer)
    anonymous = await http_once.get(f"/payment/request/{uuid.uuid4()}")
    for answer, path, method in (
        (created, "/payment/request", "post"),
        (replayed, "/payment/request", "post"),
        (missing, "/payment/request/{payment_id}", "get"),
        (anonymous, "/payment/request/{payment_id}", "get"),
    ):
        carried = {name for name in answer.headers if name in _DOCUMENTED}
        assert carried, answer.headers
        assert carried <= named(path, method, answer.status_code), (path, answer.status_code, carried)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert "ratelimit" not in anonymous.headers and "ratelimit" not in named(
        "/payment/request/{payment_id}", "get", 401
    )


_DOCUMENTED = {
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "ratelimit",
    "retry-after",
    "idempotent-replayed",
}
