"""The limiter across real server processes: one budget in Redis for all of them,
a refusal to multiply limits without Redis, and graceful degradation when Redis dies."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx

from tests.fixtures.live import PAYREQ, bootstrap, environment, payreq, redis_server, serve
from tests.ratelimit.conftest import REDIS_URL


async def token(server_url: str, credentials: dict[str, str]) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{server_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def burst(urls: list[str], headers: dict[str, str], count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as client:
        answers = await asyncio.gather(
            *(client.get(f"{urls[i % len(urls)]}/payment/request", headers=headers) for i in range(count))
        )
    return [a.status_code for a in answers]


def database(tmp_path: Path) -> dict[str, str]:
    env = environment(f"sqlite:///{tmp_path / 'shared.db'}")
    payreq("migrate", env=env)
    return env


async def test_two_processes_sharing_redis_admit_at_most_5_per_second_in_total(
    tmp_path: Path, redis_prefix: str
) -> None:
    env = database(tmp_path)
    credentials = bootstrap(env)
    env.update(PAYREQ_REDIS_URL=REDIS_URL, PAYREQ_REDIS_PREFIX=redis_prefix, PAYREQ_DEFAULT_RATE_LIMIT="5")
    with serve(env, tmp_path / "a.log") as a, serve(env, tmp_path / "b.log") as b:
        headers = await token(a.url, credentials)
        await asyncio.sleep(1.0)  # the token request spent one of the key's budget
        statuses = await burst([a.url, b.url], headers, 40)
        assert statuses.count(200) == 5, statuses
        assert statuses.count(429) == 35
        await asyncio.sleep(1.1)
        # a second later the budget is back, still shared
        statuses = await burst([b.url, a.url], headers, 12)
        assert statuses.count(200) == 5, statuses


async def test_without_redis_the_same_burst_is_limited_per_process(tmp_path: Path) -> None:
    env = database(tmp_path)
    credentials = bootstrap(env)
    env.update(PAYREQ_DEFAULT_RATE_LIMIT="5")
    with serve(env, tmp_path / "a.log") as a, serve(env, tmp_path / "b.log") as b:
        headers = await token(a.url, credentials)
        await asyncio.sleep(1.0)  # the token request spent one of the key's budget
        assert (await burst([a.url, b.url], headers, 40)).count(200) == 10


def test_several_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    env = database(tmp_path)
    done = subprocess.run(
        [PAYREQ, "serve", "--workers", "2", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PAYREQ_REDIS_URL" in done.stderr
    assert "multiply" in done.stderr


async def test_when_redis_stops_requests_still_succeed_limited_per_process(
    tmp_path: Path, redis_server_binary: str
) -> None:
    env = database(tmp_path)
    credentials = bootstrap(env)
    with redis_server(redis_server_binary, tmp_path / "redis.log") as (redis_url, redis_process):
        env.update(PAYREQ_REDIS_URL=redis_url, PAYREQ_DEFAULT_RATE_LIMIT="5")
        with serve(env, tmp_path / "a.log") as server:
            headers = await token(server.url, credentials)
            await asyncio.sleep(1.0)  # the token request spent one of the key's budget
            async with httpx.AsyncClient(timeout=10) as client:
                ready = (await client.get(f"{server.url}/readyz")).json()
                assert ready["checks"]["rate_limiter"] == "ok (redis)"
                assert (await burst([server.url], headers, 8)).count(200) == 5

                redis_process.kill()
                redis_process.wait(timeout=10)
                await asyncio.sleep(1.1)

                statuses = await burst([server.url], headers, 8)
                assert statuses.count(200) == 5, statuses  # still limited, now by this process
                assert statuses.count(429) == 3
                answer = await client.get(f"{server.url}/readyz")
                assert answer.status_code == 200  # payments do not go down with the limiter
                assert answer.json()["checks"]["rate_limiter"].startswith("degraded: redis unreachable")
            assert "rate_limiter_degraded" in server.output()
