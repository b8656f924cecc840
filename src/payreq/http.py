"""The JSON surface's plumbing: the error envelope, its renderers, the request id.

Error body everywhere but ``/oauth/*``:
``{"error": {"type", "code", "message", "param"?, "request_id"}}``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import parse_qs

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.types import Send

from payreq.errors import BadRequest, PayreqError
from payreq.kit.jsonbody import refuse_fields

log = structlog.get_logger("payreq.http")

REQUEST_ID_KEY = "payreq.request_id"
HEADERS_KEY = "payreq.response_headers"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '([^']+)'")


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    type: str
    code: str
    message: str
    request_id: str
    param: str | None = None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The body is not JSON, not an object, a required field is missing, or it carries a field this "
    "operation does not know (code unknown_field, param names it).",
    401: "No token, or an unknown, expired or revoked one (WWW-Authenticate: Bearer).",
    403: "The token lacks the scope this operation needs, or names another application.",
    404: "No such resource in this account and environment.",
    409: "The resource's state does not allow this.",
    413: "The body is larger than 64 KiB.",
    422: "A field is present but breaks a rule.",
    429: "Too many requests for this key (Retry-After).",
    500: "Unexpected; the body carries the request id.",
    503: "A dependency (the database) is unavailable; retry with back-off.",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: the documented error answers, in the envelope."""
    chosen = sorted(set(statuses) | {500, 503})
    return {
        s: ResponseSpec(ErrorEnvelope, description=_DESCRIPTIONS[s], generate_examples=False) for s in chosen
    }


def add_response_headers(request: Request[Any, Any, Any], headers: dict[str, str]) -> None:
    """Headers for whatever answer this request gets, success or error (rate limits)."""
    add_scope_headers(cast("dict[str, Any]", request.scope), headers)


def add_scope_headers(scope: dict[str, Any], headers: dict[str, str]) -> None:
    """The same, given the ASGI scope (the lean routes have no ``Request``)."""
    scope.setdefault(HEADERS_KEY, []).extend((k.lower().encode(), v.encode()) for k, v in headers.items())


_random_bits = random.getrandbits


def new_request_id() -> str:
    """``req_`` and 32 random hex digits. Unique, not secret (it is shown to whoever
    sent the request): the process's Mersenne Twister, seeded from the OS at start and
    again in every forked child, spares a ``getrandom`` system call per request."""
    return f"req_{_random_bits(128):032x}"


def choose_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` if it is sane, otherwise a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(incoming):
                return incoming
            break
    return new_request_id()


def request_id(request: Request[Any, Any, Any]) -> str:
    """The request's id; answers the framework gives before routing (404, 405) pass
    no middleware, so they choose theirs here."""
    scope = cast("dict[str, Any]", request.scope)
    rid = scope.get(REQUEST_ID_KEY)
    if rid is None:
        rid = scope[REQUEST_ID_KEY] = choose_request_id(scope["headers"])
    return str(rid)


def envelope(
    request: Request[Any, Any, Any],
    *,
    status: int,
    type: str,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    rid = request_id(request)
    return Response(
        envelope_body(rid, type=type, code=code, message=message, param=param),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "X-Request-ID": rid, **(headers or {})},
    )


def envelope_body(rid: str, *, type: str, code: str, message: str, param: str | None = None) -> bytes:
    return msgspec.json.encode(
        ErrorEnvelope(ErrorDetail(type=type, code=code, message=message, request_id=rid, param=param))
    )


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON answer as the two ASGI messages (the lean routes, the edge's own errors)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(scope: dict[str, Any], send: Send, error: PayreqError) -> None:
    """The house envelope for ``error``, written straight to ASGI: the same status,
    body and headers as ``render_payreq_error`` gives through the framework."""
    rid = scope.get(REQUEST_ID_KEY)
    if rid is None:
        rid = scope[REQUEST_ID_KEY] = choose_request_id(scope["headers"])
    body = envelope_body(str(rid), type=error.type, code=error.code, message=error.message, param=error.param)
    await send_json(
        send,
        error.status,
        body,
        [
            (b"cache-control", b"no-store"),
            (b"x-request-id", str(rid).encode()),
            *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
        ],
    )


def render_payreq_error(request: Request[Any, Any, Any], exc: PayreqError) -> Response[bytes]:
    return envelope(
        request,
        status=exc.status,
        type=exc.type,
        code=exc.code,
        message=exc.message,
        param=exc.param,
        headers=exc.headers,
    )


_HTTP_TYPES = {
    400: ("invalid_request", "invalid_request"),
    401: ("authentication_error", "unauthenticated"),
    403: ("permission_error", "insufficient_permissions"),
    404: ("not_found", "route_not_found"),
    405: ("invalid_request", "method_not_allowed"),
    413: ("payload_too_large", "payload_too_large"),
    415: ("invalid_request", "unsupported_media_type"),
}


def missing_query_parameter(name: str) -> BadRequest:
    """400 ``missing_parameter``. A route raises it itself, after authenticating, for
    a query parameter it requires: the framework checks its required parameters
    before any dependency, so an unauthenticated caller would get 400, not 401."""
    return BadRequest(f"Missing required query parameter: {name}.", code="missing_parameter", param=name)


def render_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """The framework's own answers (unknown route, wrong method, bad query parameter)."""
    status = exc.status_code
    if status >= 500:
        return render_unexpected(request, exc)
    type_, code = _HTTP_TYPES.get(status, ("invalid_request", "invalid_request"))
    message = exc.detail
    param = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict) and first.get("key"):
            param = str(first["key"])
            message = f"Invalid value for {param}: {first.get('message', 'invalid value')}."
            if first.get("source") == "query":
                # present but breaking a rule (limit=abc): 422, as for body fields
                status, type_, code = 422, "validation_error", "invalid_value"
    missing = _MISSING_PARAMETER.match(str(exc.detail)) if isinstance(exc, ValidationException) else None
    if missing:
        param, code = missing.group(1), "missing_parameter"
        message = missing_query_parameter(param).message
    if status == 404:
        message = "No such route."
    elif status == 413:
        message = too_large_text(request)
    methods = [v for k, v in (exc.headers or {}).items() if k.lower() == "allow"]
    headers = {"Allow": allow(m.strip() for m in methods[0].split(","))} if methods else {}
    return envelope(
        request, status=status, type=type_, code=code, message=message, param=param, headers=headers
    )


def too_large_text(request: Request[Any, Any, Any]) -> str:
    """The 413's message, naming the body limit of the route asked for."""
    return f"The request body is larger than {body_limit_text(request)}."


def body_limit_text(request: Request[Any, Any, Any]) -> str:
    """The body limit of the route asked for (10 MiB for a statement), else the app's."""
    handler = request.scope.get("route_handler")
    limit = getattr(handler, "request_max_body_size", None)
    if not isinstance(limit, int):
        limit = getattr(request.app, "request_max_body_size", None)
    if not isinstance(limit, int):
        return "the limit"
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


UNEXPECTED = "An unexpected error occurred. Retry with back-off; quote the request id to support."
TOO_LARGE = "The request body is larger than 64 KiB."
"""The app-wide limit's message (routes with their own limit name theirs: ``too_large_text``)."""


def render_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled_error", request_id=request_id(request), exc_info=exc)  # route: a template
    return envelope(request, status=500, type="api_error", code="internal_error", message=UNEXPECTED)


def page_error_status(request: Request[Any, Any, Any], exc: Exception) -> int:
    """The status an HTML error page answers with: the error's own, 503 as it is, and
    anything else unexpected as 500, logged with the request id."""
    if isinstance(exc, PayreqError):
        status = exc.status
    elif isinstance(exc, HTTPException):
        status = exc.status_code
    else:
        status = 500
    if status >= 500 and status != 503:
        render_unexpected(request, exc)
        status = 500
    return status


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_OPTS = ("body", "form", "raw_body")
"""A route's ``opt`` names its body: ``body`` (a JSON ``Body`` type), ``form`` (a form's
fields) or ``raw_body`` (a file, a payer's form). A write naming none takes no body."""


async def refuse_undeclared_body(request: Request[Any, Any, Any]) -> None:
    """A write without a body of its own accepts nothing or ``{}``: a field sent there is
    refused like an unknown field (400 ``unknown_field``), never silently ignored. The
    same for a query parameter the write does not declare (``refuse_query``)."""
    if request.method not in WRITE_METHODS:
        return
    if request.scope.get("query_string"):
        refuse_query(request.scope["query_string"], request.route_handler.opt.get(QUERY_OPT, frozenset()))
    if not any(key in request.route_handler.opt for key in BODY_OPTS):
        refuse_fields(await request.body())


QUERY_OPT = "query_names"
"""A route's ``opt`` entry: the query parameters it declares (``declared_query``), set
for every handler by ``create_app``."""


def declared_query(handler: Any) -> frozenset[str]:
    """The query parameters a route handler declares (``QueryParameter``), by the name
    a client sends."""
    return frozenset(
        parameter.kwarg_definition.query or name
        for name, parameter in handler.parsed_fn_signature.parameters.items()
        if isinstance(parameter.kwarg_definition, QueryParameter)
    )


def refuse_query(query_string: bytes, declared: frozenset[str] = frozenset()) -> None:
    """400 ``unknown_parameter`` for a write's query parameter it does not take:
    ``POST /payment/request?recurring=true`` must not create a one-off payment as if
    nothing had been asked (a gateway never quietly ignores what was asked)."""
    for name in parse_qs(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in declared:
            raise BadRequest(
                f"Unknown query parameter: {name}. This operation does not accept it"
                + ("; its fields go in the JSON body." if not declared else "."),
                code="unknown_parameter",
                param=name,
            )


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """``before_request`` of the OPTIONS handlers only (set in ``create_app``): OPTIONS
    answers the path's methods as its 405 does.

    Litestar's own OPTIONS handler keeps the method list of the first route object
    built for a path; when several routers add handlers to one path (GET and POST on
    ``/payment/request``) the route is rebuilt and that list goes stale.
    """
    if request.method != "OPTIONS":
        return None
    methods: set[str] = set()
    template = request.scope.get("path_template")
    for route in request.app.routes:
        if route.path_format == template or route.path == template:
            methods.update(getattr(route, "methods", ()))
    if not methods:
        return None
    return Response(content=None, status_code=204, headers={"Allow": allow(methods)})


def allow(methods: Iterable[str]) -> str:
    """An ``Allow`` header's value: with GET comes HEAD, which the edge answers as GET."""
    names = set(methods)
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names))
