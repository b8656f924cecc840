"""The client-side limiter: one client never sends more than its key's budget.

payreq admits at most ``limit`` requests of a key in any ``window`` seconds (a sliding
window, SPEC §4) and says so on every answer: ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` and ``RateLimit-Policy: 5;w=1``. The limiter starts from the documented
default (5 per second), learns the real limit and window from those headers, and lets a
request start only while fewer than ``limit`` requests are in flight or finished within
the last ``window`` (plus a small margin). A request's slot is counted from the moment
its answer arrived, which is never before the server admitted it: so however the
network delays requests, two of them that the server admits are never closer than the
client spaced them. Token requests (``/oauth/token``) spend the budget like any other.

When an answer says ``RateLimit-Remaining: 0`` (someone else spends the same budget) or
a 429 says ``Retry-After``, every request of the client waits that long.

Sans I/O: ``try_start`` answers a slot or the seconds to wait; the clients sleep. It is
safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

POLL = 0.01
"""How long to wait when every slot is held by a request still in flight."""
MARGIN = 0.02
"""Seconds added to the window: the client's and the server's clocks may tick apart."""


class RateLimiter:
    def __init__(
        self, limit: int = 5, window: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._done: deque[float] = deque()
        self._hold_until = 0.0

    def try_start(self) -> float:
        """0.0 and a slot taken when a request may start now, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            span = self.window + MARGIN
            while self._done and self._done[0] + span <= now:
                self._done.popleft()
            if now < self._hold_until:
                return self._hold_until - now
            if self._in_flight + len(self._done) < self.limit:
                self._in_flight += 1
                return 0.0
            if self._done:
                return max(self._done[0] + span - now, 0.001)
            return POLL

    def finish(self, headers: Mapping[str, str] | None = None, *, retry_after: float | None = None) -> None:
        """The request that took a slot has its answer (or failed)."""
        with self._lock:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            self._done.append(now)
            if headers is not None:
                self._learn(headers, now)
            if retry_after is not None:
                self._hold_until = max(self._hold_until, now + retry_after)

    def _learn(self, headers: Mapping[str, str], now: float) -> None:
        limit = _int(headers.get("ratelimit-limit"))
        if limit is not None and limit >= 1:
            self.limit = limit
            window = _policy_window(headers.get("ratelimit-policy"), limit)
            if window is not None:
                self.window = window
        remaining = _int(headers.get("ratelimit-remaining"))
        reset = _int(headers.get("ratelimit-reset"))
        if remaining == 0 and reset is not None and reset > 0:
            self._hold_until = max(self._hold_until, now + min(reset, self.window) + MARGIN)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _policy_window(policy: str | None, limit: int) -> float | None:
    """``5;w=1`` (several policies are separated by commas): the window of ``limit``'s policy."""
    if not policy:
        return None
    for item in policy.split(","):
        quota, *params = (part.strip() for part in item.split(";"))
        if _int(quota) != limit:
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "w":
                try:
                    window = float(value)
                except ValueError:
                    return None
                return window if 0 < window <= 3600 else None
    return None
