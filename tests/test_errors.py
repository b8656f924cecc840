"""The JSON surface's plumbing (SPEC §4, §8): the request id on every answer, the
error envelope for the framework's own answers (unknown route, wrong method), and
``Cache-Control: no-store`` on errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import Merchant

GENERATED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
Headers = dict[str, Any]
Call = Callable[[Merchant, Headers], Awaitable[httpx.Response]]


async def _success(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.get("/payment/request", headers={**await m.headers(), **extra})


async def _created(m: Merchant, extra: Headers) -> httpx.Response:
    body = {"amount": "100", "currency": "USD", "redirect_url": "https://m.example/r"}
    return await m.http.post("/payment/request", json=body, headers={**await m.headers(), **extra})


async def _unknown_route(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.get("/no/such/route", headers=extra)


async def _unknown_payment(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.get(f"/payment/request/{uuid.uuid4()}", headers={**await m.headers(), **extra})


async def _wrong_method(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.delete("/payment/request", headers={**await m.headers(), **extra})


async def _unauthenticated(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.get("/payment/request", headers=extra)


async def _invalid(m: Merchant, extra: Headers) -> httpx.Response:
    body = {"amount": "-1", "currency": "USD", "redirect_url": "https://m.example/r"}
    return await m.http.post("/payment/request", json=body, headers={**await m.headers(), **extra})


async def _oauth_error(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=extra)


async def _healthz(m: Merchant, extra: Headers) -> httpx.Response:
    return await m.http.get("/healthz", headers=extra)


CALLS: dict[str, tuple[Call, int]] = {
    "success-200": (_success, 200),
    "created-201": (_created, 201),
    "healthz-200": (_healthz, 200),
    "unknown-route-404": (_unknown_route, 404),
    "unknown-payment-404": (_unknown_payment, 404),
    "wrong-method-405": (_wrong_method, 405),
    "no-token-401": (_unauthenticated, 401),
    "invalid-field-422": (_invalid, 422),
    "oauth-403": (_oauth_error, 403),
}
ENVELOPE_ERRORS = [name for name, (_, status) in CALLS.items() if status >= 400 and name != "oauth-403"]


@pytest.mark.parametrize("name", list(CALLS))
async def test_every_response_carries_a_request_id(merchant: Merchant, name: str) -> None:
    call, status = CALLS[name]
    answer = await call(merchant, {})
    assert answer.status_code == status, answer.text
    assert GENERATED_ID.fullmatch(answer.headers["x-request-id"])


@pytest.mark.parametrize("name", list(CALLS))
async def test_each_response_gets_its_own_request_id(merchant: Merchant, name: str) -> None:
    call, _ = CALLS[name]
    first, second = await call(merchant, {}), await call(merchant, {})
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("name", ENVELOPE_ERRORS)
async def test_error_body_request_id_matches_the_header(merchant: Merchant, name: str) -> None:
    call, _ = CALLS[name]
    answer = await call(merchant, {})
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    "name",
    [
        "success-200",
        "created-201",
        "healthz-200",
        "unknown-payment-404",
        "no-token-401",
        "invalid-field-422",
        "oauth-403",
        "unknown-route-404",
        "wrong-method-405",
    ],
)
async def test_sane_incoming_request_id_is_echoed(merchant: Merchant, name: str) -> None:
    call, _ = CALLS[name]
    answer = await call(merchant, {"X-Request-ID": "abc-123-def"})
    assert answer.headers["x-request-id"] == "abc-123-def"
    if name in ENVELOPE_ERRORS:
        assert answer.json()["error"]["request_id"] == "abc-123-def"


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param("abc 123 def", id="spaces"),
        pytest.param("a" * 200, id="200-chars"),
        pytest.param("abc", id="too-short"),
        pytest.param("abc-123-def\tx", id="tab"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("abc-123-déf", id="non-ascii"),
    ],
)
@pytest.mark.parametrize("name", ["success-200", "invalid-field-422", "unknown-payment-404"])
async def test_insane_incoming_request_id_is_replaced(merchant: Merchant, name: str, incoming: str) -> None:
    call, _ = CALLS[name]
    headers = {"X-Request-ID": incoming.encode("utf-8")}
    answer = await call(merchant, headers)
    rid = answer.headers["x-request-id"]
    assert rid != incoming
    assert GENERATED_ID.fullmatch(rid)
    if name in ENVELOPE_ERRORS:
        assert answer.json()["error"]["request_id"] == rid


async def test_response_carries_exactly_one_request_id_header(merchant: Merchant) -> None:
    for name in ("success-200", "invalid-field-422", "unknown-payment-404"):
        answer = await CALLS[name][0](merchant, {"X-Request-ID": "abc-123-def"})
        assert answer.headers.get_list("x-request-id") == ["abc-123-def"], name


async def test_unknown_route_returns_404_envelope(http_once: httpx.AsyncClient) -> None:
    answer = await http_once.get("/no/such/route")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "not_found"
    assert error["code"] == "route_not_found"
    assert error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["content-type"].startswith("application/json")


async def test_unknown_route_under_a_known_prefix_returns_404_envelope(merchant: Merchant) -> None:
    answer = await merchant.http.get(
        f"/payment/request/{uuid.uuid4()}/nope", headers=await merchant.headers()
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/payment/request", {"GET", "POST"}),
        ("PUT", "/payment/request", {"GET", "POST"}),
        ("PATCH", "/payment/request/00000000-0000-0000-0000-000000000000", {"GET"}),
        ("GET", "/payment/request/00000000-0000-0000-0000-000000000000/cancel", {"POST"}),
        # /oauth/token answers its 405 in the RFC 6749 shape: tests/oauth/test_token.py
    ],
)
async def test_wrong_method_returns_405_envelope_with_allow(
    http_once: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    answer = await http_once.request(method, path)
    assert answer.status_code == 405
    error = answer.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["code"] == "method_not_allowed"
    assert error["request_id"] == answer.headers["x-request-id"]
    allow = {m.strip() for m in answer.headers["allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


@pytest.mark.parametrize("name", [*ENVELOPE_ERRORS, "oauth-403"])
async def test_errors_carry_cache_control_no_store(merchant: Merchant, name: str) -> None:
    call, status = CALLS[name]
    answer = await call(merchant, {})
    assert answer.status_code == status
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("name", ENVELOPE_ERRORS)
async def test_error_envelope_has_exactly_the_documented_keys(merchant: Merchant, name: str) -> None:
    call, _ = CALLS[name]
    body: dict[str, Any] = (await call(merchant, {})).json()
    assert set(body) == {"error"}
    assert {"type", "code", "message", "request_id"} <= set(body["error"])
    assert set(body["error"]) <= {"type", "code", "message", "param", "request_id"}
    assert all(isinstance(v, str) and v for v in body["error"].values())


async def test_options_lists_the_same_methods_as_the_405_allow(http_once: httpx.AsyncClient) -> None:
    wrong = await http_once.delete("/payment/request")
    options = await http_once.options("/payment/request")
    assert options.status_code == 204
    allowed = {m.strip() for m in wrong.headers["allow"].split(",")}
    assert {m.strip() for m in options.headers["allow"].split(",")} == allowed
