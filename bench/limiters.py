"""The rate limiter's configurations for the limiter-overhead rows: each one a payreq
server of its own on the same database, and the Redis bookkeeping of the redis one."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

LIMITERS = ("off", "memory", "redis")
"""In the order they are measured; ``off`` is the reference of the others."""
REFERENCE = "off"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

READY_DETAIL = {"off": "off", "memory": "ok (memory", "redis": "ok (redis)"}
"""How /readyz's ``checks.rate_limiter`` starts when the server runs that limiter."""
DEGRADED_LOG = "rate_limiter_degraded"
"""The warning payreq logs when Redis stops answering and it limits in memory instead."""


def parse(value: str) -> tuple[str, ...]:
    """``off,memory,redis`` (any subset, any order) or ``none``; returns them in LIMITERS order."""
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    names.discard("none")
    unknown = names - set(LIMITERS)
    if unknown:
        raise ValueError(f"unknown limiter {', '.join(sorted(unknown))} (choose from {', '.join(LIMITERS)})")
    return tuple(name for name in LIMITERS if name in names)


def unique_prefix() -> str:
    """A PAYREQ_REDIS_PREFIX no other run (or deployment) shares on that Redis."""
    return f"payreq-bench-{uuid.uuid4().hex[:12]}:"


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=2.0)

    def unreachable(self) -> str | None:
        """Why this Redis cannot be used, or None if it answers PING."""
        try:
            with self.client() as client:
                client.ping()
        except (RedisError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def keys(self) -> list[bytes]:
        with self.client() as client:
            return list(client.scan_iter(match=f"{self.prefix}*", count=1000))

    def delete_keys(self) -> int:
        """Delete every key under this run's prefix; how many there were."""
        with self.client() as client:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            return len(keys)

    @contextlib.contextmanager
    def cleaned_up(self, log: Callable[[str], None]) -> Iterator[RedisTarget]:
        """``with target.cleaned_up(log):`` deletes this run's keys on the way out, also
        after an error (the limiter's keys expire within seconds anyway)."""
        try:
            yield self
        finally:
            try:
                left = self.delete_keys()
                log(f"deleted the {left} Redis keys left under {self.prefix}* (the limiter's expire soon)")
            except (RedisError, OSError) as exc:
                log(f"could not delete the Redis keys under {self.prefix}*: {exc}")


def limiter_env(base: Mapping[str, str], limiter: str, redis_target: RedisTarget | None) -> dict[str, str]:
    """``base`` (the bench's server environment) with exactly this limiter configured."""
    env = {k: v for k, v in base.items() if k not in ("PAYREQ_REDIS_URL", "PAYREQ_REDIS_PREFIX")}
    env["PAYREQ_RATE_LIMIT_ENABLED"] = "false" if limiter == "off" else "true"
    if limiter == "redis":
        if redis_target is None:
            raise ValueError("the redis limiter needs a Redis")
        env["PAYREQ_REDIS_URL"] = redis_target.url
        env["PAYREQ_REDIS_PREFIX"] = redis_target.prefix
    return env
