"""The lean hot routes (payreq/edge.py) answer exactly as the framework's handlers do:
the same requests go to an app with ``lean_routes`` on and to one with it off (same
database, same services' rules), and status, headers and body must match."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.edge import Edge
from tests.conftest import BASE_URL, MovableClock
from tests.fixtures.factories import Merchant

RID = "req-edge-test-0001"
# generated per answer: ids, timestamps, tokens; the remaining budget (each app has its
# own in-memory limiter) and the seconds to its reset
VOLATILE_HEADERS = {"date", "ratelimit-remaining", "ratelimit-reset", "content-length", "ratelimit"}
_VOLATILE = re.compile(rb'"(id|access_token|checkout_url|created_at|expires_at)":"[^"]*"')


@pytest.fixture(scope="session")
def framework_app(settings: Settings, db: Database, clock: MovableClock) -> Litestar:
    return create_app(
        settings.model_copy(update={"lean_routes": False}), db=db, clock=clock, run_worker=False
    )


@pytest.fixture
async def framework(framework_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=framework_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def _shape(answer: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in VOLATILE_HEADERS}
    if "ratelimit" in answer.headers:  # its name of the binding budget is not volatile
        headers["ratelimit"] = answer.headers["ratelimit"].split(";")[0]
    return answer.status_code, headers, _VOLATILE.sub(rb'"\1":"*"', answer.content)


async def _both(
    lean: httpx.AsyncClient, framework: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    headers = {"X-Request-ID": RID, **kwargs.pop("headers", {})}
    a = await lean.request(method, url, headers=headers, **kwargs)
    b = await framework.request(method, url, headers=headers, **kwargs)
    assert _shape(a) == _shape(b), f"{method} {url}:\nlean      {_shape(a)}\nframework {_shape(b)}"
    return _shape(a)


def test_the_edge_takes_only_the_hot_routes() -> None:
    def takes(method: str, path: str) -> bool:
        return Edge.route({"method": method, "path": path}) is not None

    assert takes("GET", "/payment/request/abc")
    assert takes("POST", "/payment/request")
    assert takes("POST", "/oauth/token")
    assert not takes("GET", "/payment/request/")
    assert not takes("GET", "/payment/request")
    assert not takes("GET", "/payment/request/abc/")
    assert not takes("HEAD", "/payment/request/abc")
    assert not takes("POST", "/payment/request/abc/cancel")
    assert not takes("POST", "/oauth/revoke")


async def test_get_answers_match(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    created = await merchant.create_payment(reference_id="edge")
    bearer = await merchant.headers()
    path = f"/payment/request/{created['id']}"
    status, headers, _ = await _both(http, framework, "GET", path, headers=bearer)
    assert status == 200 and headers["x-request-id"] == RID and "ratelimit-limit" in headers
    assert (await _both(http, framework, "GET", path))[0] == 401
    assert (await _both(http, framework, "GET", path, headers={"Authorization": "Bearer prq_at_sbx_nope"}))[
        0
    ] == 401
    assert (await _both(http, framework, "GET", path + "?access_token=x", headers=bearer))[0] == 401
    assert (await _both(http, framework, "GET", "/payment/request/not-a-uuid", headers=bearer))[0] == 404
    narrow = {"Authorization": f"Bearer {await merchant.token('payments.create')}"}
    assert (await _both(http, framework, "GET", path, headers=narrow))[0] == 403


async def test_post_answers_match(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    bearer = await merchant.headers()
    body = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}
    status, headers, _ = await _both(http, framework, "POST", "/payment/request", json=body, headers=bearer)
    assert status == 201 and headers["content-type"] == "application/json"
    for content, expected in (
        (b"{", 400),
        (b"[]", 400),
        (b'{"currency": "USD"}', 400),
        (b'{"amount": "-5", "currency": "USD", "redirect_url": "https://a.example/"}', 422),
        (b'{"amount": "1000", "currency": "XXX", "redirect_url": "https://a.example/"}', 422),
        (b"x" * (70 * 1024), 413),
    ):
        answer = await _both(http, framework, "POST", "/payment/request", content=content, headers=bearer)
        assert answer[0] == expected, answer
    assert (await _both(http, framework, "POST", "/payment/request", json=body))[0] == 401
    narrow = {"Authorization": f"Bearer {await merchant.token('payments.get')}"}
    assert (await _both(http, framework, "POST", "/payment/request", json=body, headers=narrow))[0] == 403


async def test_keyed_post_answers_match(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    bearer = await merchant.headers()
    body = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}
    first = await http.post("/payment/request", json=body, headers={**bearer, "Idempotency-Key": "edge-1"})
    assert first.status_code == 201
    # the framework's app replays what the lean route stored, and the reverse
    replay = await framework.post(
        "/payment/request", json=body, headers={**bearer, "Idempotency-Key": "edge-1"}
    )
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    status, _, _ = await _both(
        http,
        framework,
        "POST",
        "/payment/request",
        json={**body, "amount": "2"},
        headers={**bearer, "Idempotency-Key": "edge-1"},
    )
    assert status == 422


async def test_token_answers_match(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    client_id, secret = merchant.basic
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, content = await _both(
        http,
        framework,
        "POST",
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={**form, "Authorization": basic},
    )
    assert status == 200 and headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"
    assert b'"token_type":"Bearer"' in content
    wrong = "Basic " + base64.b64encode(f"{client_id}:wrong".encode()).decode()
    for content, extra, expected in (
        (b"grant_type=client_credentials", {"Authorization": wrong}, 403),
        (b"grant_type=password", {"Authorization": basic}, 400),
        (b"grant_type=client_credentials&grant_type=x", {"Authorization": basic}, 400),
        (b"grant_type=client_credentials", {"Authorization": basic, "Content-Type": "application/json"}, 400),
        (b"grant_type=client_credentials&scope=nope", {"Authorization": basic}, 400),
        (b"x" * (70 * 1024), {"Authorization": basic}, 413),
    ):
        answer = await _both(
            http, framework, "POST", "/oauth/token", content=content, headers={**form, **extra}
        )
        assert answer[0] == expected, answer


async def test_head_answers_as_get_does_without_the_content(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    """RFC 9110 9.3.2: every GET resource answers HEAD with the GET's status and headers
    and no content, on the lean route and through the framework (uptime checks use HEAD)."""
    created = await merchant.create_payment(reference_id="edge-head")
    bearer = await merchant.headers()
    for client in (http, framework):
        for path, headers, status in (
            (f"/payment/request/{created['id']}", bearer, 200),
            (f"/payment/request/{created['id']}", {}, 401),
            ("/healthz", {}, 200),
            ("/api/payments", bearer, 200),
        ):
            got = await client.get(path, headers={"X-Request-ID": RID, **headers})
            head = await client.head(path, headers={"X-Request-ID": RID, **headers})
            assert (head.status_code, head.content) == (status, b""), path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert head.headers["x-request-id"] == RID
            if status == 401:
                assert head.headers["www-authenticate"] == got.headers["www-authenticate"]
    # HEAD changes nothing a GET would not: the payment is still the same one, still pending
    again = await http.get(f"/payment/request/{created['id']}", headers=bearer)
    assert again.json()["status"] == created["status"]
    # and where GET is allowed, Allow names HEAD too
    wrong = await http.delete("/healthz")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    options = await http.options("/payment/request")
    assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, OPTIONS, POST")
