"""Helpers shared by the OAuth tests: building Basic headers and checking RFC 6749 answers."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx

GRANT = {"grant_type": "client_credentials"}


def basic(client_id: str, client_secret: str, *, encode: bool = True) -> dict[str, str]:
    """``Authorization: Basic`` as RFC 6749 §2.3.1 builds it: each half form-urlencoded, then base64."""
    if encode:
        client_id, client_secret = quote_plus(client_id), quote_plus(client_secret)
    raw = f"{client_id}:{client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def assert_oauth_error(answer: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: the status, ``{"error": <code>, "error_description": <text>}``,
    JSON, and never cached."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    return body


def assert_envelope(answer: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    """The house error envelope of every route but ``/oauth/*``."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"type", "code", "message", "request_id"} <= set(error), error
    assert error["request_id"] == answer.headers["x-request-id"]
    if message is not None:
        assert error["message"] == message
    return error
