"""Every router, in one place: the whole HTTP surface at a glance."""

from __future__ import annotations

from litestar import Router

from payreq.application.routes import router as payment_applications
from payreq.audit.routes import router as audit_log
from payreq.checkout.routes import router as checkout
from payreq.dashboard.routes import router as dashboard
from payreq.method.routes import router as payment_methods
from payreq.oauth.routes import router as oauth
from payreq.ops.routes import router as ops
from payreq.overview.routes import router as overview
from payreq.payment.routes_a import router as payment_requests
from payreq.payment.routes_b import router as payments_b
from payreq.webhook.routes import router as events


def routers() -> list[Router]:
    return [
        oauth,  # POST /oauth/token, /oauth/revoke
        payment_requests,  # contract A: /payment/request
        payments_b,  # contract B: /api/payment/checkout, /api/payment/{id}, /api/payments
        payment_applications,  # contract B: /api/payment-applications, client tokens
        payment_methods,  # /api/statements, /api/sandbox/payment/{id}/simulate
        checkout,  # the payer's pages: /checkout/{id}
        dashboard(),  # the merchant's pages: /dashboard
        events,  # contract B: /api/events, redeliver, replay
        audit_log,  # contract B: /api/audit-log
        overview,  # contract B: /api/overview
        ops,  # /healthz, /readyz, /openapi.json, /docs
    ]
