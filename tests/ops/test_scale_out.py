"""Scale-out: two ``payreq serve`` and two ``payreq worker`` processes on one fresh
PostgreSQL database and one Redis (a private key prefix), as an operator runs them.
Checked: state is shared, the rate-limit budget is one, no webhook is sent twice at
once, and each overdue payment is expired exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from payreq.db.migrate import upgrade
from tests.fixtures.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
    require_postgres,
)
from tests.fixtures.live import PAYREQ, bootstrap, environment, payreq, serve
from tests.webhook.receiver import Answer, Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REDIS_URL = "redis://127.0.0.1:6379/0"
PAYMENT = {"amount": "1000", "currency": "EUR", "redirect_url": "https://shop.example/back"}


@pytest.fixture
async def cluster_db() -> AsyncIterator[str]:
    await require_postgres()
    name = await create_postgres_database()
    try:
        url = postgres_url(name)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})")
    prefix = f"payreq-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@contextlib.contextmanager
def workers(env: dict[str, str], logs: list[Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = []
    try:
        for log in logs:
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [PAYREQ, "worker"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_two_servers_and_two_workers_share_one_database_and_one_redis(
    cluster_db: str, redis_prefix: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    receiver.default = Answer(delay=0.2)  # slow enough that a second sender would overlap
    receiver.start()
    env = environment(
        cluster_db,
        PAYREQ_BASE_URL="https://pay.example",  # one public address in front of both
        PAYREQ_SECRET_KEY="scale-out-test-secret-key-0123456789abcdef",  # https: the default is refused
        PAYREQ_REDIS_URL=REDIS_URL,
        PAYREQ_REDIS_PREFIX=redis_prefix,
        PAYREQ_WORKER_INTERVAL="0.2",
        PAYREQ_WEBHOOK_POLL_INTERVAL="0.05",
        PAYREQ_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8",
        PAYREQ_WEBHOOK_RETRY_SCHEDULE="0,0.2,0.2",
        PAYREQ_AUTH_CACHE_SECONDS="0",
        PAYREQ_LOG_LEVEL="INFO",
    )
    credentials = bootstrap(env)
    limit = 8
    payreq("admin", "rate-limit", credentials["client_id"], str(limit), env=env)
    try:
        with (
            serve(env, tmp_path / "a.log") as a,
            serve(env, tmp_path / "b.log") as b,
            workers(env, [tmp_path / "w1.log", tmp_path / "w2.log"]) as procs,
        ):
            async with httpx.AsyncClient(timeout=10) as client:
                token_answer = await client.post(
                    f"{a.url}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(credentials["client_id"], credentials["client_secret"]),
                )
                assert token_answer.status_code == 200, token_answer.text
                bearer = {"Authorization": f"Bearer {token_answer.json()['access_token']}"}
                patched = await client.patch(
                    f"{a.url}/api/payment-applications/{credentials['application_client_id']}",
                    json={"webhookUrl": receiver.url()},
                    headers=bearer,
                )
                assert patched.status_code == 200, patched.text
                await asyncio.sleep(1.1)  # a fresh second of budget

                # shared state: created on one server, read on the other
                created = await client.post(f"{a.url}/payment/request", json=PAYMENT, headers=bearer)
                assert created.status_code == 201, created.text
                payment_id = created.json()["id"]
                read = await client.get(f"{b.url}/payment/request/{payment_id}", headers=bearer)
                assert read.status_code == 200 and read.json() == created.json()

                # one budget: each server's answer shows what the other one spent
                remaining_a = int(created.headers["RateLimit-Remaining"])
                remaining_b = int(read.headers["RateLimit-Remaining"])
                assert remaining_b == remaining_a - 1, (remaining_a, remaining_b)
                await asyncio.sleep(1.1)
                started = time.monotonic()
                burst = await asyncio.gather(
                    *(
                        client.get(f"{(a if n % 2 else b).url}/payment/request/{payment_id}", headers=bearer)
                        for n in range(3 * limit)
                    )
                )
                elapsed = time.monotonic() - started
                allowed = sum(r.status_code == 200 for r in burst)
                assert {r.status_code for r in burst} <= {200, 429}
                if elapsed < 1.0:  # all in one window: exactly the key's limit, across both
                    assert allowed == limit, (allowed, elapsed)
                assert allowed < 2 * limit, "each server kept its own budget"

                # webhooks: payments created on both servers, delivered by either worker
                await asyncio.sleep(1.1)
                ids = [payment_id]
                for n in range(limit - 2):
                    made = await client.post(
                        f"{(a if n % 2 else b).url}/payment/request", json=PAYMENT, headers=bearer
                    )
                    assert made.status_code == 201, made.text
                    ids.append(made.json()["id"])

            # expiry: make some overdue in the database itself; the workers sweep them
            conn = await asyncpg.connect(cluster_db)
            try:
                overdue = [uuid.UUID(i) for i in ids[1:]]
                await conn.execute(
                    "UPDATE payments SET expires_at = now() - interval '5 seconds' WHERE id = ANY($1::uuid[])",
                    overdue,
                )
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    expired = await conn.fetchval(
                        "SELECT count(*) FROM payments WHERE id = ANY($1::uuid[]) AND status = 'expired'",
                        overdue,
                    )
                    if expired == len(overdue):
                        break
                    await asyncio.sleep(0.2)
                events = await conn.fetch(
                    "SELECT payment_id, type, count(*) AS n FROM events WHERE payment_id = ANY($1::uuid[])"
                    " GROUP BY payment_id, type",
                    [uuid.UUID(i) for i in ids],
                )
                expected_events = len(ids) + len(overdue)  # one created each, one expired each overdue
                while (
                    time.monotonic() < deadline
                    and len({r.webhook_id for r in receiver.received}) < expected_events
                ):
                    await asyncio.sleep(0.2)
            finally:
                await conn.close()
            for proc in procs:
                assert proc.poll() is None, "a worker died"
    finally:
        receiver.stop()

    counts = {(str(r["payment_id"]), r["type"]): r["n"] for r in events}
    for overdue_id in ids[1:]:
        assert counts.get((overdue_id, "payment.expired")) == 1, counts
    assert all(n == 1 for n in counts.values()), counts
    assert len(counts) == expected_events
    webhook_ids = [r.webhook_id for r in receiver.received]
    assert len(set(webhook_ids)) == expected_events, webhook_ids
    assert receiver.overlaps == [], "a webhook was sent twice at the same time"
    assert len(webhook_ids) == len(set(webhook_ids)), "a webhook was delivered twice"
    worker_logs = [(tmp_path / f"w{n}.log").read_text() for n in (1, 2)]
    assert all("worker_started" in log for log in worker_logs)
