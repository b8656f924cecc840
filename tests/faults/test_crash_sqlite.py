"""SIGKILL during writes (the security research's T56), on SQLite with
``synchronous=FULL``: a ``payreq serve`` is killed at a random moment during 50
concurrent keyed creates, ten rounds. After each restart every create that got a 2xx
exists with identical data and replaying its key returns it; a create that got no
answer either exists once or not at all, and replaying its key converges on exactly
one payment; ``PRAGMA integrity_check`` is ok and nothing is half-written."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import bootstrap, create_body, new_reference, payreq_server, server_env

ROUNDS = 10
CONCURRENT = 50


def integrity(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "journal": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "payments_without_created_event": conn.execute(
                "SELECT COUNT(*) FROM payments p WHERE NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.payment_id = p.id AND e.type = 'payment.created')"
            ).fetchone()[0],
            "keys_without_answer": conn.execute(
                "SELECT COUNT(*) FROM idempotency_keys WHERE status IS NULL"
            ).fetchone()[0],
        }


@pytest.mark.slow
async def test_sigkill_during_keyed_creates_loses_no_acknowledged_payment(tmp_path: Path) -> None:
    database = tmp_path / "crash.db"
    env = server_env(f"sqlite:///{database}")
    credentials = bootstrap(env)
    headers = {"Authorization": f"Bearer {credentials['client_token']}"}
    rng = random.Random(20261122)
    acknowledged: dict[str, tuple[str, dict[str, Any]]] = {}  # key -> (reference, answer)
    unanswered: dict[str, str] = {}  # key -> reference
    killed_mid_flight = 0
    lost_answers = 0
    committed_unanswered = 0

    with payreq_server(env, tmp_path / "server.log") as server:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for round_ in range(ROUNDS):
                keys = [f"crash-{round_}-{i}-{rng.getrandbits(48):x}" for i in range(CONCURRENT)]
                references = {key: new_reference() for key in keys}

                async def create(key: str, reference: str) -> tuple[str, httpx.Response | None]:
                    try:
                        answer = await client.post(
                            "/payment/request",
                            json=create_body(reference),
                            headers={**headers, "Idempotency-Key": key},
                        )
                    except httpx.HTTPError:
                        return key, None
                    return key, answer

                tasks = [asyncio.ensure_future(create(key, references[key])) for key in keys]
                if round_ % 2:
                    # soon after the first answer, while the others are being written
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    await asyncio.sleep(rng.uniform(0, 0.06))
                else:  # anywhere, from before the first write to after the last
                    await asyncio.sleep(rng.uniform(0.005, 0.25))
                server.kill()
                results = await asyncio.gather(*tasks)
                answered = 0
                for key, answer in results:
                    if answer is not None and answer.status_code == 201:
                        acknowledged[key] = (references[key], answer.json())
                        answered += 1
                    else:
                        assert answer is None or answer.status_code < 500 or answer.status_code == 503, (
                            answer.text
                        )
                        unanswered[key] = references[key]
                        lost_answers += 1
                killed_mid_flight += 0 < answered < CONCURRENT

                checks = await asyncio.to_thread(integrity, database)
                assert checks == {
                    "integrity": "ok",
                    "journal": "wal",
                    "payments_without_created_event": 0,
                    "keys_without_answer": 0,
                }, (round_, checks)

                await server.start()
                committed_unanswered += await verify(client, headers, acknowledged, unanswered)

    assert acknowledged, "no create was ever answered: the kills came too early"
    assert lost_answers, "every create was answered: the kills came too late"
    assert killed_mid_flight >= 3, killed_mid_flight
    print(
        f"{len(acknowledged)} payments, {lost_answers} answers lost to SIGKILL ({committed_unanswered} of them "
        f"committed and replayed on retry), {killed_mid_flight} rounds killed mid-flight"
    )


async def verify(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    acknowledged: dict[str, tuple[str, dict[str, Any]]],
    unanswered: dict[str, str],
) -> int:
    """Check everything; how many unanswered creates turned out committed (replayed)."""
    replayed = 0
    for key, (reference, created) in acknowledged.items():
        read = await client.get(f"/payment/request/{created['id']}", headers=headers)
        assert read.status_code == 200, read.text
        assert read.json() == created
        replay = await client.post(
            "/payment/request", json=create_body(reference), headers={**headers, "Idempotency-Key": key}
        )
        assert replay.status_code == 201, replay.text
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == created
    for key, reference in list(unanswered.items()):
        # a retry converges: it creates the payment if the first never committed, or
        # replays it if it did; either way exactly one payment carries the reference
        retry = await client.post(
            "/payment/request", json=create_body(reference), headers={**headers, "Idempotency-Key": key}
        )
        assert retry.status_code == 201, retry.text
        listed = await client.get("/payment/request", params={"reference_id": reference}, headers=headers)
        assert [item["id"] for item in listed.json()["data"]] == [retry.json()["id"]]
        replayed += retry.headers.get("idempotent-replayed") == "true"
        acknowledged[key] = (reference, retry.json())
        del unanswered[key]
    return replayed
