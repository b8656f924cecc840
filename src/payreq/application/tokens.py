"""Client tokens: an application's long-lived bearer tokens for server-to-server calls.

The secret (``prq_ct_<env>_...``) is shown once, in the answer that creates it, and
stored only as its SHA-256 digest. Revocation and expiry take effect on the very next
request on every server process: the authenticator reads the token's row on each
request (no cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog

from payreq.application import repository
from payreq.application.models import ClientToken
from payreq.application.schemas import TokenCreate
from payreq.application.service import find, tenant_of
from payreq.audit.service import AuditService
from payreq.auth.roles import Permission
from payreq.auth.subject import KNOWN_SCOPES, AuthSubject, Scope
from payreq.db import Connection
from payreq.errors import NotFound, ValidationFailed
from payreq.kit.clock import Clock, bounded_instant, utc_now
from payreq.kit.crypto import SecretKind, digest, new_secret
from payreq.kit.jsonbody import check_display_text

log = structlog.get_logger("payreq.application")


class TokenNotFound(NotFound):
    default_message = "No such client token."


class ClientTokenService:
    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        credentials_changed: Callable[[], None] = lambda: None,
        audit: AuditService | None = None,
        max_per_application: int = 100,
    ) -> None:
        self.clock = clock
        self.credentials_changed = credentials_changed
        self.audit = audit or AuditService(clock=clock)
        self.max_per_application = max_per_application

    async def create(
        self, conn: Connection, subject: AuthSubject, client_id: str, data: TokenCreate
    ) -> tuple[ClientToken, str]:
        """A new token and its secret, which nothing will show again. An application has
        at most ``max_per_application`` live tokens (each has its own budget; the
        account's budget bounds them all, the cap bounds the rows)."""
        tenant = tenant_of(subject)
        app = await find(conn, tenant, client_id)
        if (
            await repository.count_live_client_tokens(conn, app.id, now=self.clock())
            >= self.max_per_application
        ):
            raise ValidationFailed(
                f"This application already has {self.max_per_application} live client tokens, the most "
                "allowed; revoke one first.",
                code="too_many_client_tokens",
            )
        label = data.label.strip()
        check_display_text(label, "label")  # shown on the dashboard's pages
        if not label:
            raise ValidationFailed("label must not be blank.", param="label")
        if len(label) > 200:
            raise ValidationFailed("label must be at most 200 characters.", param="label")
        scopes = _scopes(data.scopes)
        now = self.clock()
        expires_at = data.expires_at
        if expires_at is not None:
            bounded = bounded_instant(expires_at)
            if bounded is None:
                raise ValidationFailed(
                    "expiresAt must carry a UTC offset, as in 2030-01-31T12:00:00Z, and lie before 9999.",
                    param="expiresAt",
                )
            expires_at = bounded
            if expires_at <= now:
                raise ValidationFailed("expiresAt must be in the future.", param="expiresAt")
        secret = new_secret(SecretKind.CLIENT_TOKEN, tenant.environment)
        token = ClientToken(
            id=uuid.uuid4(),
            application_id=app.id,
            label=label,
            scopes=scopes,
            created_at=now,
            expires_at=expires_at,
            last_used_at=None,
        )
        await repository.insert_client_token(
            conn,
            id=token.id,
            application_id=app.id,
            label=label,
            token_digest=digest(secret),
            scopes=" ".join(scopes),
            created_at=now,
            expires_at=expires_at,
        )
        await self.audit.record_by(
            conn,
            subject,
            action="client_token.created",
            target_type="client_token",
            target_id=token.id,
            changes={
                "application": client_id,
                "label": label,
                "scopes": scopes,
                "expiresAt": None if expires_at is None else expires_at.isoformat(),
            },
        )
        log.info("client_token_created", client_id=client_id, token_id=str(token.id), scopes=scopes)
        return token, secret

    async def list(self, conn: Connection, subject: AuthSubject, client_id: str) -> list[ClientToken]:
        tenant = tenant_of(subject, Permission.READ)
        app = await find(conn, tenant, client_id)
        return [ClientToken.of(row) for row in await repository.client_tokens(conn, tenant, app.id)]

    async def revoke(self, conn: Connection, subject: AuthSubject, client_id: str, token_id: str) -> None:
        """Revoked at once; an unknown, malformed or already revoked id is 404."""
        tenant = tenant_of(subject)
        app = await find(conn, tenant, client_id)
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise TokenNotFound() from None
        if not await repository.revoke_client_token(conn, tenant, app.id, parsed, at=self.clock()):
            raise TokenNotFound()
        conn.after_commit(self.credentials_changed)
        await self.audit.record_by(
            conn,
            subject,
            action="client_token.revoked",
            target_type="client_token",
            target_id=parsed,
            changes={"application": client_id},
        )
        log.info("client_token_revoked", client_id=client_id, token_id=str(parsed))


def _scopes(values: list[str]) -> list[str]:
    unknown = [value for value in values if value not in KNOWN_SCOPES]
    if unknown:
        allowed = ", ".join(s.value for s in Scope)
        raise ValidationFailed(
            f"Unknown scope {unknown[0]!r}; choose from {allowed}.", code="invalid_scope", param="scopes"
        )
    return list(dict.fromkeys(values))
