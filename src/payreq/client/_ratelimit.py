"""The client-side limiter: one client never sends more than its key's budget.

payreq admits at most ``limit`` requests of a key in any ``window`` seconds (a sliding
window, SPEC §4), and every credential of an account also spends the account's budget.
Each answer describes the budget that binds, the one with the least room left, in the
IETF draft's structured fields (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy: "key";q=5;w=1`` (or ``"account";q=50;w=1``) and ``RateLimit:
"key";r=4;t=1``, and in ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``, which name no budget. The limiter parses the two structured
fields with ``http_sf`` (a list of policies, each a name with ``q`` and ``w``
parameters; several are read one by one) and keeps every budget it has seen: the key's
(the documented 5 per second until the server names it) and the account's (which never
replaces the key's: an account's 50 per second does not let one key send 50). A request
starts only while, for every budget, fewer than its ``q`` requests are in flight or
finished within its last ``w`` seconds (plus a small margin). ``RateLimit-Limit`` is
learnt as the key's only from a server that sends no ``RateLimit-Policy``.

A request's slot is counted from the moment its answer arrived, which is never before
the server admitted it: so however the network delays requests, two of them that the
server admits are never closer than the client spaced them. Token requests
(``/oauth/token``) spend the budget like any other.

When an answer says a budget has nothing left (``RateLimit: "account";r=0;t=1``, or
``RateLimit-Remaining: 0``: someone else spends the same budget) or a 429 says
``Retry-After``, every request of the client waits that long.

Sans I/O: ``try_start`` answers a slot or the seconds to wait; the clients sleep. It is
safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import http_sf

POLL = 0.01
"""How long to wait when every slot is held by a request still in flight."""
MARGIN = 0.02
"""Seconds added to the window: the client's and the server's clocks may tick apart."""
KEY = "key"
"""The budget of the client's own credential, in payreq's ``RateLimit-Policy``."""
MAX_WINDOW = 3600.0


class Budget(NamedTuple):
    limit: int
    window: float


class RateLimiter:
    def __init__(
        self, limit: int = 5, window: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._budgets: dict[str, Budget] = {KEY: Budget(max(1, limit), window)}
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._done: deque[float] = deque()
        self._hold_until = 0.0

    @property
    def limit(self) -> int:
        """The key's budget: requests per ``window``."""
        return self._budgets[KEY].limit

    @property
    def window(self) -> float:
        return self._budgets[KEY].window

    @property
    def budgets(self) -> dict[str, Budget]:
        """Every budget learnt so far, by the name the server gives it."""
        with self._lock:
            return dict(self._budgets)

    def try_start(self) -> float:
        """0.0 and a slot taken when a request may start now, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            longest = max(budget.window for budget in self._budgets.values()) + MARGIN
            while self._done and self._done[0] + longest <= now:
                self._done.popleft()
            if now < self._hold_until:
                return self._hold_until - now
            wait = 0.0
            for limit, window in self._budgets.values():
                span = window + MARGIN
                recent = [t for t in self._done if t + span > now]
                excess = self._in_flight + len(recent) - limit + 1  # slots that must free first
                if excess <= 0:
                    continue
                if excess > len(recent):  # held by requests still in flight
                    wait = max(wait, POLL)
                else:
                    wait = max(wait, recent[excess - 1] + span - now, 0.001)
            if wait > 0:
                return wait
            self._in_flight += 1
            return 0.0

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
        policies = _policies(headers.get("ratelimit-policy"))
        for name, budget in policies.items():
            self._budgets[name] = budget
        if "ratelimit-policy" not in headers:  # a server without it: its one limit is taken as the key's
            limit = _int(headers.get("ratelimit-limit"))
            if limit is not None and limit >= 1:
                self._budgets[KEY] = Budget(limit, self._budgets[KEY].window)
        states = _states(headers.get("ratelimit"))
        if states is None:  # no RateLimit field: the unnamed Remaining and Reset, of the binding budget
            binding = next(iter(policies), KEY)
            states = {
                binding: (_int(headers.get("ratelimit-remaining")), _int(headers.get("ratelimit-reset")))
            }
        for name, (remaining, reset) in states.items():
            if remaining == 0 and reset is not None and reset > 0:
                window = self._budgets.get(name, self._budgets[KEY]).window
                self._hold_until = max(self._hold_until, now + min(reset, window) + MARGIN)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _list(value: str | None) -> list[Any] | None:
    """A structured-field List (RFC 9651 §3.1), or None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="list")
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        return None
    return parsed if isinstance(parsed, list) else None


def _name(item: Any) -> str | None:
    """A policy's name: a String or Token (draft -07 on); an Integer is an older draft's quota."""
    if isinstance(item, bool):
        return None
    if isinstance(item, str | http_sf.Token):
        return str(item)
    if isinstance(item, int):
        return KEY
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return None
    return float(value)


def _policies(value: str | None) -> dict[str, Budget]:
    """``"key";q=5;w=1, "account";q=50;w=1``: each policy's quota and window (default 1 s).
    A member that is not a policy (an inner list, no positive integer ``q``) is skipped."""
    budgets: dict[str, Budget] = {}
    for member in _list(value) or []:
        item, params = member
        name = _name(item)
        if name is None or not isinstance(params, dict):
            continue
        quota = item if isinstance(item, int) and not isinstance(item, bool) else params.get("q")
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
            continue
        window = _number(params.get("w", 1))
        if window is None or not 0 < window <= MAX_WINDOW:
            continue
        budgets[name] = Budget(quota, window)
    return budgets


def _states(value: str | None) -> dict[str, tuple[int | None, int | None]] | None:
    """``"key";r=4;t=1``: each policy's remaining requests and seconds until a slot frees."""
    members = _list(value)
    if members is None:
        return None
    states: dict[str, tuple[int | None, int | None]] = {}
    for item, params in members:
        name = _name(item)
        if name is None or not isinstance(params, dict):
            continue
        remaining, reset = params.get("r"), params.get("t")
        states[name] = (
            remaining if isinstance(remaining, int) and not isinstance(remaining, bool) else None,
            reset if isinstance(reset, int) and not isinstance(reset, bool) else None,
        )
    return states
