"""The sliding-window log: exact in every window, bursts up to the limit, in memory
and in Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payreq.ratelimit.backend import Budget, Decision, MemoryBackend, RedisBackend, binding
from payreq.ratelimit.limiter import RateLimiter
from tests.fixtures.live import redis_server
from tests.ratelimit.conftest import REDIS_URL


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_is_admitted_then_refused_until_a_slot_frees() -> None:
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock)
    decisions = [backend.hit_now("k", limit=5, window=1.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert decisions[5].retry_after == 1
    clock.now += 0.999
    assert not backend.hit_now("k", limit=5, window=1.0).allowed
    clock.now += 0.002
    assert backend.hit_now("k", limit=5, window=1.0).allowed


def test_keys_do_not_share_budgets() -> None:
    backend = MemoryBackend(clock=FakeMonotonic())
    for _ in range(5):
        assert backend.hit_now("a", limit=5, window=1.0).allowed
    assert not backend.hit_now("a", limit=5, window=1.0).allowed
    assert backend.hit_now("b", limit=5, window=1.0).allowed


def test_a_client_pacing_itself_below_the_limit_is_never_refused() -> None:
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock)
    for _ in range(200):  # 4 per second, 50 seconds
        assert backend.hit_now("k", limit=5, window=1.0).allowed
        clock.now += 0.25


def test_the_reset_counts_down_to_the_oldest_admission_leaving() -> None:
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock)
    backend.hit_now("k", limit=2, window=1.0)
    clock.now += 0.6
    decision = backend.hit_now("k", limit=2, window=1.0)
    assert abs(decision.reset - 0.4) < 1e-9
    assert decision.reset_seconds == 1


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.6), min_size=1, max_size=80),
    limit=st.integers(min_value=1, max_value=8),
)
def test_no_one_second_window_ever_holds_more_than_the_limit_and_every_refusal_had_a_full_one(
    gaps: list[float], limit: int
) -> None:
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock)
    admitted: list[float] = []
    refused: list[float] = []
    for gap in gaps:
        clock.now += gap
        if backend.hit_now("k", limit=limit, window=1.0).allowed:
            admitted.append(clock.now)
        else:
            refused.append(clock.now)
    for i, start in enumerate(admitted):
        inside = [t for t in admitted[i:] if t < start + 1.0]
        assert len(inside) <= limit
    # and it is never stingier than it must be: each refusal came when the second
    # before it already held the whole limit of admissions
    for at in refused:
        in_window = [t for t in admitted if at - 1.0 < t <= at]
        assert len(in_window) == limit, (at, in_window)


def test_memory_is_bounded_by_evicting_idle_keys() -> None:
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock, max_keys=100)
    for i in range(100):
        backend.hit_now(f"k{i}", limit=1, window=1.0)
    clock.now += 2
    backend.hit_now("new", limit=1, window=1.0)
    assert len(backend._log) == 1


async def test_redis_backend_has_the_same_semantics(redis_prefix: str) -> None:
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    try:
        decisions = [await backend.hit("k", limit=5, window=1.0) for _ in range(7)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False, False]
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
        assert all(0 < d.reset <= 1.0 for d in decisions)
        assert decisions[-1].retry_after == 1
        assert (await backend.hit("other", limit=5, window=1.0)).allowed
    finally:
        await backend.close()


async def test_redis_backend_frees_a_slot_after_the_window(redis_prefix: str) -> None:
    import asyncio

    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    try:
        assert (await backend.hit("k", limit=1, window=0.2)).allowed
        assert not (await backend.hit("k", limit=1, window=0.2)).allowed
        await asyncio.sleep(0.25)
        assert (await backend.hit("k", limit=1, window=0.2)).allowed
    finally:
        await backend.close()


async def test_a_burst_larger_than_the_redis_pool_waits_instead_of_failing(redis_prefix: str) -> None:
    import asyncio

    backend = RedisBackend(REDIS_URL, prefix=redis_prefix, max_connections=4, timeout=5.0)
    try:
        decisions = await asyncio.gather(*(backend.hit("k", limit=5, window=10.0) for _ in range(200)))
        assert sum(d.allowed for d in decisions) == 5
    finally:
        await backend.close()


async def test_an_unreachable_redis_falls_back_to_memory_and_reports_it() -> None:
    from payreq.ratelimit.limiter import RateLimiter

    limiter = RateLimiter(default_limit=2, redis_url="redis://127.0.0.1:1/0")
    try:
        decisions = [await limiter.hit("k", None) for _ in range(3)]
        assert [d.allowed for d in decisions if d] == [True, True, False]
        status = limiter.status()
        assert not status.healthy
        assert status.detail.startswith("degraded: redis unreachable")
    finally:
        await limiter.close()


# -- automatic pipelining: one script call per turn of the event loop -------------------


def counting_calls(backend: RedisBackend) -> list[int]:
    """Counts the backend's calls of its script (one per round trip)."""
    calls = [0]
    script = backend._script

    async def counted(**kwargs: Any) -> Any:
        calls[0] += 1
        return await script(**kwargs)

    backend._script = counted  # type: ignore[assignment]
    return calls


async def test_requests_asking_at_once_share_one_script_call_and_are_decided_in_order(
    redis_prefix: str,
) -> None:
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    calls = counting_calls(backend)
    account = Budget("account", 5, 10.0, name="account")
    requests = [[Budget(f"k{i % 2}", 3, 10.0), account] for i in range(10)]
    try:
        batched = await asyncio.gather(*(backend.spend(budgets) for budgets in requests))
        assert calls == [1]
    finally:
        await backend.close()
    # exactly what the same requests one after another decide
    memory = MemoryBackend(clock=FakeMonotonic())
    one_by_one = [memory.spend_now(budgets) for budgets in requests]
    assert [(d.allowed, d.name, d.limit, d.remaining) for d in batched] == [
        (d.allowed, d.name, d.limit, d.remaining) for d in one_by_one
    ]
    assert [d.allowed for d in batched] == [True] * 5 + [False] * 5
    assert [d.name for d in batched[5:]] == ["account", "key", "account", "key", "account"]
    assert all(0 < d.reset <= 10.0 for d in batched)


async def test_a_request_that_goes_away_before_its_batch_is_sent_spends_nothing(redis_prefix: str) -> None:
    backend = RedisBackend(REDIS_URL, prefix=redis_prefix)
    try:
        tasks = [asyncio.create_task(backend.hit("k", limit=2, window=10.0)) for _ in range(3)]
        await asyncio.sleep(0)  # all three have asked; the batch goes at the end of this turn
        tasks[1].cancel()
        first, third = await tasks[0], await tasks[2]
        assert first.allowed and third.allowed
        assert third.remaining == 0
        assert tasks[1].cancelled()
    finally:
        await backend.close()


async def test_when_redis_dies_mid_batch_every_request_of_it_is_limited_from_memory(
    tmp_path: Path, redis_server_binary: str
) -> None:
    with redis_server(redis_server_binary, tmp_path / "redis.log") as (url, process):
        limiter = RateLimiter(default_limit=5, redis_url=url)
        try:
            assert limiter.shared is not None
            calls = counting_calls(limiter.shared)
            assert (await limiter.hit("warm", None)) is not None  # connected, script loaded
            os.kill(process.pid, signal.SIGSTOP)  # Redis takes the batch but never answers
            pending = asyncio.gather(*(limiter.hit("k", None) for _ in range(20)))
            await asyncio.sleep(0.3)
            assert not pending.done() and calls == [2]  # the batch is out, waiting
            process.kill()
            process.wait(timeout=10)
            async with asyncio.timeout(5):  # every waiter of the batch is answered
                decisions = await pending
        finally:
            await limiter.close()
    assert [d.allowed for d in decisions if d] == [True] * 5 + [False] * 15
    assert not limiter.status().healthy


async def test_when_redis_stops_answering_a_batch_gives_up_at_the_deadline_and_limits_from_memory(
    tmp_path: Path, redis_server_binary: str
) -> None:
    with redis_server(redis_server_binary, tmp_path / "redis.log") as (url, process):
        limiter = RateLimiter(default_limit=5, redis_url=url)
        limiter.shared = RedisBackend(url, timeout=0.5)
        try:
            assert (await limiter.hit("warm", None)) is not None
            os.kill(process.pid, signal.SIGSTOP)
            started = time.monotonic()
            async with asyncio.timeout(5):
                decisions = await asyncio.gather(*(limiter.hit("k", None) for _ in range(20)))
            assert time.monotonic() - started < 2.0
            assert [d.allowed for d in decisions if d] == [True] * 5 + [False] * 15
            assert limiter.status().detail.startswith("degraded: redis unreachable (TimeoutError")
        finally:
            process.kill()
            process.wait(timeout=10)
            await limiter.close()


@given(
    limits=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=3),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2), st.floats(min_value=0, max_value=0.7)), max_size=25
    ),
)
def test_an_admitted_request_is_described_by_its_binding_budget(
    limits: list[int], steps: list[tuple[int, float]]
) -> None:
    """The budget an answer names is the one with the least room left, the later reset
    first on a tie (``binding`` over every budget's decision), whatever was spent before."""
    clock = FakeMonotonic()
    backend = MemoryBackend(clock=clock)
    budgets = [Budget(f"b{i}", limit, name=f"n{i}") for i, limit in enumerate(limits)]
    for which, pause in steps:
        clock.now += pause
        chosen = budgets[which % len(budgets) :] or budgets
        decision = backend.spend_now(chosen)
        if not decision.allowed:
            continue
        logs = [backend._log[b.key] for b in chosen]
        each = [
            Decision(
                True, b.limit, max(0, b.limit - len(log)), log[0] + b.window - clock.now, b.name, b.window
            )
            for b, log in zip(chosen, logs, strict=True)
        ]
        assert decision == binding(each)


async def test_a_credentials_new_limits_apply_to_its_next_request() -> None:
    """The limiter keeps each credential's budgets for its next request
    (``RateLimiter.hit``): a changed key limit, account limit or default still applies
    at once."""
    limiter = RateLimiter(default_limit=5, account_limit=50)
    first = await limiter.hit("key:a", 3, account="acct:x", account_limit=40)
    assert first is not None and (first.name, first.limit) == ("key", 3)
    changed = await limiter.hit("key:a", 30, account="acct:x", account_limit=2)
    assert changed is not None and (changed.name, changed.limit, changed.remaining) == ("account", 2, 0)
    lowered = await limiter.hit("key:a", 30, account="acct:x", account_limit=1)  # 2 already spent
    assert lowered is not None and (lowered.allowed, lowered.limit, lowered.remaining) == (False, 1, 0)
    limiter.default_limit = 1
    defaulted = await limiter.hit("key:b", None)
    assert defaulted is not None and (defaulted.limit, defaulted.allowed) == (1, True)
    limiter.default_limit = 7
    again = await limiter.hit("key:b", None)
    assert again is not None and (again.limit, again.remaining) == (7, 5)


@given(
    limits=st.tuples(st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=5)),
    windows=st.tuples(st.sampled_from([1.0, 0.5, 2.0]), st.sampled_from([1.0, 0.5, 2.0])),
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=0.6), st.booleans()), max_size=30),
)
def test_two_budgets_are_decided_as_any_number_are(
    limits: tuple[int, int], windows: tuple[float, float], steps: list[tuple[float, bool]]
) -> None:
    """``spend_now`` unrolls the two-budget case (a credential and its account); its
    answers and what it records are the general code's, step for step."""
    clock = FakeMonotonic()
    unrolled, general = MemoryBackend(clock=clock), MemoryBackend(clock=clock)
    budgets = [Budget("key", limits[0], windows[0]), Budget("account", limits[1], windows[1], name="account")]
    for pause, swap in steps:
        clock.now += pause
        pair = budgets[::-1] if swap else budgets
        assert unrolled.spend_now(pair) == general._spend(pair, clock.now)
        assert {k: list(v) for k, v in unrolled._log.items()} == {k: list(v) for k, v in general._log.items()}
