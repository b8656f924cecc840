"""What a call raises. Catch the class that says what you want to handle:

    PayreqError                       everything this SDK raises
    ├── APIError                      payreq answered with an error (status, type, code, message, request_id)
    │   ├── AuthenticationError       401; a wrong client_id/secret at /oauth/token (403 invalid_client)
    │   ├── PermissionDeniedError     403: the credential lacks the scope, or names another application
    │   ├── NotFoundError             404: no such id in this account and environment
    │   ├── ConflictError             409: the payment is terminal, or an Idempotency-Key is in use
    │   ├── ValidationError           400, 413, 422: the request breaks a rule (``param`` names the field)
    │   ├── RateLimitError            429 after the retries (``retry_after`` seconds)
    │   └── ServerError               5xx after the retries
    ├── TransportError                no answer: refused connection, DNS, time-out (after the retries)
    └── WaitTimeout                   ``wait_for_payment`` ran out of time (``payment``: the last state seen)

An ``APIError`` of another status (say 418), or an answer that is not payreq's (a
proxy's HTML page with a 200), is raised as ``APIError`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payreq.client._models import PaymentRequest


class PayreqError(Exception):
    """The base of every exception this SDK raises."""


class APIError(PayreqError):
    """payreq answered with an error. ``type``, ``code``, ``message`` and ``param`` are the
    body's ``error`` fields (for ``/oauth/*``, ``type`` and ``code`` are RFC 6749's ``error``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"{self.status}"]
        if self.code:
            parts.append(self.code)
        text = f"[{' '.join(parts)}] {self.message}"
        if self.param:
            text += f" (param: {self.param})"
        if self.request_id:
            text += f" (request id: {self.request_id})"
        return text


class AuthenticationError(APIError):
    """401: no token, or an unknown, expired or revoked one; or wrong API key credentials."""


class PermissionDeniedError(APIError):
    """403: the credential is valid but may not do this."""


class NotFoundError(APIError):
    """404: no such resource in this account and environment."""


class ConflictError(APIError):
    """409: the resource's state does not allow this, or the Idempotency-Key is in use."""


class ValidationError(APIError):
    """400, 413 or 422: the request breaks a rule; ``param`` names the field when one is at fault."""


class RateLimitError(APIError):
    """429, still, after the retries. ``retry_after`` is the server's ``Retry-After`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx, still, after the retries."""


class TransportError(PayreqError):
    """No answer came: the connection was refused or broke, or the call timed out. The
    underlying ``httpx`` exception is ``__cause__``."""


class WaitTimeout(PayreqError, TimeoutError):
    """``wait_for_payment`` gave up before the payment reached a terminal status;
    ``payment`` is the last state seen (None when no poll was answered in time)."""

    def __init__(self, message: str, *, payment: PaymentRequest | None) -> None:
        super().__init__(message)
        self.payment = payment


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class(status: int) -> type[APIError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
