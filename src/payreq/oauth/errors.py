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
