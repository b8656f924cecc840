"""The sliding-window log, behind one interface with two backends.

Every admitted request is recorded with its time; a request is admitted only if
fewer than ``limit`` admitted requests lie in the last ``window`` seconds. So in no
window of that length does a key get more than its limit, whatever the timing, and
a burst of up to ``limit`` requests is allowed. (A fixed window lets 2x through around
its edge; a token bucket or GCRA with a burst lets ``limit`` through at once and then
more within the same second.) Refused requests are not recorded.

A request may spend several budgets at once (its credential's and its account's):
it is admitted only if every one of them has room, and then recorded in all of them,
so a request refused by one budget spends none.

The Redis backend runs the whole check in one Lua script (one round trip, atomic,
every budget of the request at once), with Redis's own clock, so any number of
server processes share exact budgets.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Budget:
    """One window a request spends from: ``limit`` requests per ``window`` seconds."""

    key: str
    limit: int
    window: float = 1.0
    name: str = "key"
    """What the headers call it (``RateLimit-Policy``): ``key`` or ``account``."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: float
    """Seconds until the oldest admitted request leaves the window (a slot frees)."""
    name: str = "key"
    """The budget this decision describes: the one that refused, else the one with
    the least room left."""
    window: float = 1.0

    @property
    def reset_seconds(self) -> int:
        return max(0, math.ceil(self.reset))

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset))


def _decision(budget: Budget, allowed: bool, count: int, reset: float) -> Decision:
    return Decision(
        allowed=allowed,
        limit=budget.limit,
        remaining=max(0, budget.limit - count),
        reset=reset,
        name=budget.name,
        window=budget.window,
    )


def binding(decisions: list[Decision]) -> Decision:
    """Of an admitted request's budgets, the one a response reports: the least room left."""
    return min(decisions, key=lambda d: (d.remaining, -d.reset))


class Backend(Protocol):
    name: str

    async def spend(self, budgets: list[Budget]) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """One process's limiter: a deque of admission times per key."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def spend(self, budgets: list[Budget]) -> Decision:
        return self.spend_now(budgets)

    def hit_now(self, key: str, *, limit: int, window: float) -> Decision:
        """One budget alone."""
        return self.spend_now([Budget(key, limit, window)])

    def spend_now(self, budgets: list[Budget]) -> Decision:
        now = self._clock()
        logs = [self._window(b, now) for b in budgets]
        for log, budget in zip(logs, budgets, strict=True):
            if len(log) >= budget.limit:  # no room: refused, and nothing is spent
                return _decision(budget, False, len(log), (log[0] + budget.window - now) if log else 0.0)
        for log in logs:
            log.append(now)
        return binding(
            [
                _decision(budget, True, len(log), log[0] + budget.window - now)
                for log, budget in zip(logs, budgets, strict=True)
            ]
        )

    def _window(self, budget: Budget, now: float) -> deque[float]:
        log = self._log.get(budget.key)
        if log is None:
            if len(self._log) >= self._max_keys:
                self._evict(now, budget.window)
            log = self._log[budget.key] = deque()
        horizon = now - budget.window
        while log and log[0] <= horizon:
            log.popleft()
        return log

    def _evict(self, now: float, window: float) -> None:
        for key in [k for k, log in self._log.items() if not log or log[-1] <= now - window]:
            del self._log[key]
        if len(self._log) >= self._max_keys:  # still full of live keys: forget the oldest half
            for key in list(self._log)[: self._max_keys // 2]:
                del self._log[key]

    async def close(self) -> None:
        self._log.clear()


_SCRIPT = """
-- KEYS: one sorted set per budget; ARGV: a unique member, then limit and window (us)
-- of each budget. Returns {refused (0: admitted, else the refusing budget's index),
-- then count and reset (us) of each budget}.
local member = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local refused = 0
local counts = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - tonumber(ARGV[2 * i + 1]))
  counts[i] = redis.call('ZCARD', KEYS[i])
  if refused == 0 and counts[i] >= tonumber(ARGV[2 * i]) then refused = i end
end
local result = {refused}
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i + 1])
  if refused == 0 then
    redis.call('ZADD', KEYS[i], now, member)
    counts[i] = counts[i] + 1
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000) + 1000)
  local reset = 0
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  result[2 * i] = counts[i]
  result[2 * i + 1] = reset
end
return result
"""


class RedisBackend:
    """Shared by every process that points at the same Redis."""

    name = "redis"

    def __init__(
        self, url: str, *, prefix: str = "payreq:rl:", timeout: float = 2.0, max_connections: int = 64
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        # A bounded pool that waits for a free connection: a burst larger than the pool
        # queues for a moment instead of failing (which would read as "Redis is down").
        # Connecting fails fast when Redis is down; a request under load may still wait
        # for a pooled connection up to the deadline before the limiter falls back.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=timeout, socket_connect_timeout=0.5
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        self._script = self._redis.register_script(_SCRIPT)

    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        """One budget alone."""
        return await self.spend([Budget(key, limit, window)])

    async def spend(self, budgets: list[Budget]) -> Decision:
        args: list[int | str] = [uuid.uuid4().hex]
        for budget in budgets:
            args += [budget.limit, int(budget.window * 1_000_000)]
        # one deadline for the whole round trip (cheaper than redis-py's per-read timeouts)
        async with asyncio.timeout(self.timeout):
            result = await self._script(keys=[self.prefix + b.key for b in budgets], args=args)
        refused = int(result[0])
        decisions = [
            _decision(budget, not refused, int(result[2 * i + 1]), int(result[2 * i + 2]) / 1_000_000)
            for i, budget in enumerate(budgets)
        ]
        return decisions[refused - 1] if refused else binding(decisions)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)
