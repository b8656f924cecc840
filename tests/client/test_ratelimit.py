"""The client-side limiter keeps one client under its key's budget, learns the budget
from the RateLimit-* headers, and counts token requests too."""

from __future__ import annotations

import asyncio
import time as wall_clock
from collections import deque

import httpx
import pytest

from payreq.client import AsyncClient, Client
from payreq.client._ratelimit import MARGIN, RateLimiter
from tests.client.fakes import BASE, FakeTime, Recorder, async_client, client, payment_a


class SlidingWindowServer:
    """The server's rule (SPEC §4): at most ``limit`` admitted requests in any second,
    on the fake clock; every answer carries the headers payreq sends."""

    def __init__(self, time: FakeTime, limit: int) -> None:
        self.time = time
        self.limit = limit
        self.admitted: deque[float] = deque()
        self.refused = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.time.now
        while self.admitted and self.admitted[0] <= now - 1.0:
            self.admitted.popleft()
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Policy": f"{self.limit};w=1"}
        if len(self.admitted) >= self.limit:
            self.refused += 1
            headers.update({"Retry-After": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
            return httpx.Response(
                429,
                headers=headers,
                json={"error": {"type": "rate_limited", "code": "rate_limited", "message": "no"}},
            )
        self.admitted.append(now)
        headers.update({"RateLimit-Remaining": str(self.limit - len(self.admitted)), "RateLimit-Reset": "1"})
        if request.url.path == "/oauth/token":
            body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600, "scope": "*"}
            return httpx.Response(200, json=body, headers=headers)
        return httpx.Response(200, json=payment_a(), headers=headers)


def test_a_limiter_admits_its_limit_then_waits_for_the_oldest_to_leave_the_window() -> None:
    time = FakeTime()
    limiter = RateLimiter(3, clock=time.clock)
    for _ in range(3):
        assert limiter.try_start() == 0.0
        limiter.finish()
    wait = limiter.try_start()
    assert wait == pytest.approx(1.0 + MARGIN)
    time.now += wait
    assert limiter.try_start() == 0.0


def test_requests_in_flight_hold_their_slot_until_answered() -> None:
    time = FakeTime()
    limiter = RateLimiter(2, clock=time.clock)
    assert limiter.try_start() == 0.0
    assert limiter.try_start() == 0.0
    time.now += 5  # both still in flight: their admission time is not known yet
    assert limiter.try_start() > 0
    limiter.finish()
    time.now += 1.0 + MARGIN
    assert limiter.try_start() == 0.0


def test_the_limit_and_window_are_learnt_from_the_headers() -> None:
    time = FakeTime()
    limiter = RateLimiter(5, clock=time.clock)
    assert limiter.try_start() == 0.0
    limiter.finish(
        {
            "ratelimit-limit": "2",
            "ratelimit-remaining": "1",
            "ratelimit-reset": "1",
            "ratelimit-policy": "2;w=10",
        }
    )
    assert (limiter.limit, limiter.window) == (2, 10.0)
    assert limiter.try_start() == 0.0
    limiter.finish()
    assert limiter.try_start() == pytest.approx(10.0 + MARGIN)


def test_remaining_zero_and_retry_after_hold_every_request() -> None:
    time = FakeTime()
    limiter = RateLimiter(100, clock=time.clock)
    assert limiter.try_start() == 0.0
    limiter.finish({"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "1"})
    assert limiter.try_start() == pytest.approx(1.0 + MARGIN)  # someone else spends the same key
    time.now += 2
    assert limiter.try_start() == 0.0
    limiter.finish(retry_after=3.0)
    assert limiter.try_start() == pytest.approx(3.0)


def test_twenty_calls_in_a_row_meet_no_429_and_the_token_request_counts() -> None:
    time = FakeTime()
    server = SlidingWindowServer(time, limit=5)
    payreq = client(Recorder(server), time)  # starts from the documented 5 per second
    started = time.now
    for _ in range(20):
        payreq.get_payment_request("p1")
    assert server.refused == 0
    # 21 requests (the token's and 20 reads) at 5 per second: 4 full windows of waiting
    assert 4.0 <= time.now - started < 4.5


def test_a_budget_the_server_raised_is_used() -> None:
    time = FakeTime()
    server = SlidingWindowServer(time, limit=50)
    payreq = client(Recorder(server), time)
    for _ in range(40):
        payreq.get_payment_request("p1")
    assert server.refused == 0
    assert time.now - 1000.0 < 1.1  # learnt 50/s from the first answer: one wait at most


def test_a_budget_the_server_lowered_is_learnt_after_one_429() -> None:
    time = FakeTime()
    server = SlidingWindowServer(time, limit=2)
    payreq = client(Recorder(server), time)
    for _ in range(10):
        payreq.get_payment_request("p1")
    assert server.refused <= 1


async def test_concurrent_async_calls_stay_under_the_budget() -> None:
    time = FakeTime()
    server = SlidingWindowServer(time, limit=5)
    async with async_client(Recorder(server), time) as payreq:
        await asyncio.gather(*(payreq.get_payment_request("p1") for _ in range(15)))
    assert server.refused == 0


async def test_cancelled_calls_give_their_slot_back() -> None:
    """Calls cancelled (or timed out) while in flight free their limiter slot: after more
    cancelled calls than the limit allows at once, a normal call is still answered."""
    hang = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/slow"):
            await hang.wait()  # never set: the answer never comes
        return httpx.Response(200, json=payment_a())

    payreq = AsyncClient(
        BASE, client_token="prq_ct_sbx_x", transport=httpx.MockTransport(handler), rate_limit=5
    )
    async with payreq:
        for _ in range(7):  # more than the limit of 5
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(payreq.get_payment_request("slow"), 0.05)
        calls = [asyncio.ensure_future(payreq.get_payment_request("slow")) for _ in range(3)]
        await asyncio.sleep(0.05)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        payment = await asyncio.wait_for(payreq.get_payment_request("p1"), 5.0)
    assert payment.id == payment_a()["id"]


def test_an_interrupted_sync_call_gives_its_slot_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/slow"):
            raise KeyboardInterrupt  # Ctrl-C while the answer is awaited
        return httpx.Response(200, json=payment_a())

    time = FakeTime()

    def sleep(seconds: float) -> None:
        if len(time.sleeps) > 100:
            raise AssertionError("the call waits for ever: the interrupted calls kept their slot")
        time.sleep(seconds)

    payreq = Client(
        BASE,
        client_token="prq_ct_sbx_x",
        transport=httpx.MockTransport(handler),
        rate_limit=1,
        clock=time.clock,
        sleep=sleep,
    )
    for _ in range(3):
        with pytest.raises(KeyboardInterrupt):
            payreq.get_payment_request("slow")
    assert payreq.get_payment_request("p1").id == payment_a()["id"]
    assert time.sleeps and max(time.sleeps) <= 1.0 + MARGIN  # waited for the window, not for ever


def answer(status: int, name: str, limit: int, remaining: int, reset: int = 1) -> httpx.Response:
    """An answer with the headers payreq sends for the budget that binds (``name``)."""
    headers = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f'"{name}";q={limit};w=1',
        "RateLimit": f'"{name}";r={remaining};t={reset}',
    }
    if status == 429:
        headers["Retry-After"] = str(reset)
        body = {"error": {"type": "rate_limited", "code": "account_rate_limited", "message": "no"}}
        return httpx.Response(429, headers=headers, json=body)
    return httpx.Response(status, headers=headers, json=payment_a())


def test_the_accounts_budget_never_becomes_the_keys() -> None:
    time = FakeTime()
    limiter = RateLimiter(5, clock=time.clock)
    assert limiter.try_start() == 0.0
    limiter.finish(answer(200, "account", 50, 3).headers)  # other credentials spend the account
    assert limiter.limit == 5
    assert limiter.budgets == {"key": (5, 1.0), "account": (50, 1.0)}
    for _ in range(4):
        assert limiter.try_start() == 0.0
        limiter.finish()
    assert limiter.try_start() == pytest.approx(1.0 + MARGIN)  # the key's 5, not the account's 50


@pytest.mark.parametrize(
    ("policy", "budgets"),
    [
        ('"key";q=5;w=1', {"key": (5, 1.0)}),
        ('"key";q=5;w=1, "account";q=50;w=1', {"key": (5, 1.0), "account": (50, 1.0)}),
        ('"account";q=50;w=1,"key";q=2;w=10', {"key": (2, 10.0), "account": (50, 1.0)}),
        ("key;q=3;w=0.5", {"key": (3, 0.5)}),  # a Token and a Decimal
        ('"key";q=4', {"key": (4, 1.0)}),  # w defaults to 1 s
        ("7;w=2", {"key": (7, 2.0)}),  # an older draft's integer quota
        ('"key";q=0;w=1', {"key": (5, 1.0)}),  # not a quota: ignored
        ('"key";q=5;w=1;;', {"key": (5, 1.0)}),  # not a structured field: ignored as a whole
        ('("key");q=9;w=1', {"key": (5, 1.0)}),  # an inner list is no policy
        ('"key";q=?1;w=1', {"key": (5, 1.0)}),
        ('"key";q=9;w=100000', {"key": (5, 1.0)}),  # a window over an hour
    ],
)
def test_ratelimit_policy_is_read_as_a_structured_field(
    policy: str, budgets: dict[str, tuple[int, float]]
) -> None:
    limiter = RateLimiter(5, clock=FakeTime().clock)
    limiter.try_start()
    limiter.finish({"ratelimit-policy": policy, "ratelimit-limit": "99"})
    assert limiter.budgets == budgets


def test_a_budget_with_nothing_left_in_ratelimit_holds_every_request() -> None:
    time = FakeTime()
    limiter = RateLimiter(5, clock=time.clock)
    limiter.try_start()
    limiter.finish(answer(200, "account", 50, 0).headers)
    assert limiter.try_start() == pytest.approx(1.0 + MARGIN)


async def test_after_the_account_refuses_the_client_keeps_to_the_keys_budget() -> None:
    """Other credentials exhaust the account for its first second: every answer is the
    account's 429 (``"account";q=50``). When the wait ends the queued calls must still
    start at the key's 5 per second, not the 50 the account's headers name. (Real time:
    the calls are truly in flight together.)"""
    key: deque[float] = deque()
    refused_by_key = 0
    started = wall_clock.monotonic()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refused_by_key
        await asyncio.sleep(0.01)  # the other calls start while this one is in flight
        now = wall_clock.monotonic()
        if now < started + 0.5:
            return answer(429, "account", 50, 0)
        while key and key[0] <= now - 1.0:
            key.popleft()
        if len(key) >= 5:
            refused_by_key += 1
            return answer(429, "key", 5, 0)
        key.append(now)
        return answer(200, "key", 5, 5 - len(key))

    payreq = AsyncClient(
        BASE, client_token="prq_ct_sbx_x", transport=httpx.MockTransport(handler), max_retries=10
    )
    async with payreq:
        await asyncio.gather(*(payreq.get_payment_request("p1") for _ in range(12)))
    assert refused_by_key == 0
