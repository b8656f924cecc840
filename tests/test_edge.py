"""The lean hot routes (payreq/edge.py) answer exactly as the framework's handlers do:
the same requests go to an app with ``lean_routes`` on and to one with it off (same
database, same services' rules), and status, headers and body must match. And the edge
routes the path as sent: an encoded slash never splits a segment, an empty segment is
no route (both apps, every surface)."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from litestar import Litestar

from payreq.app import create_app
from payreq.config import Settings
from payreq.db import Database
from payreq.edge import Edge, exact_path
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


# -- the path as sent (edge.exact_path) ------------------------------------------------


def test_an_encoded_slash_stays_in_its_segment_and_an_empty_segment_is_no_route() -> None:
    def routed(raw: bytes) -> str | None:
        return exact_path({"path": unquote(raw.decode()), "raw_path": raw})

    assert routed(b"/api/payment-applications/app%2Ftokens") == "/api/payment-applications/app%2Ftokens"
    assert routed(b"/a%2fb%20c%252F") == "/a%2Fb c%2F"  # other escapes decode as the server did
    assert routed(b"/payment/request/abc") == "/payment/request/abc"
    assert routed(b"/") == "/"
    for raw in (b"/payment/request/", b"/payment/request//", b"/payment//request", b"//payment/request"):
        assert routed(raw) is None, raw


def _answer(answer: httpx.Response) -> tuple[int, str | None, str, Any]:
    """What a client can tell apart: status, Allow, the media type, the error (its id aside)."""
    body: Any = None
    if answer.headers["content-type"].startswith("application/json"):
        body = {k: v for k, v in answer.json()["error"].items() if k != "request_id"}
    return answer.status_code, answer.headers.get("allow"), answer.headers["content-type"], body


async def test_an_id_holding_an_encoded_slash_is_answered_as_an_unknown_id(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    """``%2F`` is part of the id, never a path separator: ``{app}%2Ftokens`` is not the
    token list, ``{id}%2Fcancel`` cancels nothing (both once did: the server decodes
    ``%2F`` before routing). Each gets what an unknown id at that place gets."""
    payment = (await merchant.create_payment(reference_id="edge-slash"))["id"]
    app = merchant.credentials.application_client_id
    bearer = await merchant.headers()
    tokens = await http.get(f"/api/payment-applications/{app}/tokens", headers=bearer)
    token_id = tokens.json()["data"][0]["id"]
    unknown = str(uuid.uuid4())
    cases = [
        ("GET", f"/payment/request/{payment}%2Fcancel", f"/payment/request/{unknown}"),
        ("POST", f"/payment/request/{payment}%2Fcancel", f"/payment/request/{unknown}"),
        ("GET", f"/payment/request/{payment}%2F", f"/payment/request/{unknown}"),
        ("GET", "/payment/request/%2F", f"/payment/request/{unknown}"),
        ("GET", f"/api/payment-applications/{app}%2Ftokens", f"/api/payment-applications/{unknown}"),
        ("GET", f"/api/payment-applications/{app}%2ftokens", f"/api/payment-applications/{unknown}"),
        (
            "DELETE",
            f"/api/payment-applications/{app}%2Ftokens%2F{token_id}",
            f"/api/payment-applications/{unknown}",
        ),
        ("POST", f"/api/payment-applications/{app}%2Fwebhook-secret", f"/api/payment-applications/{unknown}"),
        (
            "GET",
            f"/api/payment/{payment}%2Finstructions?method=sandbox",
            f"/api/payment/{unknown}?method=sandbox",
        ),
        ("GET", f"/checkout/{payment}%2Fstatus", f"/checkout/{unknown}"),
        ("POST", f"/checkout/{payment}%2Fcancel", f"/checkout/{unknown}"),
    ]
    for client in (http, framework):
        for method, sent, twin in cases:
            got = await client.request(method, sent, headers=bearer)
            expected = await client.request(method, twin, headers=bearer)
            assert _answer(got) == _answer(expected), (method, sent, got.text[:200])
            assert got.status_code in (404, 405), (method, sent)
    # nothing was cancelled, revoked or rotated, and the credential still works
    read = await http.get(f"/payment/request/{payment}", headers=bearer)
    assert read.json()["status"] == "pending"
    client_token = {"Authorization": f"Bearer {merchant.credentials.client_token}"}
    assert (await http.get(f"/api/payment/{payment}", headers=client_token)).status_code == 200


async def test_a_path_with_an_empty_segment_is_no_route(
    http: httpx.AsyncClient, framework: httpx.AsyncClient, merchant: Merchant
) -> None:
    """Only the documented paths answer: ``/payment/request//`` is not the list (the
    framework drops empty segments and a trailing slash), nor is ``/payment/request/``
    a place to create one; each is the 404 of a route that does not exist."""
    payment = (await merchant.create_payment(reference_id="edge-empty"))["id"]
    bearer = await merchant.headers()
    body = {"amount": "1000", "currency": "USD", "redirect_url": "https://shop.example/thanks"}
    no_route = _answer(await http.get("/no/such/route", headers=bearer))
    assert no_route[0] == 404 and no_route[3]["code"] == "route_not_found"
    for client in (http, framework):
        for method, path in (
            ("GET", "/payment/request/"),
            ("GET", "/payment/request//"),
            ("GET", "/payment//request"),
            ("GET", "//payment/request"),
            ("GET", f"/payment/request/{payment}/"),
            ("GET", f"/payment/request//{payment}"),
            ("POST", "/payment/request/"),
            ("POST", f"/payment/request/{payment}//cancel"),
            ("GET", "/api/payments/"),
            ("GET", "/api/payment-applications//"),
            ("GET", f"/api/payment/{payment}//instructions?method=sandbox"),
            ("GET", "/healthz/"),
        ):
            answer = await client.request(
                method, path, headers=bearer, json=body if method == "POST" else None
            )
            assert _answer(answer) == no_route, (method, path, answer.text[:200])
    listed = await http.get("/payment/request", headers=bearer)
    assert [p["id"] for p in listed.json()["data"]] == [payment]  # nothing created
    assert listed.json()["data"][0]["status"] == "pending"  # nor cancelled
    # a page tolerates the trailing slash a person types, not an empty segment; its 404 is a page
    assert (await http.get(f"/checkout/{payment}/")).status_code == 200
    page = await http.get(f"/checkout//{payment}")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
