"""Verify the webhooks payreq sends you (Standard Webhooks, SPEC §6).

    from payreq.webhooks import verify, WebhookVerificationError

    def receive(body: bytes, headers: Mapping[str, str]) -> int:
        try:
            event = verify(body, headers, os.environ["WEBHOOK_SECRET"])
        except WebhookVerificationError:
            return 400
        if event.type == "payment.paid":
            ...  # event.payment is a payreq.client.Payment; confirm over the API, then ship
        return 204

A delivery carries ``webhook-id`` (the event id, the same on every attempt: deduplicate
on it), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,<base64
HMAC-SHA256 of "id.timestamp.body">``, one per secret after a rotation). ``verify``
checks the timestamp is within ``tolerance`` seconds of now (5 minutes: a replayed
old delivery is refused), that one signature matches one of your secrets (pass the
old and the new one while you rotate), and returns the parsed event. A
``payment.*`` event is a ``PaymentEvent`` with ``payment``; a type this SDK does not
know is still returned, as a ``WebhookEvent`` with its raw ``data``.

Imports the standard library and ``payreq.client`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payreq.client._exceptions import PayreqError
from payreq.client._models import Payment

__all__ = [
    "DEFAULT_TOLERANCE",
    "PAYMENT_EVENT_TYPES",
    "PaymentEvent",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify",
]

DEFAULT_TOLERANCE = 300
PAYMENT_EVENT_TYPES = frozenset({"payment.created", "payment.paid", "payment.cancelled", "payment.expired"})


class WebhookVerificationError(PayreqError):
    """The delivery is not one payreq signed with your secret, or it is too old or too new."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """A verified event. ``id`` is ``webhook-id``; ``data`` is the body's ``data`` as sent."""

    id: str
    type: str
    timestamp: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentEvent(WebhookEvent):
    """``payment.created``, ``.paid``, ``.cancelled`` or ``.expired``: ``payment`` is the
    payment as it was at the event. Confirm with the API before you ship: no order is
    promised between events, and the API always shows the latest state."""

    payment: Payment


def secret_key(secret: str) -> bytes:
    """A ``whsec_`` secret's key bytes."""
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>``: the Standard Webhooks signature of one delivery."""
    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _secrets(secret: str | Sequence[str] | None) -> list[str]:
    if secret is None:
        found = os.environ.get("PAYREQ_WEBHOOK_SECRET") or os.environ.get("WEBHOOK_SECRET")
        if not found:
            raise ValueError("verify needs the webhook secret (or PAYREQ_WEBHOOK_SECRET / WEBHOOK_SECRET)")
        return [found]
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("verify needs at least one webhook secret")
    return secrets


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str] | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """The event of a delivery whose signature matches one of ``secret`` (a secret, or
    a list while you rotate; default ``PAYREQ_WEBHOOK_SECRET`` or ``WEBHOOK_SECRET``)
    and whose timestamp lies within ``tolerance`` seconds of ``now``; else
    ``WebhookVerificationError``. Pass the body exactly as received, before any parsing."""
    secrets = _secrets(secret)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "").strip()
    stamp = lowered.get("webhook-timestamp", "").strip()
    signatures = lowered.get("webhook-signature", "").split()
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    expected = [signature(s, msg_id, timestamp, raw).encode() for s in secrets]
    if not any(hmac.compare_digest(e, given.encode()) for e in expected for given in signatures):
        raise WebhookVerificationError("no signature matches the webhook secret")
    return parse(msg_id, raw)


def parse(msg_id: str, raw: bytes) -> WebhookEvent:
    """The event in a verified body (``{"type", "timestamp", "data"}``)."""
    try:
        payload = json.loads(raw)
        event_type = str(payload["type"])
        when = datetime.fromisoformat(str(payload["timestamp"]))
        data = payload["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError(f"the body is not a payreq event: {exc}") from None
    if event_type in PAYMENT_EVENT_TYPES:
        try:
            payment = Payment.from_json(data)
        except (KeyError, TypeError, ValueError):
            pass
        else:
            return PaymentEvent(id=msg_id, type=event_type, timestamp=when, data=data, payment=payment)
    return WebhookEvent(id=msg_id, type=event_type, timestamp=when, data=data)
