"""Graceful shutdown on SIGTERM, on both engines: ``payreq serve`` finishes the requests
in flight (and gives no 2xx for work that did not commit); ``payreq worker`` finishes or
times out its deliveries and releases every claim, so another worker can take them at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from payreq.db.base import sqlite_path
from tests.fixtures.backends import migrated_database
from tests.fixtures.live import PAYREQ, bootstrap, environment, serve
from tests.webhook.receiver import Answer, Receiver

pytestmark = pytest.mark.slow
PAYMENT = {"amount": "1000", "currency": "EUR", "redirect_url": "https://shop.example/back"}
IN_FLIGHT = 24


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in migrated_database(request.param, tmp_path):
        yield url


class Blocker:
    """Another client holding the table the requests write to, so that they are all
    still in flight (waiting for the database) when SIGTERM arrives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection | None = None

    async def hold(self) -> None:
        if self.url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(sqlite_path(self.url), isolation_level=None)
            self._sqlite.execute("BEGIN IMMEDIATE")
        else:
            self._pg = await asyncpg.connect(self.url)
            await self._pg.execute("BEGIN; LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE")

    async def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.execute("ROLLBACK")
            await self._pg.close()


async def _bearer(client: httpx.AsyncClient, credentials: dict[str, str]) -> dict[str, str]:
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _count(url: str, ids: list[str]) -> int:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            marks = ",".join("?" * len(ids))
            (found,) = conn.execute(f"SELECT count(*) FROM payments WHERE id IN ({marks})", ids).fetchone()
            return int(found)
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return int(await pg.fetchval("SELECT count(*) FROM payments WHERE id = ANY($1::uuid[])", ids))
    finally:
        await pg.close()


async def test_sigterm_lets_requests_in_flight_finish_and_acknowledges_only_committed_work(
    fresh_url: str, tmp_path: Path
) -> None:
    env = environment(fresh_url, PAYREQ_DATABASE_TIMEOUT="20", PAYREQ_DEFAULT_RATE_LIMIT="100000")
    credentials = bootstrap(env)
    with serve(env, tmp_path / "serve.log") as server:
        limits = httpx.Limits(max_connections=IN_FLIGHT + 2)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            bearer = await _bearer(client, credentials)
            blocker = Blocker(fresh_url)
            await blocker.hold()
            try:
                posts = [
                    asyncio.create_task(
                        client.post(
                            "/payment/request",
                            json={**PAYMENT, "reference_id": f"r{n}"},
                            headers={**bearer, "Idempotency-Key": f"shutdown-{n}"},
                        )
                    )
                    for n in range(IN_FLIGHT)
                ]
                await asyncio.sleep(1.5)  # every request has reached the server and waits
                assert not any(p.done() for p in posts), "the requests were not held in flight"
                os.killpg(server.process.pid, signal.SIGTERM)
                await asyncio.sleep(1.0)
                assert server.process.poll() is None, "the server exited with requests in flight"
            finally:
                await blocker.release()
            answers = await asyncio.gather(*posts, return_exceptions=True)
        server.process.wait(timeout=30)
    # uvicorn re-raises the SIGTERM it caught once it has shut down gracefully
    assert server.process.returncode in (0, -signal.SIGTERM), server.output()[-2000:]
    statuses = [a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers]
    assert statuses == [201] * IN_FLIGHT, statuses
    ids = [a.json()["id"] for a in answers if isinstance(a, httpx.Response)]
    assert await _count(fresh_url, ids) == IN_FLIGHT  # every 201 is committed


async def test_sigterm_on_the_worker_releases_its_claims(fresh_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.default = Answer(hold=threading.Event())  # never answers (30 s)
    receiver.start()
    env = environment(
        fresh_url,
        PAYREQ_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8",
        PAYREQ_WEBHOOK_TIMEOUT="1.5",
        PAYREQ_WEBHOOK_LEASE="120",
        PAYREQ_WEBHOOK_POLL_INTERVAL="0.05",
        PAYREQ_LOG_LEVEL="INFO",
    )
    credentials = bootstrap(env)
    try:
        with serve(env, tmp_path / "serve.log") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                bearer = await _bearer(client, credentials)
                patched = await client.patch(
                    f"/api/payment-applications/{credentials['application_client_id']}",
                    json={"webhookUrl": receiver.url()},
                    headers=bearer,
                )
                assert patched.status_code == 200, patched.text
                for _ in range(3):
                    made = await client.post("/payment/request", json=PAYMENT, headers=bearer)
                    assert made.status_code == 201
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [PAYREQ, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 30
            while len(receiver.in_flight) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(receiver.in_flight) == 3, "the worker did not claim and send the three deliveries"
            assert await _claimed(fresh_url) == 3
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            stopped_in = time.monotonic() - started
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    finally:
        receiver.stop()
    assert worker.returncode == 0, log.read_text()[-2000:]
    assert stopped_in < 10, stopped_in  # one delivery time-out, not the 120 s lease
    assert await _claimed(fresh_url) == 0  # released: another worker may take them now
    assert "worker_stopped" in log.read_text()


async def _claimed(url: str) -> int:
    sql = "SELECT count(*) FROM webhook_deliveries WHERE claim_token IS NOT NULL"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return int(await pg.fetchval(sql))
    finally:
        await pg.close()


async def _import_record(url: str, import_id: str) -> dict[str, object]:
    sql = "SELECT status, error, lines_done, line_count FROM statement_imports WHERE id = "
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            row = conn.execute(sql + "?", [import_id]).fetchone()
        finally:
            conn.close()
        return dict(zip(("status", "error", "lines_done", "line_count"), row, strict=True))
    pg = await asyncpg.connect(url)
    try:
        found = await pg.fetchrow(sql + "$1::uuid", import_id)
        assert found is not None
        return dict(found)
    finally:
        await pg.close()


async def test_sigterm_records_a_background_import_interrupted_with_what_it_applied(
    fresh_url: str, tmp_path: Path
) -> None:
    env = environment(fresh_url)
    credentials = bootstrap(env)
    rows = "\n".join(f"S-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(30_000))
    body = f"id,date,amount,currency,reference,payer\n{rows}\n".encode()
    with serve(env, tmp_path / "serve.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            bearer = await _bearer(client, credentials)
            started = await client.post(
                "/api/statements",
                content=body,
                headers={**bearer, "Content-Type": "text/csv", "Prefer": "respond-async"},
            )
            assert started.status_code == 202, started.text
            import_id = started.json()["id"]
            for _ in range(300):
                polled = (await client.get(f"/api/statements/{import_id}", headers=bearer)).json()
                if polled["linesDone"] > 0:
                    break
                await asyncio.sleep(0.05)
            assert polled["status"] == "running" and polled["linesDone"] > 0, polled
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=30)
    assert server.process.returncode in (0, -signal.SIGTERM), server.output()[-2000:]
    record = await _import_record(fresh_url, import_id)
    done = record["lines_done"]
    assert record["status"] == "failed", record
    assert isinstance(done, int) and 0 < done < 30_000
    assert record["error"] == (
        f"The import was interrupted: the process applying it stopped (the server shut down) after {done} "
        "lines. Importing the same file again applies the rest."
    )
    assert "statement_import_interrupted" in server.output()
