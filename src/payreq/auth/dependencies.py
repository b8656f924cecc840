"""Litestar dependencies that declare a route's credential and scope.

Order on every authenticated request: refuse an address that failed too often,
authenticate (a failure counts against the address), spend one request of the
credential's rate budget (429 past it), then check the scope (403).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs

from litestar import Request
from litestar.di import NamedDependency, Provide
from structlog.contextvars import bind_contextvars

from payreq import metrics
from payreq.auth.subject import AuthSubject, CredentialKind, Scope
from payreq.errors import Forbidden, RateLimited, Unauthenticated
from payreq.http import add_scope_headers
from payreq.ratelimit.backend import Decision
from payreq.ratelimit.limiter import RateLimiter
from payreq.services import Services

SUBJECT_KEY = "payreq.auth_subject"
Subject = NamedDependency[AuthSubject]
"""A handler parameter ``subject: Subject`` receives what ``requires`` resolved."""


def client_address(request: Request[Any, Any, Any]) -> str:
    client = request.scope.get("client")
    return client[0] if client else "unknown"


def refuse_if_blocked(limiter: RateLimiter, address: str) -> None:
    wait = limiter.blocked(address)
    if wait is not None:
        metrics.rate_limited.labels("auth_failures").inc()
        raise RateLimited(
            "Too many failed authentication attempts from this address; retry later.",
            code="too_many_failed_attempts",
            headers={"Retry-After": str(wait)},
        )


def rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
        "RateLimit-Policy": f"{decision.limit};w=1",
    }


async def authorize(
    services: Services, scope: dict[str, Any], required: Scope, *, access_token_only: bool = False
) -> AuthSubject:
    """The whole check, on the ASGI scope: used by ``requires`` (through the framework)
    and by the lean routes (``payreq.edge``), so both give the same answers."""
    limiter = services.limiter
    client = scope.get("client")
    address = client[0] if client else "unknown"
    refuse_if_blocked(limiter, address)
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    query: bytes = scope.get("query_string") or b""
    try:
        found = await services.authenticator.authenticate(
            authorization,
            query_token=bool(query)
            and "access_token" in parse_qs(query.decode("latin-1"), keep_blank_values=True),
        )
    except Unauthenticated:
        await limiter.record_failure(address)
        raise
    scope[SUBJECT_KEY] = found
    bind_contextvars(account_id=str(found.tenant.account_id))
    decision = await limiter.hit(found.rate_key, found.rate_limit)
    if decision is not None:
        add_scope_headers(scope, rate_headers(decision))
        if not decision.allowed:
            metrics.rate_limited.labels(
                "client_token" if found.application_id is not None else "api_key"
            ).inc()
            raise RateLimited(
                f"More than {decision.limit} requests per second for this key; retry after the delay.",
                headers={"Retry-After": str(decision.retry_after)},
            )
    if not found.allows(required):
        raise Forbidden(scope=required)
    if access_token_only and found.kind is not CredentialKind.ACCESS_TOKEN:
        raise Forbidden(code="access_token_required")
    return found


def requires(scope: Scope, *, access_token_only: bool = False) -> Provide:
    """``dependencies={"subject": requires(Scope.PAYMENTS_GET)}``: a bearer credential
    of this account that carries ``scope`` (or ``*``).

    ``access_token_only`` is for dashboard operations over the API (applications,
    client tokens, listing payments): a client token gets 403 there (seeds).
    """

    async def subject(request: Request[Any, Any, Any]) -> AuthSubject:
        services: Services = request.app.state.services
        return await authorize(
            services, cast("dict[str, Any]", request.scope), scope, access_token_only=access_token_only
        )

    return Provide(subject)
