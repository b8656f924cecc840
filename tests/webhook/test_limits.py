"""The send limits: per application, shared across server processes (two limiters on
one Redis, as two ``payreq serve`` processes); replays per account, over the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from payreq.errors import RateLimited
from payreq.ratelimit.limiter import RateLimiter
from payreq.webhook.limits import SendLimits
from tests.fixtures.factories import Merchant
from tests.payment.conftest import error_of
from tests.ratelimit.conftest import REDIS_URL, redis_prefix  # noqa: F401 (a fixture)


async def test_two_processes_share_one_applications_test_event_budget(redis_prefix: str) -> None:  # noqa: F811
    limiters = [
        RateLimiter(default_limit=5, redis_url=REDIS_URL, redis_prefix=redis_prefix) for _ in range(2)
    ]
    try:
        first, second = (SendLimits(limiter, test_events=5, redeliveries=3) for limiter in limiters)
        application, other = uuid.uuid4(), uuid.uuid4()
        for i in range(5):
            await (first if i % 2 else second).test_event(application)
        for limits in (first, second):
            with pytest.raises(RateLimited) as refused:
                await limits.test_event(application)
            assert refused.value.code == "test_event_rate_limited"
            assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
        await first.test_event(other)  # another application's budget is its own
        for limits in (first, second, first):
            await limits.redelivery(application)  # and redeliveries have their own
        with pytest.raises(RateLimited) as refused:
            await second.redelivery(application)
        assert refused.value.code == "redelivery_rate_limited"
        assert all(limiter.status().backend == "redis" for limiter in limiters)
    finally:
        for limiter in limiters:
            await limiter.close()


async def test_replays_past_5_a_minute_per_account_are_429(merchant: Merchant) -> None:
    since = {"since": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for _ in range(5):
        answer = await merchant.http.post("/api/events/replay", json=since, headers=await merchant.headers())
        assert answer.status_code == 202, answer.text
    refused = await merchant.http.post("/api/events/replay", json=since, headers=await merchant.headers())
    error = error_of(refused, 429, "rate_limited")
    assert error["code"] == "replay_rate_limited"
    assert error["message"].startswith("More than 5 replays per minute for this account; retry after ")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
