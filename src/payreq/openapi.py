"""The OpenAPI document, as Litestar generates it plus what it cannot know.

Request bodies are decoded by our own code (``kit/jsonbody``) so that the 400/422
split is ours; each route names its body type in ``opt`` and this module writes the
schema in. The framework's generic validation answer is replaced by our envelope.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from payreq.auth.dependencies import REQUIRED_SCOPES
from payreq.idempotency.middleware import covered

REF = "#/components/schemas/{name}"


def build(app: Litestar) -> dict[str, Any]:
    # round-trip so that examples Litestar left as Structs become plain JSON values
    document: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))
    components = document.setdefault("components", {}).setdefault("schemas", {})
    bodies: list[tuple[dict[str, Any], type, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = document.get("paths", {}).get(route.path_format)
        if path_item is None:
            continue
        for handler in route.route_handlers:
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in handler.http_methods:
                operation = path_item.get(method.lower())
                if operation is None:
                    continue
                _fix_validation_answer(operation)
                _document_security(operation, handler)
                keyed = covered(method.upper(), route.path_format)
                if keyed:
                    _document_idempotency(operation)
                _document_headers(operation, replays=keyed)
                if "body" in handler.opt:
                    bodies.append((operation, handler.opt["body"], "application/json"))
                elif "form" in handler.opt:
                    bodies.append((operation, handler.opt["form"], "application/x-www-form-urlencoded"))
    if bodies:
        schemas, defs = msgspec.json.schema_components([b[1] for b in bodies], ref_template=REF)
        components.update(defs)
        for (operation, _, media_type), schema in zip(bodies, schemas, strict=True):
            operation["requestBody"] = {"required": True, "content": {media_type: {"schema": schema}}}
    document["components"].setdefault("headers", {}).update(_HEADERS)
    document.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An access token from POST /oauth/token, or a client token.",
            },
            "basicAuth": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
        }
    )
    return document


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the first answer is stored for 24 h and replayed for the same key and "
    "body (with Idempotent-Replayed: true); another body answers 422, a duplicate still running 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
_IDEMPOTENCY_ANSWERS = {
    "400": "The Idempotency-Key header is malformed, or the request is.",
    "409": "A request with this Idempotency-Key is still running (or the resource's state forbids this).",
    "422": "This Idempotency-Key was used with another request (or a field breaks a rule).",
}


def _document_idempotency(operation: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).append(dict(_IDEMPOTENCY_KEY))
    responses = operation.setdefault("responses", {})
    for status, description in _IDEMPOTENCY_ANSWERS.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorEnvelope")}}},
            },
        )


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


_INTEGER = {"type": "integer", "minimum": 0}
_STRING = {"type": "string"}
_HEADERS = {
    "X-Request-ID": _header("This request's id (the caller's own if it sent a sane one).", _STRING),
    "RateLimit-Limit": _header("Requests per window of the budget that binds (key or account).", _INTEGER),
    "RateLimit-Remaining": _header("Requests left in that budget's window.", _INTEGER),
    "RateLimit-Reset": _header("Whole seconds until a slot of that budget frees.", _INTEGER),
    "RateLimit-Policy": _header('The binding budget, e.g. "key";q=5;w=1 (IETF draft).', _STRING),
    "RateLimit": _header('The binding budget\'s state, e.g. "key";r=4;t=1 (IETF draft).', _STRING),
    "Retry-After": _header("Whole seconds to wait before retrying (at least 1).", _INTEGER),
    "Idempotent-Replayed": _header(
        "true: this is the stored answer to an earlier request with this key.", _STRING
    ),
}
_RATE = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy", "RateLimit")


def _document_headers(operation: dict[str, Any], *, replays: bool) -> None:
    """Every answer names its request id; one given after the credential was accepted
    the rate-limit budget (a bearer route's 2xx and 4xx but 401; the token endpoint's
    token and 429); a 429 ``Retry-After``; a replayed keyed write ``Idempotent-Replayed``.
    (OpenAPI headers are optional: "may carry", as a 429 for failed sign-ins has none.)"""
    security = operation.get("security") or [{}]
    bearer, basic = "bearerAuth" in security[0], "basicAuth" in security[0]
    for status, answer in operation.get("responses", {}).items():
        names = ["X-Request-ID"]
        if (bearer and status[0] in "24" and status != "401") or (basic and status in ("200", "429")):
            names.extend(_RATE)
        if status == "429":
            names.append("Retry-After")
        if replays and status.startswith("2"):
            names.append("Idempotent-Replayed")
        headers = answer.setdefault("headers", {})
        for name in names:
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


def _document_security(operation: dict[str, Any], handler: HTTPRouteHandler) -> None:
    """A route guarded by ``requires(scope)`` takes a bearer token with that scope."""
    provider = (handler.dependencies or {}).get("subject")
    scope = REQUIRED_SCOPES.get(getattr(provider, "dependency", None))
    if scope is not None:
        operation["security"] = [{"bearerAuth": [scope.value]}]


def _fix_validation_answer(operation: dict[str, Any]) -> None:
    """Litestar documents its own 400 body for parameter errors; ours is the envelope."""
    answer = operation.get("responses", {}).get("400")
    schema = (answer or {}).get("content", {}).get("application/json", {}).get("schema", {})
    if answer and "$ref" not in schema:  # a body we declared ourselves is a component reference
        answer["description"] = "A query or path parameter is malformed."
        answer["content"] = {"application/json": {"schema": {"$ref": REF.format(name="ErrorEnvelope")}}}
