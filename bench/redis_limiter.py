"""The Redis limiter's cost per check, in process and without HTTP: many concurrent
checks of one key and its account (as the bench's GET spends them) through
``RedisBackend``, on uvloop, for a few seconds.

    .venv/bin/python bench/redis_limiter.py [--concurrency 64] [--duration 3]
                                            [--max-batches 64] [--redis-url URL]

Prints checks per second, this process's CPU per check (the client: redis-py, the
batching, the decisions) and Redis's own CPU per check (from ``INFO cpu``; everything
else using that Redis counts too). Pin it to a core for steadier figures
(``taskset -c 0``). Its keys live under a prefix of their own, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis
import uvloop

from limiters import DEFAULT_REDIS_URL, RedisTarget, unique_prefix
from payreq.ratelimit.backend import Budget, RedisBackend


def redis_cpu(target: RedisTarget) -> float:
    with target.client() as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def measure(target: RedisTarget, *, concurrency: int, duration: float, max_batches: int) -> str:
    backend = RedisBackend(target.url, prefix=target.prefix, max_batches=max_batches)
    budgets = [Budget("key:bench", 10**9), Budget("account:bench", 10**9, name="account")]
    checks = 0
    try:
        await backend.spend(budgets)  # connected, script loaded
        stop = time.monotonic() + duration

        async def client() -> None:
            nonlocal checks
            while time.monotonic() < stop:
                await backend.spend(budgets)
                checks += 1
                await asyncio.sleep(0)  # the rest of a request's work lets others run

        cpu, server, started = time.process_time(), redis_cpu(target), time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        cpu, server = time.process_time() - cpu, redis_cpu(target) - server
    finally:
        await backend.close()
    return (
        f"{checks / elapsed:,.0f} checks/s; client CPU {cpu / checks * 1e6:.1f} us/check; "
        f"Redis CPU {server / checks * 1e6:.1f} us/check "
        f"({concurrency} concurrent, at most {max_batches} batches in flight)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--max-batches", type=int, default=64)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()
    target = RedisTarget(args.redis_url, unique_prefix())
    if (why := target.unreachable()) is not None:
        raise SystemExit(f"Redis at {args.redis_url} does not answer: {why}")
    with target.cleaned_up(print):
        print(
            uvloop.run(
                measure(
                    target, concurrency=args.concurrency, duration=args.duration, max_batches=args.max_batches
                )
            )
        )


if __name__ == "__main__":
    try:
        main()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis failed: {exc}") from None
