"""Retries: 429, 500, 502, 503, 504 and failed connections, with exponential back-off
and full jitter or the server's ``Retry-After``; one Idempotency-Key for every attempt
of a write; no retry of any other 4xx."""

from __future__ import annotations

import time as wall_clock
from email.utils import formatdate

import httpx
import pytest

from payreq.client import (
    APIError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from payreq.testing import LocalServer
from tests.client.fakes import FakeTime, Recorder, async_client, client, error, payment_a


def sequence(*answers: httpx.Response | Exception) -> Recorder:
    pending = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = pending.pop(0) if len(pending) > 1 else pending[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Recorder(handler)


def created() -> httpx.Response:
    return httpx.Response(201, json=payment_a())


def create(payreq_client: object, **extra: object) -> None:
    payreq_client.create_payment_request(  # type: ignore[attr-defined]
        amount=10000, currency="USD", redirect_url="https://shop.example/thanks", **extra
    )


def test_retry_after_is_honoured_on_429_and_503() -> None:
    time = FakeTime()
    server = sequence(
        error(429, "rate_limited", "rate_limited", "Too many", headers={"Retry-After": "2"}),
        error(503, "service_unavailable", "service_unavailable", "down", headers={"Retry-After": "3"}),
        httpx.Response(200, json=payment_a()),
    )
    payment = client(server, time, rate_limit=None).get_payment_request("p1")
    assert payment.id == payment_a()["id"]
    assert time.sleeps == [2.0, 3.0]
    assert len(server.api()) == 3


def test_retry_after_as_an_http_date_is_honoured() -> None:
    time = FakeTime()
    date = formatdate(wall_clock.time() + 4, usegmt=True)
    server = sequence(
        error(503, "service_unavailable", "s", "down", headers={"Retry-After": date}), created()
    )
    client(server, time, rate_limit=None).get_payment_request("p1")
    assert len(time.sleeps) == 1 and 2.5 <= time.sleeps[0] <= 4.0


def test_back_off_is_exponential_with_full_jitter() -> None:
    time = FakeTime()
    server = sequence(
        error(502, "bad_gateway", "x", "bad gateway"),
        error(504, "gateway_timeout", "x", "timeout"),
        error(500, "api_error", "internal_error", "boom"),
        httpx.Response(200, json=payment_a()),
    )
    shares = iter([1.0, 0.5, 0.25])
    payreq = client(
        server, time, rate_limit=None, retry=RetryPolicy(base=0.5, cap=8.0, jitter=lambda: next(shares))
    )
    payreq.get_payment_request("p1")
    assert time.sleeps == [1.0 * 0.5, 0.5 * 1.0, 0.25 * 2.0]


def test_back_off_is_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(max_retry_after=60).delay(0, 61) is None


def test_every_retry_of_a_create_carries_one_idempotency_key_and_the_same_bytes() -> None:
    server = sequence(
        error(503, "service_unavailable", "service_unavailable", "down"),
        httpx.ConnectError("refused"),
        error(502, "bad_gateway", "x", "bad gateway"),
        created(),
    )
    payreq = client(server, rate_limit=None)
    create(payreq)
    attempts = server.api()
    assert len(attempts) == 4
    keys = {r.headers["idempotency-key"] for r in attempts}
    assert len(keys) == 1
    assert {r.content for r in attempts} == {
        b'{"amount":"10000","currency":"USD","redirect_url":"https://shop.example/thanks"}'
    }
    create(payreq)  # another call, another key
    assert server.api()[-1].headers["idempotency-key"] not in keys


def test_a_given_idempotency_key_is_used_on_every_attempt() -> None:
    server = sequence(error(503, "service_unavailable", "s", "down"), created())
    create(client(server, rate_limit=None), idempotency_key="order-42-create")
    assert [r.headers["idempotency-key"] for r in server.api()] == ["order-42-create", "order-42-create"]


def test_reads_carry_no_idempotency_key() -> None:
    server = sequence(httpx.Response(200, json=payment_a()))
    client(server).get_payment_request("p1")
    assert "idempotency-key" not in server.api()[0].headers
    assert "idempotency-key" not in server.requests[0].headers  # the token request neither


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, APIError),
        (403, APIError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, ValidationError),
        (422, ValidationError),
    ],
)
def test_other_4xx_are_never_retried(status: int, kind: type[APIError]) -> None:
    server = sequence(error(status, "some_error", "some_code", "no"))
    with pytest.raises(kind):
        create(client(server, token=True, rate_limit=None))
    assert len(server.api()) == 1


def test_max_retries_per_call_and_per_client() -> None:
    down = error(503, "service_unavailable", "service_unavailable", "down")
    server = sequence(down)
    with pytest.raises(ServerError):
        client(server, rate_limit=None).get_payment_request("p1", max_retries=0)
    assert len(server.api()) == 1
    server = sequence(down)
    with pytest.raises(ServerError) as raised:
        client(server, rate_limit=None, max_retries=1).get_payment_request("p1")
    assert len(server.api()) == 2
    assert raised.value.status == 503
    server = sequence(down)
    with pytest.raises(ServerError):
        client(server, rate_limit=None, max_retries=1).get_payment_request("p1", max_retries=4)
    assert len(server.api()) == 5


def test_a_429_after_the_retries_raises_rate_limit_error_with_retry_after() -> None:
    server = sequence(
        error(429, "rate_limited", "rate_limited", "Too many requests.", headers={"Retry-After": "1"})
    )
    with pytest.raises(RateLimitError) as raised:
        client(server, rate_limit=None, max_retries=2).get_payment_request("p1")
    assert raised.value.retry_after == 1.0
    assert len(server.api()) == 3


def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once() -> None:
    time = FakeTime()
    server = sequence(error(429, "rate_limited", "rate_limited", "Too many", headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as raised:
        client(server, time, rate_limit=None).get_payment_request("p1")
    assert raised.value.retry_after == 3600
    assert time.sleeps == []
    assert len(server.api()) == 1


def test_connection_errors_are_retried_then_raised_as_transport_error() -> None:
    server = sequence(httpx.ConnectError("connection refused"))
    with pytest.raises(TransportError) as raised:
        client(server, rate_limit=None, max_retries=2).get_payment_request("p1")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(server.api()) == 3


def test_a_write_whose_answer_was_lost_and_still_runs_is_retried_past_its_409() -> None:
    in_use = error(409, "idempotency_conflict", "idempotency_key_in_use", "still running")
    server = sequence(httpx.ReadTimeout("lost"), in_use, created())
    create(client(server, rate_limit=None))
    assert len(server.api()) == 3


def test_a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_nothing() -> None:
    gone = error(404, "not_found", "resource_missing", "No such")
    server = sequence(httpx.ReadTimeout("lost"), gone)
    assert client(server, rate_limit=None).revoke_client_token("a" * 32, "t1") is None
    server = sequence(gone)
    with pytest.raises(NotFoundError):
        client(server, rate_limit=None).revoke_client_token("a" * 32, "t1")


async def test_the_async_client_retries_the_same_way() -> None:
    time = FakeTime()
    server = sequence(
        error(429, "rate_limited", "rate_limited", "Too many", headers={"Retry-After": "2"}),
        httpx.ConnectError("refused"),
        created(),
    )
    async with async_client(server, time, rate_limit=None) as payreq:
        await payreq.create_payment_request(amount=1, currency="USD", redirect_url="https://shop.example/t")
    assert time.sleeps == [2.0, 1.0]  # Retry-After, then attempt 1's back-off: 0.5 * 2**1
    assert len({r.headers["idempotency-key"] for r in server.api()}) == 1


def test_a_long_retry_after_never_freezes_later_calls() -> None:
    """A 429 asking for an hour: that call raises at once, and so does every later call of
    the client while the hour lasts (none is sent, none sleeps), instead of each one
    sleeping for the hour in the rate limiter."""
    time = FakeTime()
    server = sequence(
        error(429, "rate_limited", "rate_limited", "Too many", headers={"Retry-After": "3600"}),
        httpx.Response(200, json=payment_a()),
    )
    payreq = client(server, time)  # the limiter on, as by default
    with pytest.raises(RateLimitError):
        payreq.get_payment_request("p1")
    with pytest.raises(RateLimitError) as raised:
        payreq.get_payment_request("p2")
    assert raised.value.status == 429
    assert raised.value.retry_after == pytest.approx(3600)
    assert "longer than RetryPolicy.max_retry_after (60 s); not sent" in str(raised.value)
    assert time.sleeps == []
    assert [r.url.path for r in server.api()] == ["/payment/request/p1"]
    time.now += 3600
    assert payreq.get_payment_request("p3").id == payment_a()["id"]


def test_max_retry_after_is_configurable() -> None:
    time = FakeTime()
    server = sequence(
        error(429, "rate_limited", "rate_limited", "Too many", headers={"Retry-After": "90"}),
        httpx.Response(200, json=payment_a()),
    )
    payreq = client(server, time, retry=RetryPolicy(max_retry_after=120))
    assert payreq.get_payment_request("p1").id == payment_a()["id"]
    assert time.sleeps == [90.0]


GONE = error(404, "not_found", "resource_missing", "No such token.")


@pytest.mark.parametrize(
    "first",
    [httpx.ReadTimeout("lost"), httpx.RemoteProtocolError("dropped mid-answer"), 502, 504],
    ids=["read-timeout", "dropped", "502", "504"],
)
def test_a_delete_answered_404_after_an_attempt_that_may_have_done_it_is_done(
    first: Exception | int,
) -> None:
    lost = first if isinstance(first, Exception) else error(first, "api_error", "bad_gateway", "upstream")
    server = sequence(lost, GONE)
    assert client(server, rate_limit=None).revoke_client_token("a" * 32, "t1") is None
    assert len(server.api()) == 2


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route"), 429, 500, 503],
    ids=["refused", "connect-timeout", "429", "500", "503"],
)
def test_a_delete_answered_404_after_an_attempt_that_did_nothing_raises_not_found(
    first: Exception | int,
) -> None:
    """A 429 is refused before anything runs, a 503 serves nothing, payreq's 500 rolled its
    transaction back, and a refused connection never reached it: the 404 that follows is
    the truth (a mistyped id), never a success."""
    failed = first if isinstance(first, Exception) else error(first, "api_error", "failed", "no")
    server = sequence(failed, GONE)
    with pytest.raises(NotFoundError) as raised:
        client(server, rate_limit=None).revoke_client_token("a" * 32, "t1")
    assert (raised.value.status, raised.value.code) == (404, "resource_missing")
    assert len(server.api()) == 2


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_a_success(status: int) -> None:
    moved = httpx.Response(status, headers={"Location": "https://login.example/"})
    server = sequence(moved)
    with pytest.raises(APIError) as raised:
        client(server, rate_limit=None).delete_application("a" * 32)
    assert raised.value.status == status
    assert str(raised.value) == (
        f"[{status}] DELETE /api/payment-applications/{'a' * 32}: the answer is {status} "
        f"{moved.reason_phrase} to https://login.example/, not a success (204); payreq never "
        "redirects an API call, so base_url may be wrong or a proxy answered"
    )
    with pytest.raises(APIError) as read:
        client(sequence(moved), rate_limit=None).get_payment_request("p1")
    assert read.value.status == status and "not a success (2xx)" in str(read.value)


def test_a_delete_answered_200_is_not_the_documented_success() -> None:
    server = sequence(httpx.Response(200, json={}))
    with pytest.raises(APIError, match=r"not a success \(204\)"):
        client(server, rate_limit=None).revoke_client_token("a" * 32, "t1")


def test_a_real_delete_is_204_and_a_second_one_raises_not_found(local_server: LocalServer) -> None:
    payreq = local_server.client
    app = payreq.create_application(name="to archive").client_id
    assert payreq.delete_application(app) is None
    with pytest.raises(NotFoundError) as raised:
        payreq.delete_application(app)
    assert raised.value.status == 404
