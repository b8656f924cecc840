"""The Authenticator: resolve ``Authorization: Bearer <token>`` to an AuthSubject.

Tokens are accepted only in the Authorization header (RFC 6750 §2.1; never in a
query string), the scheme case-insensitively. Every failure is one 401 with
``WWW-Authenticate: Bearer``; ``error="invalid_token"`` where a token was sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from payreq.auth import repository
from payreq.auth.subject import AuthSubject, CredentialKind, Scope, Tenant
from payreq.db import Database, DatabaseUnavailable
from payreq.errors import Forbidden, Unauthenticated
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import SecretKind, digest, secret_kind

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A client token's ``last_used_at`` is written at most this often, so that the hot
path reads without writing on nearly every request."""


class Authenticator:
    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def authenticate(self, authorization: str | None, *, query_token: bool = False) -> AuthSubject:
        if query_token:
            raise Unauthenticated(token_sent=True, description="send the token in the Authorization header")
        if not authorization:
            raise Unauthenticated(token_sent=False)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthenticated(token_sent=False)
        token = token.strip()
        kind = secret_kind(token) if token and " " not in token else None
        if kind is SecretKind.ACCESS_TOKEN:
            subject = await self._access_token(token)
        elif kind is SecretKind.CLIENT_TOKEN:
            subject = await self._client_token(token)
        else:
            subject = None
        if subject is None:
            raise Unauthenticated(token_sent=True)
        return subject

    async def require(
        self, authorization: str | None, scope: Scope, *, query_token: bool = False
    ) -> AuthSubject:
        subject = await self.authenticate(authorization, query_token=query_token)
        if not subject.allows(scope):
            raise Forbidden(scope=scope)
        return subject

    async def _access_token(self, token: str) -> AuthSubject | None:
        async with self.db.read() as conn:
            row = await repository.access_token_by_digest(conn, digest(token))
        if (
            row is None
            or row["revoked_at"] is not None
            or row["key_revoked_at"] is not None
            or row["disabled_at"] is not None
            or row["expires_at"] <= self.clock()
        ):
            return None
        return AuthSubject(
            kind=CredentialKind.ACCESS_TOKEN,
            credential_id=row["id"],
            tenant=Tenant(row["account_id"], row["environment"]),
            scopes=frozenset(row["scope"].split()),
            application_id=None,
            rate_key=f"key:{row['api_key_id']}",
            rate_limit=row["rate_limit"],
        )

    async def _client_token(self, token: str) -> AuthSubject | None:
        async with self.db.read() as conn:
            row = await repository.client_token_by_digest(conn, digest(token))
        now = self.clock()
        if (
            row is None
            or row["revoked_at"] is not None
            or row["archived_at"] is not None
            or row["disabled_at"] is not None
            or (row["expires_at"] is not None and row["expires_at"] <= now)
        ):
            return None
        if row["last_used_at"] is None or row["last_used_at"] <= now - LAST_USED_RESOLUTION:
            await self._record_use(row["id"], now)
        return AuthSubject(
            kind=CredentialKind.CLIENT_TOKEN,
            credential_id=row["id"],
            tenant=Tenant(row["account_id"], row["environment"]),
            scopes=frozenset(row["scopes"].split()),
            application_id=row["application_id"],
            rate_key=f"ct:{row['id']}",
            rate_limit=row["rate_limit"],
        )

    async def _record_use(self, token_id: UUID, now: datetime) -> None:
        """Bookkeeping only: a busy database skips it rather than fail the request."""
        try:
            async with self.db.transaction() as conn:
                await repository.touch_client_token(
                    conn, token_id, at=now, unless_since=now - LAST_USED_RESOLUTION
                )
        except DatabaseUnavailable:
            return
