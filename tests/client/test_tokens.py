"""Access tokens: fetched on first use, cached, refreshed shortly before ``expires_in``
runs out and once on a 401; a client token is sent as it is."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from payreq.client import AuthenticationError
from tests.client.fakes import FakeTime, Recorder, async_client, client, error, payment_a, token_answer


def bearer(request: httpx.Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=payment_a())


def test_the_token_is_fetched_once_with_basic_auth_and_reused() -> None:
    server = Recorder(ok)
    payreq = client(server)
    for _ in range(3):
        payreq.get_payment_request("p1")
    assert server.token_calls() == 1
    token_request = server.requests[0]
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"id:s").decode()
    assert token_request.content == b"grant_type=client_credentials"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert [bearer(r) for r in server.api()] == ["tok-1"] * 3


def test_the_token_is_refreshed_shortly_before_it_expires() -> None:
    time = FakeTime()
    answers = iter([token_answer("tok-1", expires_in=100), token_answer("tok-2", expires_in=100)])
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return next(answers) if request.url.path == "/oauth/token" else ok(request)

    payreq = client(handler, time)
    payreq.get_payment_request("p1")
    time.now += 89  # 100 s token, refreshed 10 s before it runs out
    payreq.get_payment_request("p1")
    time.now += 2
    payreq.get_payment_request("p1")
    paths = [r.url.path for r in requests]
    assert paths == [
        "/oauth/token",
        "/payment/request/p1",
        "/payment/request/p1",
        "/oauth/token",
        "/payment/request/p1",
    ]
    assert [bearer(r) for r in requests if r.url.path != "/oauth/token"] == ["tok-1", "tok-1", "tok-2"]


def test_a_401_fetches_a_new_token_and_sends_again_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if bearer(request) == "tok-1":
            return error(401, "authentication_error", "invalid_token", "Unauthenticated")
        return ok(request)

    server = Recorder(handler)
    payment = client(server).get_payment_request("p1")
    assert payment.amount == 10000
    assert server.token_calls() == 2
    assert [bearer(r) for r in server.api()] == ["tok-1", "tok-2"]


def test_a_second_401_is_raised_rather_than_looping() -> None:
    server = Recorder(lambda r: error(401, "authentication_error", "invalid_token", "Unauthenticated"))
    with pytest.raises(AuthenticationError) as raised:
        client(server).get_payment_request("p1")
    assert raised.value.status == 401
    assert raised.value.message == "Unauthenticated"
    assert server.token_calls() == 2
    assert len(server.api()) == 2


def test_a_401_keeps_the_writes_idempotency_key_and_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if bearer(request) == "tok-1":
            return error(401, "authentication_error", "invalid_token", "Unauthenticated")
        return httpx.Response(201, json=payment_a())

    server = Recorder(handler)
    client(server).create_payment_request(amount=10000, currency="USD", redirect_url="https://shop.example/t")
    first, second = server.api()
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.content == second.content


def test_a_client_token_is_sent_as_is_and_its_401_raised() -> None:
    server = Recorder(lambda r: error(401, "authentication_error", "invalid_token", "Unauthenticated"))
    with pytest.raises(AuthenticationError):
        client(server, token=True).get_payment("p1")
    assert server.token_calls() == 0
    assert [bearer(r) for r in server.api()] == ["prq_ct_sbx_x"]


def test_wrong_api_key_credentials_raise_authentication_error_with_the_oauth_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_client", "error_description": "Client authentication failed."}
        return httpx.Response(403, json=body)

    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    with pytest.raises(AuthenticationError) as raised:
        client(record).get_payment_request("p1")
    assert (raised.value.status, raised.value.code, raised.value.type) == (
        403,
        "invalid_client",
        "invalid_client",
    )
    assert raised.value.message == "Client authentication failed."
    assert len(requests) == 1  # never retried, never reached the API


async def test_concurrent_async_calls_share_one_token_fetch() -> None:
    server = Recorder(ok)
    async with async_client(server, rate_limit=None) as payreq:
        await asyncio.gather(*(payreq.get_payment_request("p1") for _ in range(5)))
        time_ = payreq._core.tokens  # the cache holds the one token
        assert time_.token == "tok-1"
    assert server.token_calls() == 1
    assert len(server.api()) == 5
