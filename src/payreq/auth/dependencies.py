"""Litestar dependencies that declare a route's credential and scope.

Order on every authenticated request: authenticate (a failure counts against the
address, and past the address's failure limit is answered 429 rather than 401; a
valid credential is never refused for its address), spend one request of the
credential's and the account's budgets (429 past either), then check the scope (403);
last, a write that declares no body refuses one that carries fields (400 ``unknown_field``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qs

from litestar import Request
from litestar.di import NamedDependency, Provide

from payreq import metrics
from payreq.auth.subject import AuthSubject, CredentialKind, Scope
from payreq.errors import Forbidden, RateLimited, Unauthenticated
from payreq.http import HEADERS_KEY, refuse_undeclared_body
from payreq.logs import bind_request
from payreq.ratelimit.backend import Decision
from payreq.ratelimit.limiter import RateLimiter
from payreq.services import Services

SUBJECT_KEY = "payreq.auth_subject"
Subject = NamedDependency[AuthSubject]
"""A handler parameter ``subject: Subject`` receives what ``requires`` resolved."""


def client_address(request: Request[Any, Any, Any]) -> str:
    return scope_address(request.scope)


async def failed(limiter: RateLimiter, address: str, error: Unauthenticated) -> Exception:
    """What to raise for a failed authentication: the 401, or 429 once the address has
    failed too often (only failing attempts are refused so)."""
    wait = await limiter.record_failure(address)
    if wait is None:
        return error
    metrics.rate_limited.labels("auth_failures").inc()
    return RateLimited(
        "Too many failed authentication attempts from this address; retry later.",
        code="too_many_failed_attempts",
        headers={"Retry-After": str(wait)},
    )


_RATE_HEADER_NAMES = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)


def rate_headers(decision: Decision) -> dict[str, str]:
    """The binding budget's figures, named (``key`` or ``account``) in ``RateLimit``
    and ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers-10), as a response's
    header dictionary (``rate_header_pairs`` makes them)."""
    return {
        name: value.decode()
        for name, (_, value) in zip(_RATE_HEADER_NAMES, rate_header_pairs(decision), strict=True)
    }


_CONSTANT_PARTS: dict[tuple[str, int, float], tuple[bytes, bytes, bytes]] = {}


def rate_header_pairs(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers as the ASGI pairs every answer of an authorized request
    carries, built as bytes; what depends only on the budget (limit, policy) is made once."""
    key = (decision.name, decision.limit, decision.window)
    parts = _CONSTANT_PARTS.get(key)
    if parts is None:
        if len(_CONSTANT_PARTS) > 1024:  # limits are few; an operator changing many is not a leak
            _CONSTANT_PARTS.clear()
        parts = _CONSTANT_PARTS[key] = (
            str(decision.limit).encode(),
            f'"{decision.name}";q={decision.limit};w={decision.window:g}'.encode(),
            f'"{decision.name}";r='.encode(),
        )
    limit, policy, prefix = parts
    remaining, reset = decision.remaining, decision.reset_seconds
    return [
        (b"ratelimit-limit", limit),
        (b"ratelimit-remaining", b"%d" % remaining),
        (b"ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", policy),
        (b"ratelimit", b"%s%d;t=%d" % (prefix, remaining, reset)),
    ]


def refused(decision: Decision) -> RateLimited:
    metrics.rate_limited.labels(decision.name).inc()
    whose = "this account" if decision.name == "account" else "this key"
    return RateLimited(
        f"More than {decision.limit} requests per second for {whose}; retry after the delay.",
        code="account_rate_limited" if decision.name == "account" else "rate_limited",
        headers={"Retry-After": str(decision.retry_after)},
    )


async def spend(limiter: RateLimiter, subject: AuthSubject) -> Decision | None:
    """One request of the credential's budget and its account's."""
    return await limiter.hit(
        subject.rate_key,
        subject.rate_limit,
        account=subject.account_rate_key,
        account_limit=subject.account_rate_limit,
    )


def scope_address(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def scope_header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), as the framework's ``headers.get``."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def authorize(
    services: Services, scope: dict[str, Any], required: Scope, *, access_token_only: bool = False
) -> AuthSubject:
    """The whole check, on the ASGI scope: used by ``requires`` (through the framework)
    and by the lean routes (``payreq.edge``), so both give the same answers."""
    limiter = services.limiter
    address = scope_address(scope)
    query: bytes = scope.get("query_string") or b""
    try:
        found = await services.authenticator.authenticate(
            scope_header(scope, b"authorization"),
            query_token=bool(query)
            and "access_token" in parse_qs(query.decode("latin-1"), keep_blank_values=True),
        )
    except Unauthenticated as exc:
        raise await failed(limiter, address, exc) from None
    found = found.at(address)  # this request's address, for the audit log (never the cached subject's)
    scope[SUBJECT_KEY] = found
    bind_request(account_id=found.account_text)
    decision = await spend(limiter, found)
    if decision is not None:
        scope.setdefault(HEADERS_KEY, []).extend(rate_header_pairs(decision))
        if not decision.allowed:
            raise refused(decision)
    if not found.allows(required):
        raise Forbidden(scope=required)
    if access_token_only and found.kind is not CredentialKind.ACCESS_TOKEN:
        raise Forbidden(code="access_token_required")
    return found


REQUIRED_SCOPES: dict[object, Scope] = {}
"""Each ``requires`` dependency's scope, by its callable: the OpenAPI document's
``security`` is written from it (payreq.openapi), so no route can declare one scope
and check another, or forget to declare it. Filled at import, one entry per route."""


def requires(scope: Scope, *, access_token_only: bool = False) -> Provide:
    """``dependencies={"subject": requires(Scope.PAYMENTS_GET)}``: a bearer credential
    of this account that carries ``scope`` (or ``*``).

    ``access_token_only`` is for dashboard operations over the API (applications,
    client tokens, listing payments): a client token gets 403 there (seeds).
    """

    async def subject(request: Request[Any, Any, Any]) -> AuthSubject:
        services: Services = request.app.state.services
        found = await authorize(
            services, cast("dict[str, Any]", request.scope), scope, access_token_only=access_token_only
        )
        await refuse_undeclared_body(request)
        return found

    REQUIRED_SCOPES[subject] = scope
    return Provide(subject)
