"""Redis for the limiter's tests: the machine's server (127.0.0.1:6379), with a key
prefix of its own per test so runs never share budgets; required under CI=true."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.fixtures.backends import IN_CI

REDIS_URL = os.environ.get("PAYREQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def redis_available() -> str | None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})"
    finally:
        await client.aclose()
    return None


def need(reason: str | None) -> None:
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason}; under CI=true the Redis suite must run")
    pytest.skip(reason)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    need(await redis_available())
    prefix = f"payreq-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        need("redis-server is not installed, so no private Redis can be started and stopped")
    assert found is not None
    return found
