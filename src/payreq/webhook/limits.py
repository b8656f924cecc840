"""Per-application limits on what makes the sender send at a merchant's request (test
events, redeliveries; replays per account): a hostile tenant must not turn the gateway into a cannon aimed
at any URL it saves. Budgets of the rate limiter (``payreq.ratelimit``): a sliding
window of a minute per application, in memory or in Redis across processes; past one
the request is answered 429 ``rate_limited``-style with ``Retry-After`` and nothing is
sent. The API and the dashboard spend the same budgets (a service calls these)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from payreq import metrics
from payreq.errors import RateLimited
from payreq.ratelimit.backend import Budget
from payreq.ratelimit.limiter import RateLimiter

WINDOW = 60.0
"""Seconds of each budget's window."""


@dataclass(frozen=True, slots=True)
class SendLimits:
    limiter: RateLimiter | None = None
    """None: no limit (a service built without one, as in some unit tests)."""
    test_events: int = 5
    """Test events per application per minute (``PAYREQ_WEBHOOK_TEST_RATE_LIMIT``)."""
    redeliveries: int = 30
    """Redeliveries per application per minute (``PAYREQ_WEBHOOK_REDELIVER_RATE_LIMIT``)."""
    replays: int = 5
    """Replays (every failed event since a time) per account and environment per minute
    (``PAYREQ_WEBHOOK_REPLAY_RATE_LIMIT``)."""

    async def test_event(self, application_id: UUID) -> None:
        """Spend one test event of the application's budget; 429 past it."""
        await self._spend(
            f"wh:test:{application_id}", self.test_events, "test events", "test_event_rate_limited"
        )

    async def redelivery(self, application_id: UUID) -> None:
        """Spend one redelivery of the application's budget; 429 past it."""
        await self._spend(
            f"wh:redeliver:{application_id}", self.redeliveries, "redeliveries", "redelivery_rate_limited"
        )

    async def replay(self, account_id: UUID, environment: str) -> None:
        """Spend one replay of the account's budget in this environment; 429 past it."""
        await self._spend(
            f"wh:replay:{account_id}:{environment}",
            self.replays,
            "replays",
            "replay_rate_limited",
            whose="this account",
        )

    async def _spend(
        self, key: str, limit: int, what: str, code: str, *, whose: str = "this application"
    ) -> None:
        if self.limiter is None:
            return
        decision = await self.limiter.spend([Budget(key, limit, WINDOW, name="application")])
        if decision is None or decision.allowed:
            return
        metrics.rate_limited.labels("application").inc()
        raise RateLimited(
            f"More than {limit} {what} per minute for {whose}; retry after {decision.retry_after} s.",
            code=code,
            headers={"Retry-After": str(decision.retry_after)},
        )
