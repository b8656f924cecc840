"""Idempotency under concurrency and failure: parallel duplicates, a duplicate while
the first still runs, a key held by another process, a handler that fails after its
unit of work, a handler with two units (answers that carry a secret: test_replay.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import msgspec

from payreq.db.base import sqlite_path
from payreq.idempotency import repository
from payreq.idempotency.middleware import HOLD_LIMIT, fingerprint
from payreq.idempotency.repository import Request, ScopedKey
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.idempotency.conftest import Gate, body, key_rows, keyed, new_key, payments_with_reference
from tests.payment.conftest import error_of


async def test_twenty_parallel_posts_with_one_key_create_exactly_one_payment(
    merchant: Merchant, services: Services
) -> None:
    reference = f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), new_key())

    answers = await asyncio.gather(
        *(
            merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)
            for _ in range(20)
        )
    )

    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    replayed = [a for a in answers if a.status_code == 201 and a.headers.get("idempotent-replayed") == "true"]
    in_use = [a for a in answers if a.status_code == 409]
    assert len(fresh) == 1, [a.status_code for a in answers]
    assert len(fresh) + len(replayed) + len(in_use) == 20, [a.text for a in answers]
    assert all(a.json() == fresh[0].json() for a in replayed)
    assert all(error_of(a, 409, "invalid_state")["code"] == "idempotency_key_in_use" for a in in_use)
    assert await payments_with_reference(services, reference) == 1
    after = await merchant.http.post("/payment/request", json=body(reference_id=reference), headers=headers)
    assert after.headers["idempotent-replayed"] == "true"
    assert after.json() == fresh[0].json()


async def test_a_duplicate_while_the_first_runs_answers_409_then_replays(
    merchant: Merchant, services: Services, test_http: httpx.AsyncClient, gate: Gate
) -> None:
    reference = f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), new_key())
    sent = body(reference_id=reference)
    first = asyncio.ensure_future(test_http.post("/api/_test/slow", json=sent, headers=headers))
    await asyncio.wait_for(gate.entered.wait(), 5)

    duplicate = await asyncio.wait_for(test_http.post("/api/_test/slow", json=sent, headers=headers), 5)
    gate.open.set()
    done = await first
    later = await test_http.post("/api/_test/slow", json=sent, headers=headers)

    error = error_of(duplicate, 409, "invalid_state")
    assert (error["code"], error["param"]) == ("idempotency_key_in_use", "Idempotency-Key")
    assert done.status_code == 201, done.text
    assert (later.status_code, later.headers["idempotent-replayed"]) == (201, "true")
    assert later.json() == done.json()
    assert gate.runs == 1
    assert await payments_with_reference(services, reference) == 1


async def test_an_unanswered_claim_answers_409_and_runs_nothing(
    merchant: Merchant, services: Services
) -> None:
    """A key whose change committed but whose answer was never written (a server that
    stopped between the two, when a handler used two units) is never run again."""
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    sent = msgspec.json.encode(body(reference_id=reference))
    await _claim_without_answer(services, merchant, key, sent)

    answer = await merchant.http.post(
        "/payment/request",
        content=sent,
        headers={**keyed(await merchant.headers(), key), "Content-Type": "application/json"},
    )

    error = error_of(answer, 409, "invalid_state")
    assert error["code"] == "idempotency_key_in_use"
    assert "interrupted" in error["message"]
    assert await payments_with_reference(services, reference) == 0


async def test_a_key_held_by_another_process_answers_409(
    merchant: Merchant, services: Services, backend: str, database_url: str
) -> None:
    """PostgreSQL: another server's uncommitted claim holds the key's advisory lock and
    its row, and the duplicate is refused at once instead of waiting (its INSERT would
    wait on that row: it must not run without the lock). SQLite: another process holds
    the write lock with its claim; the duplicate waits for it, then sees the claim."""
    key, reference = new_key(), f"order-{uuid.uuid4()}"
    sent = msgspec.json.encode(body(reference_id=reference))
    scoped, claim = _claim_of(merchant, key, sent)
    headers = {**keyed(await merchant.headers(), key), "Content-Type": "application/json"}

    if backend == "postgres":
        other = await asyncpg.connect(database_url)
        try:
            async with other.transaction():
                await other.execute("SELECT pg_advisory_xact_lock($1)", scoped.lock_id)
                await other.execute(
                    "INSERT INTO idempotency_keys (account_id, environment, caller, idempotency_key, "
                    "fingerprint, method, path, created_at, expires_at) "
                    "VALUES ($1, $2, $3, $4, $5, 'POST', '/payment/request', $6, $7)",
                    scoped.account_id,
                    scoped.environment,
                    scoped.caller,
                    scoped.key,
                    claim.fingerprint,
                    claim.created_at,
                    claim.expires_at,
                )
                started = asyncio.get_running_loop().time()
                answer = await merchant.http.post("/payment/request", content=sent, headers=headers)
                waited = asyncio.get_running_loop().time() - started
        finally:
            await other.close()
        assert waited < 1.0
    else:
        holding, release = threading.Event(), threading.Event()

        def other_process() -> None:
            conn = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO idempotency_keys (account_id, environment, caller, idempotency_key, fingerprint, "
                "method, path, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(scoped.account_id),
                    scoped.environment,
                    scoped.caller,
                    scoped.key,
                    claim.fingerprint,
                    "POST",
                    "/payment/request",
                    claim.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
                    claim.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
                ),
            )
            holding.set()
            release.wait(5)
            conn.execute("COMMIT")
            conn.close()

        thread = threading.Thread(target=other_process)
        thread.start()
        assert await asyncio.to_thread(holding.wait, 5)
        request = asyncio.ensure_future(merchant.http.post("/payment/request", content=sent, headers=headers))
        await asyncio.sleep(0.2)
        assert not request.done()  # waiting on the other process's write lock
        release.set()
        answer = await request
        await asyncio.to_thread(thread.join, 5)

    assert error_of(answer, 409, "invalid_state")["code"] == "idempotency_key_in_use"
    assert await payments_with_reference(services, reference) == 0


async def test_a_server_error_after_the_unit_rolls_back_and_releases_the_key(
    merchant: Merchant, services: Services, test_http: httpx.AsyncClient, test_app: Any
) -> None:
    reference = f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), new_key())
    ids: list[str] = test_app.state["test.boom_ids"]
    ids.clear()

    first = await test_http.post("/api/_test/boom", json=body(reference_id=reference), headers=headers)
    second = await test_http.post("/api/_test/boom", json=body(reference_id=reference), headers=headers)

    assert error_of(first, 500, "api_error")["code"] == "internal_error"
    assert second.status_code == 500
    assert "idempotent-replayed" not in second.headers
    assert len(ids) == 2  # the handler ran again: the key was released
    # nothing the failed requests did was kept, not even the payment they created
    assert await payments_with_reference(services, reference) == 0
    assert await key_rows(services, merchant) == []


async def test_a_handler_with_two_units_is_replayed(
    merchant: Merchant, services: Services, test_http: httpx.AsyncClient
) -> None:
    reference = f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), new_key())

    first = await test_http.post("/api/_test/two-units", json=body(reference_id=reference), headers=headers)
    again = await test_http.post("/api/_test/two-units", json=body(reference_id=reference), headers=headers)

    assert first.status_code == 201, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await payments_with_reference(services, reference) == 1
    [row] = await key_rows(services, merchant)
    assert row["status"] == 201


async def test_slow_work_after_the_unit_does_not_hold_the_database(
    merchant: Merchant, services: Services, test_http: httpx.AsyncClient
) -> None:
    """A finished unit waits for its answer at most HOLD_LIMIT; then it commits on its
    own, so other requests (on SQLite: the process's one connection) go on."""
    reference = f"order-{uuid.uuid4()}"
    headers = keyed(await merchant.headers(), new_key())
    slow = asyncio.ensure_future(
        test_http.post("/api/_test/slow-after", json=body(reference_id=reference), headers=headers)
    )
    assert HOLD_LIMIT < 0.3
    await asyncio.sleep(0.35)  # the handler sleeps 0.6 s after its unit

    started = asyncio.get_running_loop().time()
    async with services.db.read() as conn:
        committed = await conn.fetch_one(
            "SELECT COUNT(*) AS n FROM payments WHERE reference_id = :r", {"r": reference}
        )
    waited = asyncio.get_running_loop().time() - started
    handler_still_running = not slow.done()  # recorded before awaiting it
    first = await slow
    again = await test_http.post("/api/_test/slow-after", json=body(reference_id=reference), headers=headers)

    # the read went through while the handler still ran: the unit had committed alone
    assert handler_still_running
    assert waited < 0.1, waited
    assert committed is not None and committed["n"] == 1
    assert first.status_code == 201, first.text
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.json() == first.json()
    [row] = await key_rows(services, merchant)
    assert row["status"] == 201


async def test_a_replay_repeats_location_and_content_type_only(
    merchant: Merchant, test_http: httpx.AsyncClient
) -> None:
    headers = keyed(await merchant.headers(), new_key())
    first = await test_http.post("/api/_test/located", json=body(), headers=headers)
    again = await test_http.post("/api/_test/located", json=body(), headers=headers)

    assert first.headers["x-not-kept"] == "1"
    assert again.headers["location"] == first.headers["location"] == f"/payment/request/{first.json()['id']}"
    assert again.headers["content-type"] == "application/json"
    assert again.headers["content-length"] == str(len(first.content))
    assert "x-not-kept" not in again.headers
    assert again.content == first.content


def _claim_of(merchant: Merchant, key: str, sent: bytes) -> tuple[ScopedKey, Request]:
    from payreq.kit.clock import utc_now

    scoped = ScopedKey(uuid.UUID(merchant.credentials.account_id), merchant.credentials.environment, "*", key)
    now = utc_now()
    scope = {
        "method": "POST",
        "path": "/payment/request",
        "raw_path": b"/payment/request",
        "query_string": b"",
    }
    return scoped, Request(
        fingerprint=fingerprint(scope, sent),
        method="POST",
        path="/payment/request",
        created_at=now,
        expires_at=now + timedelta(hours=24),
    )


async def _claim_without_answer(services: Services, merchant: Merchant, key: str, sent: bytes) -> None:
    scoped, claim = _claim_of(merchant, key, sent)
    async with services.db.transaction() as conn:
        assert await repository.claim(conn, scoped, claim) is None


async def test_a_statement_imports_answer_commits_with_its_last_batch(
    merchant: Merchant, services: Services, monkeypatch: Any
) -> None:
    """An import runs in several units (its record, then batches of lines). Its answer is
    written into the last one, so a server that stops once the whole file is applied can
    always replay it: here the separate write of an answer (the one a crash would lose)
    does nothing, and the retry still replays the import instead of answering 409."""
    from payreq.idempotency.middleware import Attempt
    from tests.method.statements import csv_text

    async def lost(self: Attempt, answer: Any) -> None:
        return None

    monkeypatch.setattr(Attempt, "_settle_committed", lost)
    rows = [f"L-{i},2026-11-21,1.00,EUR,lunch {i},Al" for i in range(450)]
    headers = {**keyed(await merchant.headers(), new_key()), "Content-Type": "text/csv"}

    first = await merchant.http.post("/api/statements", content=csv_text(*rows), headers=headers)
    again = await merchant.http.post("/api/statements", content=csv_text(*rows), headers=headers)

    assert first.status_code == 201, first.text
    assert first.json()["status"] == "finished" and first.json()["linesDone"] == 450
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true"), again.text
    assert again.json() == first.json()
