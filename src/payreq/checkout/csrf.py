"""CSRF tokens for the checkout's forms, without cookies or server state.

A token is ``<nonce>.<mac>``: a fresh random nonce per rendered form and
HMAC-SHA256 over (payment id, form name, nonce) under a key derived from
``PAYREQ_SECRET_KEY``. It proves the form was rendered by this server for this
payment and this form; a token for another payment or another form, a made-up one
or none at all is refused with 403. Tokens need no expiry of their own: the forms
act only on a pending payment, which expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

_PURPOSE = b"payreq checkout form v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FormTokens:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, payment_id: UUID, form: str, nonce: str) -> str:
        message = b"\0".join((payment_id.bytes, form.encode(), nonce.encode()))
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, payment_id: UUID, form: str) -> str:
        nonce = _b64(secrets.token_bytes(16))
        return f"{nonce}.{self._mac(payment_id, form, nonce)}"

    def check(self, token: str | None, payment_id: UUID, form: str) -> bool:
        if not token or token.count(".") != 1 or len(token) > 200:
            return False
        nonce, mac = token.split(".")
        return bool(nonce) and hmac.compare_digest(mac.encode(), self._mac(payment_id, form, nonce).encode())
