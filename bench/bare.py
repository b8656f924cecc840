"""The ceiling: raw Starlette answering one constant ~400-byte JSON body.

Served by uvicorn exactly as ``payreq serve`` serves payreq (uvloop, httptools, no
access log, no Server header), so the ratio against it is what payreq's own work costs.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/bare"

# shaped like a payment request as contract A shows it, so the bytes on the wire compare
BODY = json.dumps(
    {
        "id": "0b4f6f3e-8a52-4bd4-9a57-2f3a8e1c7d10",
        "status": "pending",
        "amount": "1250",
        "currency": "EUR",
        "redirect_url": "https://shop.example.com/return",
        "reference_id": "order-000001",
        "checkout_url": "http://127.0.0.1:8000/checkout/0b4f6f3e-8a52-4bd4-9a57-2f3a8e1c7d10",
        "created_at": "2026-11-22T10:00:00.000000Z",
        "expires_at": "2026-11-23T10:00:00.000000Z",
        "paid_at": None,
        "cancelled_at": None,
        "expired_at": None,
        "environment": "sandbox",
        "metadata": None,
    },
    separators=(",", ":"),
).encode()


async def constant(_: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route(PATH, constant)])
