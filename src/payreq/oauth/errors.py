"""RFC 6749 §5.2 errors, with the status codes of the seeds' troubleshooting table."""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(description)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Wrong id or secret, a revoked key, or a malformed Basic header: 403 (seeds)."""

    status = 403
    error = "invalid_client"

    def __init__(self, description: str = "Client authentication failed.") -> None:
        super().__init__(description)


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class Refused(OAuthError):
    """Any other refusal at the OAuth endpoints (a body over the limit, a wrong method,
    the database away) in the RFC 6749 shape: ``invalid_request`` with the house's own
    status below 500, ``server_error`` from 500 (``OAUTH_PATHS``)."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status  # type: ignore[misc]
        self.error = "server_error" if status >= 500 else "invalid_request"  # type: ignore[misc]
        self.headers = dict(headers or {})


OAUTH_PATHS = frozenset({"/oauth/token", "/oauth/token/", "/oauth/revoke", "/oauth/revoke/"})
"""Where every error answers in the RFC 6749 shape, whatever refused the request."""
