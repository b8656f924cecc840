"""The error family. Domain code raises these; one renderer per surface turns them
into responses (``payreq.app``: the JSON envelope; ``payreq.oauth``: RFC 6749).

    PayreqError(status, type, code, message, param)
    ├── BadRequest           400 invalid_request
    ├── Unauthenticated      401 authentication_error   (+ WWW-Authenticate: Bearer)
    ├── Forbidden            403 permission_error       (+ Bearer error="insufficient_scope")
    ├── NotFound             404 not_found
    ├── Conflict             409 invalid_state / idempotency_conflict
    ├── PayloadTooLarge      413 payload_too_large
    ├── ValidationFailed     422 validation_error
    ├── RateLimited          429 rate_limited           (+ Retry-After)
    └── ServiceUnavailable   503 service_unavailable
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class PayreqError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)


class BadRequest(PayreqError):
    status = 400
    type = "invalid_request"
    default_code = "invalid_request"
    default_message = "The request is malformed."


class Unauthenticated(PayreqError):
    status = 401
    type = "authentication_error"
    default_code = "unauthenticated"
    default_message = "Unauthenticated"

    def __init__(self, *, token_sent: bool, description: str | None = None) -> None:
        challenge = 'Bearer realm="payreq"'
        if token_sent:
            challenge += ', error="invalid_token"'
            if description:
                challenge += f', error_description="{description}"'
        super().__init__(
            code="invalid_token" if token_sent else "missing_token",
            headers={"WWW-Authenticate": challenge},
        )


class Forbidden(PayreqError):
    status = 403
    type = "permission_error"
    default_code = "insufficient_permissions"
    default_message = "Insufficient permissions"

    def __init__(self, *, scope: str | None = None, code: str | None = None) -> None:
        challenge = 'Bearer realm="payreq", error="insufficient_scope"'
        if scope:
            challenge += f', scope="{scope}"'
        super().__init__(code=code, headers={"WWW-Authenticate": challenge})


class NotFound(PayreqError):
    status = 404
    type = "not_found"
    default_code = "resource_missing"
    default_message = "No such resource."


class Conflict(PayreqError):
    status = 409
    type = "invalid_state"
    default_code = "invalid_state"
    default_message = "The resource is not in a state that allows this."


class PayloadTooLarge(PayreqError):
    status = 413
    type = "payload_too_large"
    default_code = "payload_too_large"
    default_message = "The request body is too large."


class ValidationFailed(PayreqError):
    status = 422
    type = "validation_error"
    default_code = "invalid_value"
    default_message = "A field breaks a rule."


class RateLimited(PayreqError):
    status = 429
    type = "rate_limited"
    default_code = "rate_limited"
    default_message = "Too many requests."


class ServiceUnavailable(PayreqError):
    status = 503
    type = "service_unavailable"
    default_code = "service_unavailable"
    default_message = "The service is temporarily unavailable; retry with back-off."
