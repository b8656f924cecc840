"""API keys as the dashboard manages them (the seeds' "Partner Dashboard under API
Keys"): create (the secret shown once), list, revoke, and roll.

A roll issues a new secret at once; the old one keeps working for the overlap the
merchant chose (none, 1 hour, 24 hours or 7 days) so that servers can be updated one
by one. With no overlap the old secret stops now and the key's outstanding access
tokens are revoked too (a leaked secret's tokens die with it). With an overlap, access
tokens already issued run to their own expiry (at most an hour).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from payreq.account import repository
from payreq.account.service import refuse_past_api_key_cap
from payreq.application.service import tenant_of
from payreq.audit.service import AuditService
from payreq.auth.subject import AuthSubject
from payreq.db import Connection, Row
from payreq.errors import NotFound, ValidationFailed
from payreq.kit.clock import Clock, utc_now
from payreq.kit.crypto import SecretKind, digest, new_client_id, new_secret
from payreq.kit.jsonbody import check_display_text

log = structlog.get_logger("payreq.account")

OVERLAPS: dict[str, timedelta | None] = {
    "none": None,
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
OVERLAP_LABELS = {
    "none": "No overlap: the old secret stops now",
    "1h": "1 hour",
    "24h": "24 hours",
    "7d": "7 days",
}


class ApiKeyNotFound(NotFound):
    default_message = "No such API key."


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    label: str
    client_id: str
    environment: str
    rate_limit: int | None
    created_at: datetime
    last_used_at: datetime | None
    previous_expires_at: datetime | None
    """While a roll's overlap runs: when the old secret stops working."""

    @classmethod
    def of(cls, row: Row, now: datetime) -> ApiKey:
        previous = row["previous_secret_expires_at"]
        return cls(
            id=row["id"],
            label=row["label"],
            client_id=row["client_id"],
            environment=row["environment"],
            rate_limit=row["rate_limit"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            previous_expires_at=previous if previous is not None and previous > now else None,
        )


def _label(value: str) -> str:
    label = value.strip()
    check_display_text(label, "label")  # shown on the dashboard's pages
    if not 1 <= len(label) <= 200:
        raise ValidationFailed(
            "Give the key a label (1 to 200 characters), such as its server's name.", param="label"
        )
    return label


def _key_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiKeyNotFound() from None


class ApiKeyService:
    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        credentials_changed: Callable[[], None] = lambda: None,
        audit: AuditService | None = None,
        max_api_keys: int = 100,
    ) -> None:
        self.clock = clock
        self.credentials_changed = credentials_changed
        self.max_api_keys = max_api_keys
        self.audit = audit or AuditService(clock=clock)

    async def list(self, conn: Connection, subject: AuthSubject) -> list[ApiKey]:
        tenant = tenant_of(subject)
        now = self.clock()
        return [
            ApiKey.of(r, now) for r in await repository.api_keys(conn, tenant.account_id, tenant.environment)
        ]

    async def get(self, conn: Connection, subject: AuthSubject, key_id: str) -> ApiKey:
        tenant = tenant_of(subject)
        row = await repository.api_key(conn, tenant.account_id, tenant.environment, _key_id(key_id))
        if row is None:
            raise ApiKeyNotFound()
        return ApiKey.of(row, self.clock())

    async def create(self, conn: Connection, subject: AuthSubject, *, label: str) -> tuple[ApiKey, str]:
        """A new key of the subject's environment and its secret, which nothing shows again."""
        tenant = tenant_of(subject)
        clean = _label(label)
        await refuse_past_api_key_cap(conn, tenant, self.max_api_keys)
        key_id, now = uuid.uuid4(), self.clock()
        secret = new_secret(SecretKind.CLIENT_SECRET, tenant.environment)
        await repository.insert_api_key(
            conn,
            id=key_id,
            account_id=tenant.account_id,
            environment=tenant.environment,
            label=clean,
            client_id=new_client_id(tenant.environment),
            secret_digest=digest(secret),
            created_at=now,
        )
        log.info("api_key_created", key_id=str(key_id), environment=tenant.environment)
        created = await self.get(conn, subject, str(key_id))
        await self.audit.record_by(
            conn,
            subject,
            action="api_key.created",
            target_type="api_key",
            target_id=created.client_id,
            changes={"label": clean},
        )
        return created, secret

    async def roll(
        self, conn: Connection, subject: AuthSubject, key_id: str, *, overlap: str
    ) -> tuple[ApiKey, str]:
        """A new secret for the key; the old one works for ``overlap`` more."""
        if overlap not in OVERLAPS:
            raise ValidationFailed("Choose an overlap: none, 1h, 24h or 7d.", param="overlap")
        key = await self.get(conn, subject, key_id)
        now, span = self.clock(), OVERLAPS[overlap]
        secret = new_secret(SecretKind.CLIENT_SECRET, key.environment)
        if not await repository.roll_api_key(
            conn, key.id, secret_digest=digest(secret), previous_expires_at=now + span if span else None
        ):
            raise ApiKeyNotFound()
        if span is None:
            await repository.revoke_access_tokens_of_key(conn, key.id, at=now)
            conn.after_commit(self.credentials_changed)
        await self.audit.record_by(
            conn,
            subject,
            action="api_key.rolled",
            target_type="api_key",
            target_id=key.client_id,
            changes={"overlap": overlap},
        )
        log.info("api_key_rolled", key_id=str(key.id), overlap=overlap)
        return await self.get(conn, subject, key_id), secret

    async def revoke(self, conn: Connection, subject: AuthSubject, key_id: str) -> None:
        """The key and every access token it issued stop working at once."""
        key = await self.get(conn, subject, key_id)
        tenant = tenant_of(subject)
        if not await repository.revoke_api_key_in(
            conn, tenant.account_id, tenant.environment, key.id, self.clock()
        ):
            raise ApiKeyNotFound()
        await self.audit.record_by(
            conn, subject, action="api_key.revoked", target_type="api_key", target_id=key.client_id
        )
        conn.after_commit(self.credentials_changed)
        log.info("api_key_revoked", key_id=key_id)
