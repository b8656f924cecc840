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

The Redis backend runs the whole check in one Lua script (atomic, every budget of the
request at once), with Redis's own clock, so any number of server processes share
exact budgets; the requests that ask in the same turn of the event loop share one call
of it (automatic pipelining: one round trip for all of them, decided in order).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Budget:
    """One window a request spends from: ``limit`` requests per ``window`` seconds."""

    key: str
    limit: int
    window: float = 1.0
    name: str = "key"
    """What the headers call it (``RateLimit-Policy``): ``key`` or ``account``."""


class Decision(NamedTuple):
    """One request's answer from the limiter. A named tuple, not a frozen dataclass:
    every authenticated request makes one, at half the cost."""

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
    limit = budget.limit
    return Decision(allowed, limit, limit - count if count < limit else 0, reset, budget.name, budget.window)


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
        if len(budgets) == 2:  # every authenticated request: its credential and its account
            return self._spend_two(budgets[0], budgets[1], now)
        return self._spend(budgets, now)

    def _spend_two(self, first: Budget, second: Budget, now: float) -> Decision:
        """``_spend`` of two budgets, unrolled (a fifth of a poll's CPU went to the limiter)."""
        log_1, log_2 = self._window(first, now), self._window(second, now)
        count_1, count_2 = len(log_1), len(log_2)
        if count_1 >= first.limit:
            return _decision(first, False, count_1, (log_1[0] + first.window - now) if log_1 else 0.0)
        if count_2 >= second.limit:
            return _decision(second, False, count_2, (log_2[0] + second.window - now) if log_2 else 0.0)
        log_1.append(now)
        log_2.append(now)
        reset_1, reset_2 = log_1[0] + first.window - now, log_2[0] + second.window - now
        if (second.limit - count_2, -reset_2) < (first.limit - count_1, -reset_1):
            return _decision(second, True, count_2 + 1, reset_2)
        return _decision(first, True, count_1 + 1, reset_1)

    def _spend(self, budgets: list[Budget], now: float) -> Decision:
        logs = [self._window(b, now) for b in budgets]
        for log, budget in zip(logs, budgets, strict=True):
            if len(log) >= budget.limit:  # no room: refused, and nothing is spent
                return _decision(budget, False, len(log), (log[0] + budget.window - now) if log else 0.0)
        # admitted: recorded in every budget; the answer describes the binding one
        # (``binding``'s choice, made without a Decision per budget)
        chosen: tuple[int, float, Budget, deque[float]] | None = None
        for log, budget in zip(logs, budgets, strict=True):
            log.append(now)
            remaining, reset = max(0, budget.limit - len(log)), log[0] + budget.window - now
            if chosen is None or (remaining, -reset) < (chosen[0], -chosen[1]):
                chosen = (remaining, reset, budget, log)
        assert chosen is not None, "a request spends at least one budget"
        return _decision(chosen[2], True, len(chosen[3]), chosen[1])

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
-- A batch of requests, checked one after another in their order, atomically, at one
-- time (Redis's clock): exactly what as many calls one after the other would decide.
-- KEYS: one sorted set per budget, request after request. ARGV: a prefix unique to the
-- batch (request i's member is prefix .. i), then per request its number of budgets n
-- and n pairs of limit and window (us). Returns, per request, refused (0: admitted,
-- else the refusing budget's index within the request), then count and reset (us) of
-- each of its budgets. Each key is trimmed and read once per batch (its count and
-- oldest entry are then followed here); each admission is one ZADD.
local prefix = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = {}
local result = {}
local k = 0
local a = 2
local request = 0
while a <= #ARGV do
  request = request + 1
  local n = tonumber(ARGV[a])
  local refused = 0
  local budgets = {}
  for i = 1, n do
    local key = KEYS[k + i]
    local window = tonumber(ARGV[a + 2 * i])
    local s = state[key]
    if s == nil or s.window ~= window then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      s = {window = window, count = redis.call('ZCARD', key), oldest = tonumber(oldest[2]),
           expire = s and s.expire or 0}
      state[key] = s
    end
    budgets[i] = s
    if refused == 0 and s.count >= tonumber(ARGV[a + 2 * i - 1]) then refused = i end
  end
  result[#result + 1] = refused
  for i = 1, n do
    local s = budgets[i]
    if refused == 0 then
      redis.call('ZADD', KEYS[k + i], now, prefix .. request)
      s.count = s.count + 1
      if s.oldest == nil then s.oldest = now end
      if s.window > s.expire then s.expire = s.window end
    end
    local reset = 0
    if s.oldest ~= nil then reset = s.oldest + s.window - now end
    result[#result + 1] = s.count
    result[#result + 1] = reset
  end
  k = k + n
  a = a + 1 + 2 * n
end
for key, s in pairs(state) do
  if s.expire > 0 then redis.call('PEXPIRE', key, math.ceil(s.expire / 1000) + 1000) end
end
return result
"""

MAX_BATCH = 256
"""Requests per script call at most (a longer queue goes in several calls)."""

_Waiter = tuple[list[Budget], "asyncio.Future[Decision]"]


class RedisBackend:
    """Shared by every process that points at the same Redis.

    Calls are pipelined automatically: the requests that ask in one turn of the event
    loop are sent together, as one call of the script (one round trip, one command to
    parse), which checks them one after another in their order, atomically. That is
    exactly what as many separate calls would decide, while the client's work per call
    (redis-py's command machinery, the pool, the socket) is shared by the batch. If the
    call fails, every request of the batch gets the error (the limiter then falls back
    to memory).
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "payreq:rl:",
        timeout: float = 2.0,
        max_connections: int = 64,
        max_batches: int = 64,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.max_batches = max_batches
        """Batches in flight at once (each holds a pooled connection); more requests
        wait for one of them to come back and then go together."""
        # A bounded pool that waits for a free connection: a burst larger than the pool
        # queues for a moment instead of failing (which would read as "Redis is down").
        # Connecting fails fast when Redis is down; a request under load may still wait
        # for a pooled connection up to the deadline before the limiter falls back.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=timeout, socket_connect_timeout=0.5
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        self._script = self._redis.register_script(_SCRIPT)
        self._queue: list[_Waiter] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()

    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        """One budget alone."""
        return await self.spend([Budget(key, limit, window)])

    async def spend(self, budgets: list[Budget]) -> Decision:
        waiter: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._queue.append((budgets, waiter))
        self._schedule()
        return await waiter

    def _schedule(self) -> None:
        if self._queue and not self._flush_scheduled and len(self._in_flight) < self.max_batches:
            self._flush_scheduled = True
            # at the end of this turn of the loop, when every request it runs has asked
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._queue and len(self._in_flight) < self.max_batches:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _send(self, batch: list[_Waiter]) -> None:
        batch = [(budgets, waiter) for budgets, waiter in batch if not waiter.done()]  # gone: spends nothing
        if not batch:
            return
        keys: list[str] = []
        args: list[int | str] = [uuid.uuid4().hex + ":"]
        for budgets, _ in batch:
            args.append(len(budgets))
            for budget in budgets:
                keys.append(self.prefix + budget.key)
                args += [budget.limit, int(budget.window * 1_000_000)]
        try:
            # one deadline for the whole round trip (cheaper than redis-py's per-read timeouts)
            async with asyncio.timeout(self.timeout):
                result = await self._script(keys=keys, args=args)
        except asyncio.CancelledError:
            for _, waiter in batch:
                waiter.cancel()
            raise
        except Exception as exc:  # every request of the batch sees what the call raised
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        at = 0
        for budgets, waiter in batch:
            refused = int(result[at])
            decisions = [
                _decision(
                    budget, not refused, int(result[at + 2 * i + 1]), int(result[at + 2 * i + 2]) / 1_000_000
                )
                for i, budget in enumerate(budgets)
            ]
            at += 1 + 2 * len(budgets)
            if not waiter.done():  # its request may have gone away meanwhile
                waiter.set_result(decisions[refused - 1] if refused else binding(decisions))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        await self._redis.aclose(close_connection_pool=True)
