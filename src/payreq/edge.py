"""The edge: the one ASGI layer in front of the framework, and the lean routes.

Every HTTP request passes ``Edge`` once. It

1. chooses the request id (the caller's ``X-Request-ID`` if sane, else a new one) and
   puts it on every answer, with the headers that the auth check added for it
   (``RateLimit-*``, ``add_scope_headers``);
2. runs the idempotency protocol for a keyed write (``idempotency.middleware``);
3. answers the three hot routes itself, and hands every other request to Litestar.

The hot routes (``GET /payment/request/{id}``, ``POST /payment/request``,
``POST /oauth/token``) are what merchants call in a loop. Through the framework, about
half of a poll's CPU went to routing, dependency injection, the signature model and
response objects (bench/pyspy.py). Here they run the same code the framework's
handlers run (``authorize``, the same services and schemas, the same error renderers)
with none of that machinery. They stay registered with Litestar, which still serves
their OpenAPI document, and any request this layer does not recognise (another
method, ``PAYREQ_LEAN_ROUTES=false``) still reaches them there; the tests in
tests/test_edge.py compare both paths answer for answer.

Before any of that, the edge keeps the path exactly as sent (``exact_path``). The
server decodes ``%2F`` into ``/`` and Litestar drops empty segments and a trailing
slash, so ``GET /api/payment-applications/{app}%2Ftokens`` would list the tokens and
``GET /payment/request//`` the payments. Here an encoded slash stays inside its
segment (an id that holds one is malformed: the 404 of an unknown id), and a path
with an empty segment is no route (the 404 of its surface; the pages tolerate a
trailing slash).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import msgspec
import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from payreq import logs, metrics
from payreq.auth.dependencies import authorize
from payreq.auth.subject import Scope as Permission
from payreq.errors import PayloadTooLarge, PayreqError
from payreq.http import (
    HEADERS_KEY,
    REQUEST_ID_KEY,
    TOO_LARGE,
    UNEXPECTED,
    WRITE_METHODS,
    choose_request_id,
    refuse_query,
    send_error,
    send_json,
)
from payreq.idempotency import middleware as idempotency
from payreq.kit.jsonbody import decode
from payreq.oauth.errors import OAuthError
from payreq.oauth.routes import as_oauth_error, issue_token, oauth_error_parts
from payreq.payment.schemas_a import PaymentRequestCreate, PaymentRequestView

if TYPE_CHECKING:
    from payreq.services import Services

log = structlog.get_logger("payreq.http")

PAYMENT_PREFIX = "/payment/request/"
_encode = msgspec.json.Encoder().encode

LeanRoute = Callable[["Services", dict[str, Any], Receive, Send], Awaitable[None]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method labels; any other method a client sends counts as ``other``."""
UNMATCHED = logs.UNMATCHED
"""The route label of requests no route took (404, 405): raw paths would be unbounded."""
_ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)
PAGES = ("/dashboard", "/checkout")
"""A person's pages, which tolerate the trailing slash people type (``/dashboard/``)."""


def exact_path(scope: dict[str, Any]) -> str | None:
    """The path to route, or None when it has an empty segment (``//``, a trailing
    ``/`` but on a page): such a path is no route, whatever Litestar's normalisation
    would make of it.
    An encoded slash (``%2F`` in ``raw_path``) stays ``%2F`` inside its segment instead
    of splitting it; every other escape is decoded as the server decoded it. Costs one
    substring test per request unless the path holds ``%2``."""
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if raw and b"%2" in raw and _ENCODED_SLASH.search(raw.decode("latin-1")):
        path = "%2F".join(unquote(part) for part in _ENCODED_SLASH.split(raw.decode("latin-1")))
    if "//" in path or (path[-1:] == "/" and path != "/" and not path.startswith(PAGES)):
        return None
    return path


@dataclass(frozen=True, slots=True)
class Lean:
    template: str
    """As Litestar names the route (``path_template``): one label in logs and metrics."""
    handler: LeanRoute


class Edge:
    """``Edge(litestar_app, services)``: see the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        services: Services,
        *,
        no_such_route: ASGIApp | None = None,
        lean: bool = True,
        metrics: bool = True,
        fault_answer_delay: float = 0.0,
    ) -> None:
        self.app = app
        self.no_such_route = no_such_route or app
        self.fault_answer_delay = fault_answer_delay
        self.services = services
        self.lean = lean
        self.metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope = cast("dict[str, Any]", asgi_scope)
        if scope["type"] != "http":
            await self.app(asgi_scope, receive, send)
            return
        started = perf_counter()
        method_label = scope["method"]
        if method_label == "HEAD":
            # RFC 9110 9.3.2: HEAD is answered as GET. Only the app sees GET: the server's
            # own scope stays HEAD, so the server sends the head without the content.
            scope = {**scope, "method": "GET"}
            asgi_scope = cast("Scope", scope)
        path = exact_path(scope)
        if path is not None and path != scope["path"]:
            scope = {**scope, "path": path}
            asgi_scope = cast("Scope", scope)
        rid = scope[REQUEST_ID_KEY] = choose_request_id(scope["headers"])
        id_header = (b"x-request-id", rid.encode())
        route = self.route(scope) if self.lean and path is not None else None
        template = route.template if route is not None else None
        logs.REQUEST.set(
            {"request_id": rid, "route": template} if template else {"request_id": rid, logs.SCOPE: scope}
        )
        status = 500  # if the app never answers
        delay = self.fault_answer_delay if scope["method"] in WRITE_METHODS else 0.0

        async def send_with_id(asgi_message: Message) -> None:
            nonlocal status
            message = cast("dict[str, Any]", asgi_message)
            if message["type"] == "http.response.start":
                status = message["status"]
                if delay:  # fault tests only (Settings.fault_answer_delay): the change has committed
                    await asyncio.sleep(delay)
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append(id_header)
                extra = scope.get(HEADERS_KEY)
                if extra:
                    headers.extend(extra)
                message["headers"] = headers
            await send(asgi_message)

        app: ASGIApp = self.app if path is not None else self.no_such_route
        if route is not None:
            services, handler = self.services, route.handler

            async def lean(_: Scope, lean_receive: Receive, lean_send: Send) -> None:
                await _guarded(handler, services, scope, lean_receive, lean_send)

            app = lean
        keyed = path is not None and scope["method"] in idempotency.METHODS
        raw_keys = idempotency.keys(scope) if keyed else []
        try:
            if raw_keys:
                await idempotency.run_keyed(self.services, scope, receive, send_with_id, app, raw_keys)
            else:
                await app(asgi_scope, receive, send_with_id)
        finally:
            if self.metrics:
                name = template or scope.get("path_template") or UNMATCHED
                method = method_label if method_label in METHODS else "other"
                key = (name, method, status)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = metrics.http.series(name, method, str(status))
                metrics.http.add(series, perf_counter() - started)

    @staticmethod
    def route(scope: dict[str, Any]) -> Lean | None:
        method, path = scope["method"], scope["path"]
        if method == "GET":
            if path.startswith(PAYMENT_PREFIX) and "/" not in path[len(PAYMENT_PREFIX) :]:
                return GET_PAYMENT if len(path) > len(PAYMENT_PREFIX) else None
        elif method == "POST":
            if path == "/payment/request":
                return CREATE_PAYMENT
            if path == "/oauth/token":
                return TOKEN
        return None


async def _guarded(
    route: LeanRoute, services: Services, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """The framework's exception handlers, for a lean route: PayreqError in the
    envelope, anything else a logged 500 (``render_unexpected``)."""
    try:
        await route(services, scope, receive, send)
    except PayreqError as exc:
        await send_error(scope, send, exc)
    except Exception as exc:
        log.error("unhandled_error", request_id=scope.get(REQUEST_ID_KEY), exc_info=exc)
        await send_error(scope, send, _Unexpected())


class _Unexpected(PayreqError):
    default_message = UNEXPECTED


async def read_body(scope: dict[str, Any], receive: Receive, limit: int) -> bytes:
    """The whole body; 413 past ``limit`` (as the framework's ``request_max_body_size``)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = cast("dict[str, Any]", await receive())
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


# -- the routes: the same steps as payment/routes_a.py and oauth/routes.py ------------


async def get_payment_request(
    services: Services, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    subject = await authorize(services, scope, Permission.PAYMENTS_GET)
    payment_id = scope["path"][len(PAYMENT_PREFIX) :]
    async with services.db.read() as conn:
        view = await PaymentRequestView.current(services, conn, subject, payment_id)
    await send_json(send, 200, _encode(view))


async def create_payment_request(
    services: Services, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    subject = await authorize(services, scope, Permission.PAYMENTS_CREATE)
    if scope["query_string"]:
        refuse_query(scope["query_string"])
    data = decode(await read_body(scope, receive, services.settings.max_body_bytes), PaymentRequestCreate)
    draft = data.draft()
    # the application's read: on PostgreSQL, a keyed request's claim carries it
    async with services.db.transaction(first=services.payments.application_read(subject, draft)) as conn:
        payment = await services.payments.create(conn, subject, draft)
    await send_json(send, 201, _encode(PaymentRequestView.of(payment, base_url=services.settings.base_url)))


async def token(services: Services, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    try:
        answer, headers = await issue_token(
            services, scope, await read_body(scope, receive, services.settings.max_body_bytes)
        )
    except (OAuthError, PayreqError) as exc:  # every refusal here in the RFC 6749 shape
        if isinstance(exc, PayreqError):
            exc = as_oauth_error(exc.status, exc.message, exc.headers)
        status, body, error_headers = oauth_error_parts(exc)
        await send_json(send, status, body, error_headers)
        return
    await send_json(send, 200, _encode(answer), headers)


GET_PAYMENT = Lean("/payment/request/{payment_id}", get_payment_request)
CREATE_PAYMENT = Lean("/payment/request", create_payment_request)
TOKEN = Lean("/oauth/token", token)
