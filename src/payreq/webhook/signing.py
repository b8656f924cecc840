"""Standard Webhooks signatures (SPEC §6), made with the ``standardwebhooks`` library.

    webhook-id:        the event id, the same on every attempt (receivers deduplicate on it)
    webhook-timestamp: this attempt's time, Unix seconds
    webhook-signature: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``, one per secret,
                       separated by spaces: after a rotation every earlier secret signs
                       too, each until 24 hours after it was rotated out (two rotations
                       in an hour: three signatures)

The body is ``{"type", "timestamp", "data"}``: the event's type, the time of the
change, and the payment as contract B showed it then. It is the same bytes on every
attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from payreq.kit.clock import rfc3339

USER_AGENT = "payreq-webhooks/1"


def body(event_type: str, created_at: datetime, data: str) -> str:
    """The delivered JSON; ``data`` is the stored payment JSON, embedded as it is."""
    return f'{{"type":{json.dumps(event_type)},"timestamp":"{rfc3339(created_at)}","data":{data}}}'


def older_secrets(text: str | None) -> list[tuple[str, datetime]]:
    """The ``older_webhook_secrets`` column: the secrets rotated out before the previous
    one, with the instant each stops signing, newest first."""
    if not text:
        return []
    return [(entry["secret"], datetime.fromisoformat(entry["expiresAt"])) for entry in json.loads(text)]


def older_text(secrets: list[tuple[str, datetime]]) -> str | None:
    """``older_secrets``' column text (None for none)."""
    if not secrets:
        return None
    return json.dumps([{"secret": secret, "expiresAt": rfc3339(until)} for secret, until in secrets])


def signing_secrets(
    secret: str | None,
    previous: str | None,
    previous_expires_at: datetime | None,
    *,
    now: datetime,
    older: str | None = None,
) -> list[str]:
    """The secrets that sign at ``now``: the current one, and every earlier one until it
    expires (the previous, then the ``older`` ones: ``older_secrets``)."""
    chosen = [secret] if secret else []
    earlier = [(previous, previous_expires_at)] if previous and previous_expires_at else []
    for candidate, until in [*earlier, *older_secrets(older)]:
        if now < until and candidate not in chosen:
            chosen.append(candidate)
    return chosen


def headers(message_id: str, at: datetime, payload: str, secrets: Sequence[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with every secret."""
    stamp = at.astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, stamp, payload) for secret in secrets)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signatures,
    }
