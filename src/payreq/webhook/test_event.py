""" "Send a test event": one signed ``webhook.test`` delivery to an application's webhook
URL, now, and what came back (status, latency, the first KiB of the answer).

It is signed like every delivery (Standard Webhooks, with every secret that signs
now), goes through the same guarded client (no private address unless the operator
allows it, no redirect, the same time-out), and is neither stored nor retried.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from payreq.application import repository as applications
from payreq.application.service import ApplicationNotFound, find, tenant_of
from payreq.auth.subject import AuthSubject
from payreq.db import Connection
from payreq.errors import ValidationFailed
from payreq.kit.clock import Clock, rfc3339, utc_now
from payreq.webhook import signing
from payreq.webhook.config import WebhookConfig
from payreq.webhook.limits import SendLimits
from payreq.webhook.outcome import Outcome

TEST_EVENT = "webhook.test"


@dataclass(frozen=True, slots=True)
class PreparedTest:
    url: str
    payload: str
    headers: dict[str, str]
    sandbox: bool


async def prepare(
    conn: Connection,
    subject: AuthSubject,
    client_id: str,
    *,
    clock: Clock = utc_now,
    limits: SendLimits | None = None,
) -> PreparedTest:
    """The signed request, read in a unit of work; nothing is sent inside it. Limited
    per application (``SendLimits``: 429 past it)."""
    tenant = tenant_of(subject)
    app = await find(conn, tenant, client_id)
    row = await applications.webhook_signing(conn, tenant, app.id)
    if row is None:
        raise ApplicationNotFound()
    if not row["webhook_url"]:
        raise ValidationFailed("Set a webhook URL first.", code="no_webhook_url", param="webhookUrl")
    if limits is not None:
        await limits.test_event(app.id)
    now = clock()
    data = json.dumps({"clientId": app.client_id, "message": "A test event sent from the payreq dashboard."})
    payload = f'{{"type":"{TEST_EVENT}","timestamp":"{rfc3339(now)}","data":{data}}}'
    secrets = signing.signing_secrets(
        row["webhook_secret"],
        row["previous_webhook_secret"],
        row["previous_webhook_secret_expires_at"],
        now=now,
        older=row["older_webhook_secrets"],
    )
    headers = signing.headers(f"msg_test_{uuid.uuid4().hex}", now, payload, secrets)
    return PreparedTest(url=row["webhook_url"], payload=payload, headers=headers, sandbox=subject.sandbox)


async def send(prepared: PreparedTest, config: WebhookConfig) -> Outcome:
    """Send it, outside any transaction."""
    from payreq.webhook.sender import Sender  # aiohttp, loaded when first used

    sender = Sender(config)
    try:
        return await sender.send(prepared.url, prepared.payload, prepared.headers)
    except Exception as exc:  # as a delivery records it: its kind, never its text
        return Outcome(None, 0, None, f"could not send: {type(exc).__name__}")
    finally:
        await sender.aclose()
