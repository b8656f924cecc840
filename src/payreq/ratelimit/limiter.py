"""The rate-limit policy: per credential and per account, and per client address for
failed logins.

- Every authenticated request spends the budget of its API key (all access tokens
  minted from one client_id share it) or of its client token: ``limit`` requests in
  any one second (the key's own limit, else ``PAYREQ_DEFAULT_RATE_LIMIT``); and, at
  the same time, the budget of its account and environment (the account's own limit,
  else ``PAYREQ_ACCOUNT_RATE_LIMIT``), so that more credentials never multiply what
  one merchant may send. A request is admitted only if both have room.
- Failed authentication (missing or bad bearer tokens, wrong client secrets at
  ``/oauth/token``) is counted per client address; past ``auth_failure_limit`` in
  ``auth_failure_window`` seconds the address's failing attempts are answered 429
  instead of 401. Only failures are refused: a valid credential from the same address
  (a NAT, a proxy, a cron job with one stale token beside good ones) is checked and
  served as usual. Secrets are 128-bit random values, so refusing failures is about
  cost, not guessing.
- If Redis stops answering, the limiter falls back to process memory (the limit then
  holds per process), logs a warning at most once a minute, tries Redis again after
  a few seconds, and ``/readyz`` reports it: a down limiter must not take payments down.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError

from payreq.ratelimit.backend import Budget, Decision, MemoryBackend, RedisBackend

log = structlog.get_logger("payreq.ratelimit")
RETRY_REDIS_AFTER = 5.0
WARN_EVERY = 60.0
BUDGETS_KEPT = 10_000
"""Credentials whose budget lists are kept for their next request (then all forgotten)."""


@dataclass(frozen=True, slots=True)
class LimiterStatus:
    backend: str
    healthy: bool
    detail: str


class RateLimiter:
    def __init__(
        self,
        *,
        default_limit: int,
        account_limit: int = 50,
        redis_url: str | None = None,
        redis_prefix: str = "payreq:rl:",
        failure_limit: int = 10,
        failure_window: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.default_limit = default_limit
        self.account_limit = account_limit
        self.failure_limit = failure_limit
        self.failure_window = failure_window
        self.enabled = enabled
        self.memory = MemoryBackend()
        self.shared: RedisBackend | None = RedisBackend(redis_url, prefix=redis_prefix) if redis_url else None
        self._shared_down_until = 0.0
        self._last_warning = -WARN_EVERY
        self._last_error = ""
        self._blocked: dict[str, float] = {}
        self._budgets: dict[tuple[str, int, str | None, int], list[Budget]] = {}

    # -- per credential -------------------------------------------------------------

    async def hit(
        self,
        key: str,
        limit: int | None,
        *,
        account: str | None = None,
        account_limit: int | None = None,
    ) -> Decision | None:
        """Spend one request of ``key``'s budget (``limit`` per second, else the default)
        and of ``account``'s; None when limiting is off. The decision names the budget
        that refused, else the one with the least room left."""
        if not self.enabled:
            return None
        limits = (key, limit or self.default_limit, account, account_limit or self.account_limit)
        budgets = self._budgets.get(limits)
        if budgets is None:  # a credential's budgets are the same on each of its requests
            budgets = [Budget(key, limits[1])]
            if account is not None:
                budgets.append(Budget(account, limits[3], name="account"))
            if len(self._budgets) >= BUDGETS_KEPT:
                self._budgets.clear()
            self._budgets[limits] = budgets
        return await self._spend(budgets)

    async def spend(self, budgets: list[Budget]) -> Decision | None:
        """Spend one request of every budget at once; None when limiting is off."""
        if not self.enabled:
            return None
        return await self._spend(budgets)

    # -- per address, for failed authentication ---------------------------------------

    def blocked(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        if not self.enabled:
            return None
        until = self._blocked.get(address)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked[address]
            return None
        return max(1, int(left + 0.999))

    async def record_failure(self, address: str) -> int | None:
        """Count a failed authentication from ``address``. If the address is past its
        limit, the seconds until it may fail again (the caller answers 429, not 401)."""
        if not self.enabled:
            return None
        wait = self.blocked(address)
        if wait is not None:
            return wait
        decision = await self._spend(
            [Budget(f"fail:{address}", self.failure_limit, self.failure_window, name="failures")]
        )
        if not decision.allowed or decision.remaining == 0:
            self._blocked[address] = time.monotonic() + max(decision.reset, 1.0)
            if len(self._blocked) > 100_000:
                now = time.monotonic()
                self._blocked = {a: u for a, u in self._blocked.items() if u > now}
        if not decision.allowed:
            return self.blocked(address)
        return None

    # -- backends -------------------------------------------------------------------

    async def _spend(self, budgets: list[Budget]) -> Decision:
        shared = self.shared
        if shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                decision = await shared.spend(budgets)
            except (RedisError, OSError, TimeoutError) as exc:
                self._shared_failed(exc)
            else:
                self._shared_down_until = 0.0
                return decision
        return self.memory.spend_now(budgets)

    def _shared_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._shared_down_until = now + RETRY_REDIS_AFTER
        self._last_error = f"{type(exc).__name__}: {exc}"[:200]
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning("rate_limiter_degraded", reason=self._last_error, fallback="memory, per process")

    def status(self) -> LimiterStatus:
        if not self.enabled:
            return LimiterStatus("off", True, "off")
        if self.shared is None:
            return LimiterStatus("memory", True, "ok (memory, one process)")
        if self._shared_down_until > time.monotonic():
            return LimiterStatus(
                "memory", False, f"degraded: redis unreachable ({self._last_error}); limiting per process"
            )
        return LimiterStatus("redis", True, "ok (redis)")

    async def probe(self) -> LimiterStatus:
        """For /readyz: ask Redis now rather than wait for the next request."""
        if self.enabled and self.shared is not None:
            try:
                async with asyncio.timeout(self.shared.timeout):
                    await self.shared.ping()
            except (RedisError, OSError, TimeoutError) as exc:
                self._shared_failed(exc)
            else:
                self._shared_down_until = 0.0
        return self.status()

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
