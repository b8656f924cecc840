"""The per-application send limits hold across server processes: two limiters on one
Redis (two ``payreq serve`` processes) share each application's budget."""

from __future__ import annotations

import uuid

import pytest

from payreq.errors import RateLimited
from payreq.ratelimit.limiter import RateLimiter
from payreq.webhook.limits import SendLimits
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
