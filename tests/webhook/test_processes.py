"""`payreq worker` processes as an operator runs them: a worker killed with SIGKILL
between its claim and its result leaves nothing lost, two workers on one database never
send one delivery twice at once, and SIGTERM lets the deliveries in flight finish."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from payreq.auth.subject import AuthSubject, CredentialKind
from payreq.config import Settings
from payreq.payment.models import PaymentDraft
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.fixtures.live import PAYREQ, environment
from tests.webhook.conftest import event_ids, eventually, tenant_of
from tests.webhook.receiver import Answer, Receiver


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The test database, a compressed schedule, INFO logs (the worker's summary)."""
    return {
        **environment(settings.database_url),
        "PAYREQ_LOG_LEVEL": "INFO",
        "PAYREQ_WORKER_INTERVAL": "0.2",
        "PAYREQ_WEBHOOK_POLL_INTERVAL": "0.05",
        "PAYREQ_WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.2,0.2,0.2",
        "PAYREQ_WEBHOOK_RETRY_JITTER": "0",
        **extra,
    }


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([PAYREQ, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


def log_record(log: Path, event: str) -> dict[str, Any]:
    for line in log.read_text().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            record: dict[str, Any] = json.loads(line)
            return record
    raise AssertionError(f"no {event} in {log.read_text()[-2000:]}")


async def delivery(services: Services, event_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            """SELECT status, attempts, claimed_until, claim_token FROM webhook_deliveries
               WHERE event_id = :e""",
            {"e": uuid.UUID(event_id)},
        )
        attempts = await conn.fetch_all(
            "SELECT status_code FROM webhook_attempts WHERE event_id = :e", {"e": uuid.UUID(event_id)}
        )
    assert row is not None
    return {**{k: row[k] for k in ("status", "attempts", "claimed_until", "claim_token")}, "codes": attempts}


async def test_kill_9_between_claim_and_result_still_delivers_after_restart(
    services: Services, settings: Settings, hooked: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    hang = threading.Event()
    receiver.answers = [Answer(200, hold=hang)]
    env = worker_env(settings, PAYREQ_WEBHOOK_TIMEOUT="3", PAYREQ_WEBHOOK_LEASE="3.5")
    payment = await hooked.create_payment()  # committed: the event and its delivery exist
    event_id = (await event_ids(services, payment["id"]))["payment.created"]
    try:
        with worker(env, tmp_path / "first.log") as first:
            await eventually(lambda: bool(receiver.of(event_id)), timeout=15)
            first.send_signal(signal.SIGKILL)  # mid-send: no answer yet, nothing recorded
            assert first.wait(timeout=10) == -signal.SIGKILL
        claimed = await delivery(services, event_id)
        assert claimed["status"] == "pending"
        assert claimed["claim_token"] is not None  # the dead worker's lease
        assert claimed["codes"] == []
    finally:
        hang.set()

    with worker(env, tmp_path / "second.log") as second:
        await eventually(lambda: len(receiver.of(event_id)) == 2, timeout=20)
        await eventually(lambda: _delivered(services, event_id), timeout=10)
        assert stop(second) == 0
    first_try, second_try = receiver.of(event_id)
    assert first_try.webhook_id == second_try.webhook_id == event_id
    assert second_try.at >= claimed["claimed_until"].timestamp() - 0.05  # once the lease had run out
    done = await delivery(services, event_id)
    assert (done["status"], done["attempts"], done["claim_token"]) == ("delivered", 1, None)
    assert [row["status_code"] for row in done["codes"]] == [200]


async def _delivered(services: Services, event_id: str) -> bool:
    return (await delivery(services, event_id))["status"] == "delivered"


async def test_sigterm_lets_the_delivery_in_flight_finish(
    services: Services, settings: Settings, hooked: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = Answer(200, delay=1.0)
    payment = await hooked.create_payment()
    event_id = (await event_ids(services, payment["id"]))["payment.created"]
    with worker(worker_env(settings), tmp_path / "worker.log") as process:
        await eventually(lambda: bool(receiver.of(event_id)), timeout=15)
        assert stop(process) == 0
    assert (await delivery(services, event_id))["status"] == "delivered"
    assert log_record(tmp_path / "worker.log", "webhook_worker_stopped")["delivered"] == 1


async def create_payments(services: Services, merchant: Merchant, count: int) -> None:
    """``count`` payments (each one payment.created event and its delivery), fast."""
    subject = AuthSubject(
        kind=CredentialKind.ACCESS_TOKEN,
        credential_id=uuid.uuid4(),
        tenant=tenant_of(merchant),
        scopes=frozenset({"*"}),
        application_id=None,
        rate_key="test",
        rate_limit=None,
    )
    draft = PaymentDraft(amount="1000", currency="USD", redirect_url="https://shop.example/thanks")
    for _ in range(count // 100):
        async with services.db.transaction() as conn:
            for _ in range(100):
                await services.payments.create(conn, subject, draft)


async def test_two_workers_deliver_1000_events_none_twice_at_once_none_lost(
    services: Services, settings: Settings, hooked: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = Answer(200, delay=0.005)
    await create_payments(services, hooked, 1000)
    env = worker_env(settings, PAYREQ_WEBHOOK_CONCURRENCY="16")
    started = time.monotonic()
    with worker(env, tmp_path / "a.log") as a, worker(env, tmp_path / "b.log") as b:
        await eventually(lambda: len(set(receiver.ids())) >= 1000, timeout=60)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)  # let both record their last results
        assert stop(a) == 0
        assert stop(b) == 0
    ids = receiver.ids()
    assert len(set(ids)) == 1000
    assert receiver.overlaps == []  # never two sends of one event at the same time
    assert len(ids) == 1000  # and here, with every answer 200, never twice at all
    delivered = [log_record(tmp_path / f"{n}.log", "webhook_worker_stopped")["delivered"] for n in "ab"]
    assert sum(delivered) == 1000
    assert min(delivered) > 0, delivered  # both took part
    async with services.db.read() as conn:
        row = await conn.fetch_one(
            """SELECT COUNT(*) AS n FROM webhook_deliveries d JOIN applications a ON a.id = d.application_id
               WHERE a.client_id = :c AND d.status = 'delivered'""",
            {"c": hooked.credentials.application_client_id},
        )
    assert row is not None and row["n"] == 1000
    assert elapsed < 60
