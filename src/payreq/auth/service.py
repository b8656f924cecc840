"""The Authenticator: resolve ``Authorization: Bearer <token>`` to an AuthSubject.

Tokens are accepted only in the Authorization header (RFC 6750 §2.1; never in a
query string), the scheme case-insensitively, as RFC 6750 §2.1 writes it:
``Bearer 1*SP b64token``. Every failure is one 401 with ``WWW-Authenticate: Bearer``;
``error="invalid_token"`` where a token was sent, malformed ones included (a tab or no
space after ``Bearer``, a second word, nothing after it); a header of another scheme
(``Basic``) sent none (RFC 6750 §3.1: no error code for another method).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from payreq.auth import repository
from payreq.auth.subject import AuthSubject, CredentialKind, Tenant
from payreq.db import Database, DatabaseUnavailable
from payreq.errors import Unauthenticated
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import SecretKind, digest, secret_kind

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A client token's ``last_used_at`` is written at most this often, so that the hot
path reads without writing on nearly every request."""


CACHE_SIZE = 10_000


class Authenticator:
    """Resolves bearer tokens; valid ones are remembered for ``cache_seconds``.

    The token check is most of the cost of a poll, and merchants poll. A cached
    credential is still checked against its own expiry on every use; any revocation,
    archive or key change in this process clears the cache once its transaction has
    committed (``forget_all``), so here it takes effect on the very next request, and
    on other server processes within ``cache_seconds`` (1 s by default; 0 turns the
    cache off).

    The cache is keyed by the token itself, so that a hit computes no SHA-256 (the
    database holds only digests): only tokens that authenticated enter it, for at
    most ``cache_seconds``, in this process's memory, where every request's token
    passes anyway. A look-up compares the token only with an entry of the same
    randomised string hash, so its timing tells a guesser nothing.
    """

    def __init__(self, db: Database, *, clock: Clock = utc_now, cache_seconds: float = 0.0) -> None:
        self.db = db
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[AuthSubject, datetime, datetime | None]] = {}
        self._ttl = timedelta(seconds=cache_seconds)
        self._generation = 0
        self._also: list[Callable[[], None]] = []

    def also_forget(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` on every ``forget_all``: another cache of credentials (the
        API keys that authenticated at ``/oauth/token``)."""
        self._also.append(forget)

    def forget_all(self) -> None:
        """Credentials changed: nothing cached before now may be used again."""
        self._generation += 1
        self._cache.clear()
        for forget in self._also:
            forget()

    async def authenticate(self, authorization: str | None, *, query_token: bool = False) -> AuthSubject:
        if query_token:
            raise Unauthenticated(token_sent=True, description="send the token in the Authorization header")
        if not authorization:
            raise Unauthenticated(token_sent=False)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            # Bearer<TAB>token, Bearertoken: a bearer token sent malformed; Basic: another scheme
            raise Unauthenticated(token_sent=scheme[:6].lower() == "bearer")
        token = token.lstrip(" ").rstrip(" \t")  # RFC 6750: "Bearer" 1*SP b64token; trailing OWS
        kind = secret_kind(token) if token and " " not in token else None
        if kind is None:
            raise Unauthenticated(token_sent=True)
        cached = self._cache.get(token)
        if cached is not None:
            subject, fresh_until, expires_at = cached
            now = self.clock()
            if now < fresh_until and (expires_at is None or now < expires_at):
                return subject
            del self._cache[token]
        generation = self._generation
        key = digest(token)
        found = await (
            self._access_token(key) if kind is SecretKind.ACCESS_TOKEN else self._client_token(key)
        )
        if found is None:
            raise Unauthenticated(token_sent=True)
        subject, expires_at = found
        if self.cache_seconds and generation == self._generation:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[token] = (subject, self.clock() + self._ttl, expires_at)
        return subject

    async def _access_token(self, token_digest: str) -> tuple[AuthSubject, datetime | None] | None:
        async with self.db.read() as conn:
            row = await repository.access_token_by_digest(conn, token_digest)
        if (
            row is None
            or row["revoked_at"] is not None
            or row["key_revoked_at"] is not None
            or row["disabled_at"] is not None
            or row["expires_at"] <= self.clock()
        ):
            return None
        subject = AuthSubject(
            kind=CredentialKind.ACCESS_TOKEN,
            credential_id=row["id"],
            tenant=Tenant(row["account_id"], row["environment"]),
            scopes=frozenset(row["scope"].split()),
            application_id=None,
            rate_key=f"key:{row['api_key_id']}",
            rate_limit=row["rate_limit"],
            api_key_id=row["api_key_id"],
            label=row["api_key_client_id"],
            account_rate_limit=row["account_rate_limit"],
        )
        return subject, row["expires_at"]

    async def _client_token(self, token_digest: str) -> tuple[AuthSubject, datetime | None] | None:
        async with self.db.read() as conn:
            row = await repository.client_token_by_digest(conn, token_digest)
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
        subject = AuthSubject(
            kind=CredentialKind.CLIENT_TOKEN,
            credential_id=row["id"],
            tenant=Tenant(row["account_id"], row["environment"], row["application_id"]),
            scopes=frozenset(row["scopes"].split()),
            application_id=row["application_id"],
            rate_key=f"ct:{row['id']}",
            rate_limit=row["rate_limit"],
            label=row["label"],
            account_rate_limit=row["account_rate_limit"],
        )
        return subject, row["expires_at"]

    async def _record_use(self, token_id: UUID, now: datetime) -> None:
        """Bookkeeping only: a busy database skips it rather than fail the request."""
        try:
            async with self.db.transaction() as conn:
                await repository.touch_client_token(
                    conn, token_id, at=now, unless_since=now - LAST_USED_RESOLUTION
                )
        except DatabaseUnavailable:
            return
