"""The sliding-window log, behind one interface with two backends.

Every admitted request is recorded with its time; a request is admitted only if
fewer than ``limit`` admitted requests lie in the last ``window`` seconds. So in no
window of that length does a key get more than its limit, whatever the timing, and
a burst of up to ``limit`` requests is allowed. (A fixed window lets 2x through around
its edge; a token bucket or GCRA with a burst lets ``limit`` through at once and then
more within the same second.) Refused requests are not recorded.

The Redis backend runs the whole check in one Lua script (one round trip, atomic),
with Redis's own clock, so any number of server processes share one exact budget.
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
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: float
    """Seconds until the oldest admitted request leaves the window (a slot frees)."""

    @property
    def reset_seconds(self) -> int:
        return max(0, math.ceil(self.reset))

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset))


class Backend(Protocol):
    name: str

    async def hit(self, key: str, *, limit: int, window: float) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """One process's limiter: a deque of admission times per key."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        return self.hit_now(key, limit=limit, window=window)

    def hit_now(self, key: str, *, limit: int, window: float) -> Decision:
        now = self._clock()
        log = self._log.get(key)
        if log is None:
            if len(self._log) >= self._max_keys:
                self._evict(now, window)
            log = self._log[key] = deque()
        horizon = now - window
        while log and log[0] <= horizon:
            log.popleft()
        allowed = len(log) < limit
        if allowed:
            log.append(now)
        reset = (log[0] + window - now) if log else 0.0
        return Decision(allowed=allowed, limit=limit, remaining=max(0, limit - len(log)), reset=reset)

    def _evict(self, now: float, window: float) -> None:
        for key in [k for k, log in self._log.items() if not log or log[-1] <= now - window]:
            del self._log[key]
        if len(self._log) >= self._max_keys:  # still full of live keys: forget the oldest half
            for key in list(self._log)[: self._max_keys // 2]:
                del self._log[key]

    async def close(self) -> None:
        self._log.clear()


_SCRIPT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, member)
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000)
local reset = 0
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, count, reset}
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
        window_us = int(window * 1_000_000)
        # one deadline for the whole round trip (cheaper than redis-py's per-read timeouts)
        async with asyncio.timeout(self.timeout):
            allowed, count, reset_us = await self._script(
                keys=[self.prefix + key], args=[limit, window_us, uuid.uuid4().hex]
            )
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=max(0, limit - int(count)),
            reset=int(reset_us) / 1_000_000,
        )

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)
