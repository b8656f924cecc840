"""``POST /oauth/token`` and ``POST /oauth/revoke``: RFC 6749 bodies, seeds' status codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.openapi.datastructures import ResponseSpec

from payreq.auth.dependencies import (
    rate_header_pairs,
    rate_headers,
    refused,
    scope_address,
    scope_header,
)
from payreq.errors import PayreqError
from payreq.http import error_responses
from payreq.oauth.errors import InvalidClient, OAuthError, Refused
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
        description=(
            "slow_down: too many failed client authentications from this address, or more token "
            "requests than the key's or the account's rate limit (Retry-After)"
        ),
        generate_examples=False,
    ),
    413: ResponseSpec(
        OAuthErrorBody, description="invalid_request: the body is larger than 64 KiB", generate_examples=False
    ),
    500: error_responses()[500],  # an unexpected fault keeps the house envelope with the request id
    503: ResponseSpec(
        OAuthErrorBody,
        description="server_error: the database is unavailable; retry with back-off",
        generate_examples=False,
    ),
}


class TooManyAttempts(OAuthError):
    """RFC 6749 has no code for this; 429 with ``Retry-After`` tells clients what to do."""

    status = 429
    error = "slow_down"

    def __init__(
        self,
        retry_after: int,
        description: str = "Too many failed client authentications from this address; retry later.",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.retry_after = retry_after
        self.headers = headers or {}


async def failed(services: Services, scope: Mapping[str, Any], error: InvalidClient) -> OAuthError:
    """A failed client authentication counts against the address (RFC 6749 §2.3.1); past
    its limit the failing attempt is answered 429. Valid credentials are never refused
    for their address."""
    wait = await services.limiter.record_failure(scope_address(scope))
    return error if wait is None else TooManyAttempts(wait)


def oauth_error_parts(exc: OAuthError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers (besides Content-Type) of an RFC 6749 §5.2 answer."""
    body = msgspec.json.encode(OAuthErrorBody(error=exc.error, error_description=exc.description))
    headers = dict(NO_STORE)
    if isinstance(exc, TooManyAttempts):
        headers.update(exc.headers)
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, Refused):
        headers.update(exc.headers)
    return exc.status, body, [(k.lower().encode(), v.encode()) for k, v in headers.items()]


_KEPT_HEADERS = frozenset({"allow", "retry-after"})


def as_oauth_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Refused:
    """A refusal that is not an ``OAuthError`` (the house's ``PayreqError``, or the
    framework's 405 and 413), told in the RFC 6749 shape: OAuth2 client libraries read
    ``error`` as a string, so the house's envelope would break them."""
    kept = {k: v for k, v in (headers or {}).items() if k.lower() in _KEPT_HEADERS}
    return Refused(status, message, kept)


def oauth_payreq_error(_: Request[Any, Any, Any], exc: PayreqError) -> Response[bytes]:
    return oauth_error(_, as_oauth_error(exc.status, exc.message, exc.headers))


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
    body, headers = await issue_token(services, request.scope, await request.body())
    return Response(body, headers={name.decode(): value.decode() for name, value in headers})


_NO_STORE_PAIRS = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))


async def issue_token(
    services: Services, scope: Mapping[str, Any], raw: bytes
) -> tuple[TokenResponse, list[tuple[bytes, bytes]]]:
    """The whole of ``POST /oauth/token`` but reading the body: the framework's handler
    above and the lean route (``payreq.edge``) both answer with this; the headers as
    ASGI pairs (``NO_STORE``, then the rate-limit headers), as the lean route sends them."""
    form = parse_form(raw, scope_header(scope, b"content-type"))
    authorization = scope_header(scope, b"authorization")
    try:
        grant = await services.oauth.grant(services.db, authorization=authorization, form=form)
    except InvalidClient as exc:
        raise await failed(services, scope, exc) from None
    # each token is an insert: it spends the key's budget and the account's like any request
    decision = await services.limiter.hit(
        grant.rate_key,
        grant.key["rate_limit"],
        account=grant.account_rate_key,
        account_limit=grant.key["account_rate_limit"],
    )
    headers = list(_NO_STORE_PAIRS)
    if decision is not None:
        if not decision.allowed:
            raise TooManyAttempts(
                decision.retry_after, refused(decision).message, headers=rate_headers(decision)
            )
        headers += rate_header_pairs(decision)
    async with services.db.single() as conn:  # the token's INSERT (issue begins if it writes more)
        issued = await services.oauth.issue(conn, grant)
    return TokenResponse(issued.access_token, "Bearer", issued.expires_in, issued.scope), headers


@post(
    "/revoke",
    status_code=200,
    responses=_OAUTH_ERRORS,
    opt={"form": RevokeRequest},
    security=[{"basicAuth": []}],
)
async def revoke(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Revoke an access token or a client token of the key's account at once (RFC 7009); 200 even for an unknown token."""
    services: Services = request.app.state.services
    form = parse_form(await request.body(), request.headers.get("content-type"))
    try:
        async with services.db.transaction() as conn:
            await services.oauth.revoke(conn, authorization=request.headers.get("authorization"), form=form)
    except InvalidClient as exc:
        raise await failed(services, request.scope, exc) from None
    return Response({}, headers=NO_STORE)


router = Router(
    path="/oauth",
    route_handlers=[token, revoke],
    exception_handlers={OAuthError: oauth_error, PayreqError: oauth_payreq_error},
    tags=["OAuth"],
)
