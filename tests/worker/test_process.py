"""`payreq worker` as an operator runs it: a separate process on the same database,
expiring what is due, serving what it measures on its metrics port, and stopping
cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from payreq.auth.subject import Tenant
from payreq.config import Settings
from payreq.payment import repository
from payreq.payment.lifecycle import Status
from payreq.services import Services
from payreq.webhook.repository import events_for_payment
from tests.fixtures.factories import Merchant
from tests.fixtures.live import free_port

PAYREQ = str(Path(sys.executable).with_name("payreq"))


async def test_worker_process_expires_due_payments_and_stops_on_sigterm(
    services: Services, settings: Settings, merchant: Merchant
) -> None:
    created = await merchant.create_payment(expires_in=60)
    payment_id = uuid.UUID(created["id"])
    tenant = Tenant(uuid.UUID(merchant.credentials.account_id), "sandbox")
    # make it overdue in the database itself: the worker process reads real time
    async with services.db.transaction() as conn:
        await conn.execute(
            "UPDATE payments SET expires_at = :at WHERE id = :id",
            {"at": services.clock() - timedelta(seconds=5), "id": payment_id},
        )
    env = {**os.environ, "PAYREQ_DATABASE_URL": settings.database_url, "PAYREQ_WORKER_INTERVAL": "0.2"}
    port = free_port()
    proc = subprocess.Popen(
        [PAYREQ, "worker", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        for _ in range(100):
            await asyncio.sleep(0.1)
            async with services.db.read() as conn:
                payment = await repository.get(conn, tenant, payment_id)
            assert payment is not None
            status = payment.status
            if status is Status.EXPIRED:
                break
        assert status is Status.EXPIRED
        async with services.db.read() as conn:
            types = [row["type"] for row in await events_for_payment(conn, payment_id)]
        assert types == ["payment.created", "payment.expired"]
        # the port serves what this process measures, and nothing it does not (the
        # requests a server answers, its refusals, the gauges a server reads when scraped)
        families = {}
        for _ in range(50):
            answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            families = {f.name: f for f in text_string_to_metric_families(answer.text)}
            expired = [s.value for s in families["payreq_payments"].samples if s.name.endswith("_total")]
            if expired:
                break
            await asyncio.sleep(0.1)  # counted once the sweep's transaction committed
        assert sorted(name for name in families if not name.endswith("_created")) == [
            "payreq_payments",
            "payreq_webhook_attempts",
            "payreq_webhook_lag_seconds",
        ]
        samples = {(s.name, tuple(s.labels.items())): s.value for s in families["payreq_payments"].samples}
        assert samples[("payreq_payments_total", (("status", "expired"),))] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "worker_stopped" in stderr
