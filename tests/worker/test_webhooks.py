"""The worker inside `payreq serve` (no `--no-worker`): a change made over the API is
delivered by the same process, woken by the commit rather than by its next poll."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
from standardwebhooks import Webhook

from payreq.config import Settings
from payreq.services import Services
from tests.fixtures.factories import Merchant
from tests.fixtures.live import PAYREQ, _stop, _wait, environment, free_port
from tests.webhook.conftest import eventually, set_webhook_url
from tests.webhook.receiver import Receiver


async def test_serve_delivers_a_cancellation_made_over_its_api(
    services: Services, settings: Settings, merchant: Merchant, receiver: Receiver, tmp_path: Path
) -> None:
    assert (await set_webhook_url(merchant, receiver.url())).status_code == 200
    async with services.db.transaction() as conn:  # set aside what earlier tests left pending
        await conn.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending'")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **environment(settings.database_url),
        "PAYREQ_EMBEDDED_WORKER": "true",
        "PAYREQ_WEBHOOK_POLL_INTERVAL": "30",  # so that only the commit's doorbell can be this quick
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PAYREQ, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz", process, log)
        headers = await merchant.headers()
        async with httpx.AsyncClient(base_url=base, headers=headers) as api:
            created = await api.post(
                "/payment/request",
                json={"amount": "500", "currency": "EUR", "redirect_url": "https://shop.example/done"},
            )
            assert created.status_code == 201, created.text
            payment_id = created.json()["id"]
            await eventually(lambda: len(receiver.received) == 1, timeout=10)
            cancelled = await api.post(f"/payment/request/{payment_id}/cancel")
            assert cancelled.status_code == 200
            committed = time.time()
            await eventually(lambda: len(receiver.received) == 2, timeout=5)
    finally:
        _stop(process)
    created_event, cancelled_event = (
        Webhook(merchant.credentials.webhook_secret).verify(r.body, r.headers) for r in receiver.received
    )
    assert (created_event["type"], cancelled_event["type"]) == ("payment.created", "payment.cancelled")
    assert cancelled_event["data"]["id"] == payment_id
    assert cancelled_event["data"]["status"] == "cancelled"
    assert receiver.received[1].at - committed < 2
    assert "Traceback" not in log.read_text()
