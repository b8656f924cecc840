"""SIGKILL of ``payreq serve`` during writes (the security research's T56), on SQLite
(``synchronous=FULL``) and PostgreSQL.

- Between the commit and the answer, forced: with ``PAYREQ_FAULT_ANSWER_DELAY`` (off
  unless set, see config.py) the server holds each write's answer after its commit;
  the test waits until the change is visible in the database, then kills. Such a
  write exists exactly once afterwards and its key replays it.
- At random moments (``slow``; ``PAYREQ_CRASH_ROUNDS`` rounds, CI runs fewer; every
  other round right after a random few of its writes were answered): mixed
  creates, cancels, sandbox settlements, statement imports and client tokens. After
  each restart every acknowledged change is there as answered, nothing half-written
  is, every event has its delivery row, and a write that got no answer (only no
  answer or a 503 counts as that) either committed, and its key replays it, or did
  not, and its retry runs it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import bootstrap, create_body, new_reference, payreq_server, server_env
from tests.faults.crash import (
    Store,
    Write,
    cancel,
    create,
    retry_unanswered,
    simulate,
    statement_import,
    token,
    verify_acknowledged,
)
from tests.faults.crash import store as store

ROUNDS = int(os.environ.get("PAYREQ_CRASH_ROUNDS", "10"))
HOLD = "30"  # seconds the answer waits after the commit: the kill comes long before


async def access_token(client: httpx.AsyncClient, credentials: dict[str, Any]) -> dict[str, str]:
    answer = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def prepared(client: httpx.AsyncClient, auth: dict[str, str], credentials: dict[str, Any]) -> None:
    """Every event gets a delivery row: the default application has a webhook URL (no
    worker runs, so they stay pending)."""
    answer = await client.patch(
        f"/api/payment-applications/{credentials['application_client_id']}",
        json={"webhookUrl": "https://shop.example/hooks"},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text


async def pending_payment(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.post("/payment/request", json=create_body(new_reference()), headers=auth)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def wait_until_committed_with_its_answer(store: Store, write: Write, seconds: float = 30) -> None:
    """The change and its stored answer are in the database (a statement import's last
    unit commits before its answer is stored: until then its key is "interrupted")."""
    deadline = time.monotonic() + seconds
    while not (
        await write.committed(store)
        and await store.scalar(
            "SELECT COUNT(*) FROM idempotency_keys WHERE idempotency_key = ? AND status IS NOT NULL",
            write.key,
        )
    ):
        assert time.monotonic() < deadline, f"{write.kind} never committed"
        await asyncio.sleep(0.02)


async def test_writes_killed_between_their_commit_and_their_answer_exist_once_and_their_keys_replay_them(
    store: Store, tmp_path: Path
) -> None:
    env = server_env(store.url)
    credentials = bootstrap(env)
    with payreq_server(env, tmp_path / "server.log") as server:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            auth = await access_token(client, credentials)
            await prepared(client, auth, credentials)
            to_cancel, to_settle = await pending_payment(client, auth), await pending_payment(client, auth)
            writes = [
                create(0, 0),
                cancel(to_cancel),
                simulate(to_settle),
                token(credentials["application_client_id"]),
                statement_import(3),
            ]
            server.kill()
            server.env["PAYREQ_FAULT_ANSWER_DELAY"] = HOLD
            await server.start()
            sent = [asyncio.ensure_future(w.send(client, auth)) for w in writes]
            for write in writes:
                await wait_until_committed_with_its_answer(store, write)
            server.kill()
            assert await asyncio.gather(*sent) == [None] * len(writes), "an answer came although it was held"

            del server.env["PAYREQ_FAULT_ANSWER_DELAY"]
            await server.start()
            assert await store.broken_invariants() == {}
            for write in writes:
                # the change is there exactly once (committed() counts) and its key replays it
                assert await retry_unanswered(client, auth, store, write) is True, write.kind


async def answers(tasks: list[asyncio.Future[Any]], count: int) -> None:
    """Until ``count`` of the writes have their answer (or lost it)."""
    pending = set(tasks)
    while len(tasks) - len(pending) < count:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)


@pytest.mark.slow
async def test_sigkill_at_random_moments_during_mixed_writes(store: Store, tmp_path: Path) -> None:
    env = server_env(store.url)
    credentials = bootstrap(env)
    rng = random.Random(20261201)
    acknowledged: list[tuple[Write, dict[str, Any]]] = []
    unanswered: list[Write] = []
    counts = {"acknowledged": 0, "unanswered": 0, "committed_unanswered": 0, "mid_flight_rounds": 0}

    with payreq_server(env, tmp_path / "server.log") as server:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            auth = await access_token(client, credentials)
            await prepared(client, auth, credentials)
            for round_ in range(ROUNDS):
                payments = [await pending_payment(client, auth) for _ in range(12)]
                writes = (
                    [create(round_, i) for i in range(24)]
                    + [cancel(p) for p in payments[:6]]
                    + [simulate(p) for p in payments[6:]]
                    + [token(credentials["application_client_id"]) for _ in range(3)]
                    + [statement_import(rng.randint(1, 6)) for _ in range(3)]
                )
                rng.shuffle(writes)
                if round_ % 2:  # mid-flight: after a random few answers, while the others are written
                    # (counted, not timed: SQLite's group commit answers a whole batch at once,
                    # so a pause after the first answer often outlasted the burst; and a server
                    # fast enough to commit the whole round in one batch answered every write
                    # before the first answer reached here: the second half goes out after)
                    half = len(writes) // 2
                    tasks = [asyncio.ensure_future(w.send(client, auth)) for w in writes[:half]]
                    await answers(tasks, rng.randint(1, half // 2))
                    tasks += [asyncio.ensure_future(w.send(client, auth)) for w in writes[half:]]
                    await asyncio.sleep(rng.uniform(0.0, 0.05))  # some reach the server, some commit
                else:  # anywhere, from before the first write to after the last
                    tasks = [asyncio.ensure_future(w.send(client, auth)) for w in writes]
                    await asyncio.sleep(rng.uniform(0.005, 3.0))
                server.kill()
                answered = 0
                for write, answer in zip(writes, await asyncio.gather(*tasks), strict=True):
                    if answer is not None and answer.status_code == write.ok:
                        acknowledged.append((write, answer.json()))
                        answered += 1
                    else:
                        # only a lost answer or a 503 is "unanswered"; anything else is a bug
                        assert answer is None or answer.status_code == 503, (write, answer.text)
                        unanswered.append(write)
                counts["mid_flight_rounds"] += 0 < answered < len(writes)

                assert await store.broken_invariants() == {}, round_
                await server.start()
                for write, answer in acknowledged[-answered:] if answered else []:
                    await verify_acknowledged(client, auth, write, answer)
                counts["acknowledged"] = len(acknowledged)
                while unanswered:
                    write = unanswered.pop()
                    counts["unanswered"] += 1
                    counts["committed_unanswered"] += await retry_unanswered(client, auth, store, write)
                assert await store.broken_invariants() == {}, round_

            for write, answer in acknowledged:  # and every earlier one survived the later kills
                await verify_acknowledged(client, auth, write, answer)

    # the kills came at different moments: some rounds lost answers mid-flight
    assert counts["acknowledged"] > 0 and counts["unanswered"] > 0, counts
    assert counts["mid_flight_rounds"] >= min(3, (ROUNDS + 1) // 2), counts
    print(counts)
