"""The rate-limit policy: per credential, and per client address for failed logins.

- Every authenticated request spends the budget of its API key (all access tokens
  minted from one client_id share it) or of its client token: ``limit`` requests in
  any one second (the key's own limit, else ``PAYREQ_DEFAULT_RATE_LIMIT``).
- Failed authentication (missing or bad bearer tokens, wrong client secrets at
  ``/oauth/token``) is counted per client address; past ``auth_failure_limit`` in
  ``auth_failure_window`` seconds the address is refused before any secret is
  checked, so secrets cannot be brute-forced, while the key's owner, calling from
  elsewhere, is not affected.
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

from payreq.ratelimit.backend import Decision, MemoryBackend, RedisBackend

log = structlog.get_logger("payreq.ratelimit")
RETRY_REDIS_AFTER = 5.0
WARN_EVERY = 60.0


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
        redis_url: str | None = None,
        redis_prefix: str = "payreq:rl:",
        failure_limit: int = 10,
        failure_window: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.default_limit = default_limit
        self.failure_limit = failure_limit
        self.failure_window = failure_window
        self.enabled = enabled
        self.memory = MemoryBackend()
        self.shared: RedisBackend | None = RedisBackend(redis_url, prefix=redis_prefix) if redis_url else None
        self._shared_down_until = 0.0
        self._last_warning = -WARN_EVERY
        self._last_error = ""
        self._blocked: dict[str, float] = {}

    # -- per credential -------------------------------------------------------------

    async def hit(self, key: str, limit: int | None) -> Decision | None:
        """Spend one request of ``key``'s budget; None when limiting is off."""
        if not self.enabled:
            return None
        return await self._hit(key, limit=limit or self.default_limit, window=1.0)

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

    async def record_failure(self, address: str) -> None:
        if not self.enabled:
            return
        decision = await self._hit(f"fail:{address}", limit=self.failure_limit, window=self.failure_window)
        if not decision.allowed or decision.remaining == 0:
            self._blocked[address] = time.monotonic() + max(decision.reset, 1.0)
            if len(self._blocked) > 100_000:
                now = time.monotonic()
                self._blocked = {a: u for a, u in self._blocked.items() if u > now}

    # -- backends -------------------------------------------------------------------

    async def _hit(self, key: str, *, limit: int, window: float) -> Decision:
        shared = self.shared
        if shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                decision = await shared.hit(key, limit=limit, window=window)
            except (RedisError, OSError, TimeoutError) as exc:
                self._shared_failed(exc)
            else:
                self._shared_down_until = 0.0
                return decision
        return self.memory.hit_now(key, limit=limit, window=window)

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
