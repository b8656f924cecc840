"""``POST /oauth/token`` and ``POST /oauth/revoke``: RFC 6749 bodies, seeds' status codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.openapi.datastructures import ResponseSpec

from payreq import metrics
from payreq.oauth.errors import InvalidClient, OAuthError
from payreq.oauth.service import parse_form
from payreq.services import Services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthErrorBody(msgspec.Struct):
    """RFC 6749 §5.2."""

    error: str
    error_description: str


class TokenRequest(msgspec.Struct):
    """Form fields of ``POST /oauth/token`` (application/x-www-form-urlencoded)."""

    grant_type: str
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class RevokeRequest(msgspec.Struct):
    """Form fields of ``POST /oauth/revoke`` (RFC 7009)."""

    token: str
    token_type_hint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


_OAUTH_ERRORS = {
    400: ResponseSpec(
        OAuthErrorBody,
        description="invalid_request, unsupported_grant_type or invalid_scope",
        generate_examples=False,
    ),
    403: ResponseSpec(
        OAuthErrorBody,
        description="invalid_client: wrong id or secret, or a bad Basic header",
        generate_examples=False,
    ),
    429: ResponseSpec(
        OAuthErrorBody,
        description="slow_down: too many failed client authentications from this address (Retry-After)",
        generate_examples=False,
    ),
}


class TooManyAttempts(OAuthError):
    """RFC 6749 has no code for this; 429 with ``Retry-After`` tells clients what to do."""

    status = 429
    error = "slow_down"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed client authentications from this address; retry later.")
        self.retry_after = retry_after


def guard_address(services: Services, scope: Mapping[str, Any]) -> str:
    """Refuse an address that failed client authentication too often (RFC 6749 §2.3.1)."""
    client = scope.get("client")
    address = client[0] if client else "unknown"
    wait = services.limiter.blocked(address)
    if wait is not None:
        metrics.rate_limited.labels("auth_failures").inc()
        raise TooManyAttempts(wait)
    return address


def guard(request: Request[Any, Any, Any], services: Services) -> str:
    return guard_address(services, request.scope)


def oauth_error_parts(exc: OAuthError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers (besides Content-Type) of an RFC 6749 §5.2 answer."""
    body = msgspec.json.encode(OAuthErrorBody(error=exc.error, error_description=exc.description))
    headers = dict(NO_STORE)
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    return exc.status, body, [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def oauth_error(_: Request[Any, Any, Any], exc: OAuthError) -> Response[bytes]:
    status, body, headers = oauth_error_parts(exc)
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={k.decode(): v.decode() for k, v in headers},
    )


@post(
    "/token",
    status_code=200,
    responses=_OAUTH_ERRORS,
    opt={"form": TokenRequest},
    security=[{"basicAuth": []}],
)
async def token(request: Request[Any, Any, Any]) -> Response[TokenResponse]:
    """Exchange an API key (client_id + client_secret) for a 3600-second access token."""
    services: Services = request.app.state.services
    address = guard(request, services)
    form = parse_form(await request.body(), request.headers.get("content-type"))
    try:
        async with services.db.transaction() as conn:
            issued = await services.oauth.issue(
                conn, authorization=request.headers.get("authorization"), form=form
            )
    except InvalidClient:
        await services.limiter.record_failure(address)
        raise
    body = TokenResponse(issued.access_token, "Bearer", issued.expires_in, issued.scope)
    return Response(body, headers=NO_STORE)


@post(
    "/revoke",
    status_code=200,
    responses=_OAUTH_ERRORS,
    opt={"form": RevokeRequest},
    security=[{"basicAuth": []}],
)
async def revoke(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Revoke an access token at once (RFC 7009); answers 200 even for an unknown token."""
    services: Services = request.app.state.services
    address = guard(request, services)
    form = parse_form(await request.body(), request.headers.get("content-type"))
    try:
        async with services.db.transaction() as conn:
            await services.oauth.revoke(conn, authorization=request.headers.get("authorization"), form=form)
    except InvalidClient:
        await services.limiter.record_failure(address)
        raise
    return Response({}, headers=NO_STORE)


router = Router(
    path="/oauth",
    route_handlers=[token, revoke],
    exception_handlers={OAuthError: oauth_error},
    tags=["OAuth"],
)
