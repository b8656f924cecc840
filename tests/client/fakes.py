"""Fakes for the SDK's unit tests: the far side is an ``httpx.MockTransport`` (the
house rule: MockTransport only for the other side of the wire), and time is a clock
that only moves when the client sleeps, so back-off and pacing are measured exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from payreq.client import AsyncClient, Client, RetryPolicy

BASE = "https://payreq.test"


class FakeTime:
    """``clock`` and ``sleep`` for a client: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def payment_a(id: str = "0d9a6c0e-1d6f-4bb0-9a57-3c6f2f0c1a11", status: str = "pending") -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "amount": "10000",
        "currency": "USD",
        "redirect_url": "https://shop.example/thanks",
        "reference_id": "order-1",
        "checkout_url": f"{BASE}/checkout/{id}",
        "created_at": "2026-12-01T08:00:00Z",
        "expires_at": "2026-12-02T08:00:00Z",
        "paid_at": "2026-12-01T08:05:00.250000Z" if status == "paid" else None,
        "cancelled_at": None,
        "expired_at": None,
        "environment": "sandbox",
        "metadata": {"cart": "42"},
    }


def payment_b(id: str = "0d9a6c0e-1d6f-4bb0-9a57-3c6f2f0c1a11", status: str = "pending") -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "amount": 10000,
        "currencyCode": "USD",
        "reference": "ORDER-123",
        "referenceLabel": "Order #123",
        "clientId": "a" * 32,
        "checkoutUrl": f"{BASE}/checkout/{id}",
        "redirectUrl": "https://shop.example/thanks",
        "environment": "sandbox",
        "createdAt": "2026-12-01T08:00:00Z",
        "expiresAt": "2026-12-02T08:00:00Z",
        "paidAt": None,
        "cancelledAt": None,
        "expiredAt": None,
        "metadata": None,
    }


def token_answer(token: str = "tok-1", expires_in: int = 3600) -> httpx.Response:
    body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "*"}
    return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


def error(status: int, type: str, code: str, message: str, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", {})
    body = {"error": {"type": type, "code": code, "message": message, "request_id": "req_abc", **extra}}
    return httpx.Response(status, json=body, headers=headers)


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records every request and answers with ``handler``;
    token requests get ``token_answer`` unless ``handler`` answers them."""

    def __init__(self, handler: Handler, *, tokens: list[str] | None = None) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.tokens = list(tokens or ["tok-1", "tok-2", "tok-3"])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth/token":
            return token_answer(self.tokens.pop(0))
        return self.handler(request)

    def api(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/oauth/token"]

    def token_calls(self) -> int:
        return sum(r.url.path == "/oauth/token" for r in self.requests)


def _options(time: FakeTime, token: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    creds: dict[str, Any] = (
        {"client_token": "prq_ct_sbx_x"} if token else {"client_id": "id", "client_secret": "s"}
    )
    kwargs.setdefault("retry", RetryPolicy(jitter=lambda: 1.0))
    return {**creds, "clock": time.clock, **kwargs}


def client(
    handler: Handler | Recorder, time: FakeTime | None = None, *, token: bool = False, **kwargs: Any
) -> Client:
    time = time or FakeTime()
    return Client(
        BASE, transport=httpx.MockTransport(handler), sleep=time.sleep, **_options(time, token, kwargs)
    )


def async_client(
    handler: Handler | Recorder, time: FakeTime | None = None, *, token: bool = False, **kwargs: Any
) -> AsyncClient:
    time = time or FakeTime()
    return AsyncClient(
        BASE, transport=httpx.MockTransport(handler), sleep=time.asleep, **_options(time, token, kwargs)
    )
