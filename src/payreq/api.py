"""Every router, in one place: the whole HTTP surface at a glance."""

from __future__ import annotations

from litestar import Router

from payreq.oauth.routes import router as oauth
from payreq.ops.routes import router as ops
from payreq.payment.routes_a import router as payment_requests


def routers() -> list[Router]:
    return [
        oauth,  # POST /oauth/token, /oauth/revoke
        payment_requests,  # contract A: /payment/request
        ops,  # /healthz, /readyz, /openapi.json, /docs
    ]
