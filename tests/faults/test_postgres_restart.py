"""PostgreSQL restarted under load (the security research's T57), on a private
cluster this test starts with ``initdb`` and ``pg_ctl``: while the database is down
every request fails fast (503 with the envelope, well within 5 s; nothing hangs);
once it is back the same ``payreq serve`` process serves again by itself (no
restart); no write that was acknowledged is lost, and nothing is half-written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.faults.conftest import (
    Cluster,
    bootstrap,
    create_body,
    new_reference,
    payreq_server,
    private_postgres,
    server_env,
)
from tests.faults.crash import Store

DOWN_FOR = 4.0
FAIL_FAST = 5.0


@pytest.mark.slow
async def test_postgres_restart_under_load_fails_fast_and_recovers_without_a_restart(tmp_path: Path) -> None:
    with private_postgres() as cluster:
        conn = await asyncpg.connect(cluster.admin_url)
        await conn.execute("CREATE DATABASE payreq")
        await conn.close()
        env = server_env(cluster.url("payreq"))
        credentials = bootstrap(env)
        headers = {"Authorization": f"Bearer {credentials['client_token']}"}
        with payreq_server(env, tmp_path / "server.log") as server:
            await server.start()
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                # every event gets a delivery row to check (no worker runs: they stay pending)
                issued = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(credentials["client_id"], credentials["client_secret"]),
                )
                patched = await client.patch(
                    f"/api/payment-applications/{credentials['application_client_id']}",
                    json={"webhookUrl": "https://shop.example/hooks"},
                    headers={"Authorization": f"Bearer {issued.json()['access_token']}"},
                )
                assert patched.status_code == 200, patched.text
                await run_the_outage(cluster, client, headers)
        # nothing half-written: each payment with its event, each event with its delivery
        assert await Store(cluster.url("payreq")).broken_invariants() == {}


async def run_the_outage(cluster: Cluster, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    outcomes: list[dict[str, Any]] = []
    phase = {"name": "before"}
    stop = asyncio.Event()

    async def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            key, reference = f"pg-{worker}-{n}", new_reference()
            started = time.monotonic()
            during = phase["name"]
            try:
                answer: httpx.Response | None = await client.post(
                    "/payment/request",
                    json=create_body(reference),
                    headers={**headers, "Idempotency-Key": key},
                )
            except httpx.HTTPError:
                answer = None
            outcomes.append(
                {
                    "key": key,
                    "reference": reference,
                    "phase": during,
                    "ended": phase["name"],
                    "seconds": time.monotonic() - started,
                    "status": None if answer is None else answer.status_code,
                    "body": None if answer is None else answer.json(),
                }
            )
            await asyncio.sleep(0.02)

    workers = [asyncio.ensure_future(load(i)) for i in range(4)]
    await asyncio.sleep(1.0)
    phase["name"] = "stopping"
    await asyncio.to_thread(cluster.stop, "immediate")
    phase["name"] = "down"
    await asyncio.sleep(DOWN_FOR)
    phase["name"] = "starting"
    await asyncio.to_thread(cluster.start)
    back_at = time.monotonic()
    phase["name"] = "up"
    first_success: float | None = None
    while first_success is None and time.monotonic() - back_at < 15:
        if any(o["phase"] == "up" and o["status"] == 201 for o in outcomes):
            first_success = time.monotonic() - back_at
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)

    before = [o for o in outcomes if o["phase"] == "before" and o["ended"] == "before"]
    down = [o for o in outcomes if o["phase"] == "down" and o["ended"] == "down"]
    up = [o for o in outcomes if o["phase"] == "up"]
    assert before and all(o["status"] == 201 for o in before), before[:3]
    # down: every answer is a quick 503 in the envelope; none hangs, none is a 500
    assert len(down) >= 10, len(down)
    assert all(o["seconds"] < FAIL_FAST for o in outcomes), max(o["seconds"] for o in outcomes)
    for o in down:
        assert o["status"] == 503, o
        assert o["body"]["error"]["type"] == "service_unavailable", o
        assert o["body"]["error"]["request_id"], o
    assert all(o["status"] in (201, 503) for o in outcomes), {o["status"] for o in outcomes}
    # up: the same process serves again by itself, soon, and then every request succeeds
    assert first_success is not None and first_success < 5.0, first_success
    settled = [o for o in up if o["status"] == 201]
    assert settled and all(o["status"] == 201 for o in up[-8:]), [o["status"] for o in up]

    # no acknowledged write is lost, and retrying a refused key converges on one payment
    for o in outcomes:
        if o["status"] == 201:
            read = await client.get(f"/payment/request/{o['body']['id']}", headers=headers)
            assert read.status_code == 200, (o, read.text)
            assert read.json() == o["body"]
        else:
            retry = await client.post(
                "/payment/request",
                json=create_body(o["reference"]),
                headers={**headers, "Idempotency-Key": o["key"]},
            )
            assert retry.status_code == 201, retry.text
            listed = await client.get(
                "/payment/request", params={"reference_id": o["reference"]}, headers=headers
            )
            assert [item["id"] for item in listed.json()["data"]] == [retry.json()["id"]]
    print(
        f"{len(before)} before, {len(down)} refused while down (slowest "
        f"{max(o['seconds'] for o in down):.3f} s), first success {first_success:.2f} s after the restart, "
        f"{len(settled)} after"
    )
